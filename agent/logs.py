"""The node's log lines: one naming scheme, the dataset as a field, and rate limiting.

Every logger is named ``officesync.<area>`` (``officesync.sync``, ``officesync.store``,
``officesync.http``, …). A line about one dataset carries it as a field, not in its text:
``log.info(..., extra={"dataset": ds})`` or a :func:`dataset_log` adapter; the
:class:`LineFormatter` shows it as ``officesync.sync [cty-abc]: …``.

Rate limiting: one line per kind of failure per interval.

A failure that repeats (a flood of connections, a full disk, a hub answering garbage) must not
fill the disk with the same traceback: :class:`RateLimitFilter` lets the first record of a kind
through, drops the same kind for ``interval_s`` seconds, and the next one that passes says how
many were dropped. A kind is the logger, the level, the message template (before its
arguments are filled in) and the exception's type. Records below ``min_level`` (INFO and DEBUG
by default) are never limited.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from httpkit.observe import JsonFormatter

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s%(dataset_tag)s: %(message)s"
INTERVAL_S = 10.0
MAX_KINDS = 1000  # kinds remembered at once; the oldest are forgotten beyond

Kind = tuple[str, int, str, str]


@dataclass
class _Seen:
    passed_at: float
    suppressed: int = 0


class LineFormatter(logging.Formatter):
    """:data:`LINE_FORMAT` (or ``fmt``): the record's ``dataset`` field, when it has one, in
    brackets after the logger's name."""

    def __init__(self, fmt: str = LINE_FORMAT) -> None:
        super().__init__(fmt)

    def format(self, record: logging.LogRecord) -> str:
        dataset = getattr(record, "dataset", None)
        record.dataset_tag = f" [{dataset}]" if dataset else ""
        return super().format(record)


def formatter(kind: str) -> logging.Formatter:
    """The formatter of ``[log] format``: ``"json"`` (:class:`JsonFormatter`: one JSON object
    per line, the dataset a field of its own) or ``"line"`` (:class:`LineFormatter`)."""
    return JsonFormatter() if kind == "json" else LineFormatter()


def dataset_log(logger: logging.Logger, dataset_id: str) -> logging.LoggerAdapter[logging.Logger]:
    """``logger`` with ``dataset_id`` as the ``dataset`` field of every line it writes."""
    return logging.LoggerAdapter(logger, {"dataset": dataset_id})


class RateLimitFilter(logging.Filter):
    """Attach to handlers (one instance may serve several: a record is judged once)."""

    def __init__(self, interval_s: float = INTERVAL_S, *, min_level: int = logging.WARNING,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.min_level = min_level
        self._clock = clock
        self._seen: dict[Kind, _Seen] = {}

    @staticmethod
    def kind(record: logging.LogRecord) -> Kind:
        exc = record.exc_info[1] if record.exc_info else None
        return (record.name, record.levelno, str(record.msg),
                type(exc).__name__ if exc is not None else "")

    def filter(self, record: logging.LogRecord) -> bool:
        verdict = getattr(record, "_rate_limit_verdict", None)
        if verdict is None:
            verdict = self._judge(record)
            record._rate_limit_verdict = verdict
        return bool(verdict)

    def _judge(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.min_level:
            return True
        key = self.kind(record)
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen.passed_at < self.interval_s:
            seen.suppressed += 1
            return False
        if seen is not None and seen.suppressed:
            record.msg = (f"{record.getMessage()} [{seen.suppressed} more like this in the "
                          f"last {now - seen.passed_at:.0f} s were not logged]")
            record.args = None
        self._seen.pop(key, None)
        self._seen[key] = _Seen(now)
        if len(self._seen) > MAX_KINDS:
            del self._seen[next(iter(self._seen))]
        return True


def rate_limit(handler: logging.Handler, interval_s: float = INTERVAL_S) -> logging.Handler:
    """``handler`` with a :class:`RateLimitFilter` (returned for chaining)."""
    handler.addFilter(RateLimitFilter(interval_s))
    return handler
