"""What the node and the hub share to be watched in production: Prometheus request latency by
route template, the ``/metrics`` answer, and JSON log lines.

- :func:`latency_middleware` observes each request in a histogram labelled by the *route
  template* (``/v1/datasets/{ds}/push``), the method and the status class, never by the raw
  path: a scan of a thousand different paths adds one series (``route="unmatched"``), not a
  thousand. WebSocket upgrades and long-polls (``?wait=`` > 0) are left out (their time is the
  client's wait, not the server's work).
- :func:`metrics_response` writes a registry in the format the scraper asked for
  (Prometheus text, or OpenMetrics by ``Accept``).
- :class:`JsonFormatter`: one JSON object per line (``time``, ``level``, ``logger``,
  ``message``, ``dataset`` when the log call has one, ``exception`` with its traceback).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import choose_encoder

UNMATCHED = "unmatched"  # a path no route serves (404, 405): one series for all of them
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds; LAN reads answer in a few ms, a hub push of 1000 ops in a few hundred.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)
LATENCY_LABELS = ("route", "method", "status")


def latency_histogram(name: str, doc: str, registry: CollectorRegistry) -> Histogram:
    return Histogram(name, doc, LATENCY_LABELS, buckets=LATENCY_BUCKETS, registry=registry)


def route_label(request: web.Request) -> str:
    """The template of the route that served ``request`` (bounded by the app's routes)."""
    match = request.match_info
    if match.http_exception is not None:
        return UNMATCHED
    resource = match.route.resource
    return resource.canonical if resource is not None else UNMATCHED


def method_label(request: web.Request) -> str:
    return request.method if request.method in METHODS else "OTHER"


def status_label(status: int) -> str:
    return f"{status // 100}xx"


def long_polling(request: web.Request) -> bool:
    wait = request.query.get("wait", "")
    try:
        return float(wait) > 0
    except ValueError:
        return False


def latency_middleware(histogram: Histogram,
                       skip: Callable[[web.Request], bool] = long_polling) -> Middleware:
    """Install first (before the error middleware) so refusals are observed with their status;
    an exception that still gets here is observed as a 5xx and raised on."""

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket" or skip(request):
            return await handler(request)
        began = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            histogram.labels(route_label(request), method_label(request),
                             status_label(status)).observe(time.perf_counter() - began)

    return observe


def metrics_response(request: web.Request, registry: CollectorRegistry) -> web.Response:
    """``registry`` in the exposition format ``Accept`` asks for (Prometheus text by default)."""
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encoder(registry), headers={"Content-Type": content_type})


class JsonFormatter(logging.Formatter):
    """One JSON object per line; the record's ``dataset`` field (``extra={"dataset": ds}`` or
    a dataset adapter) is a field of its own, never in the message."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        dataset = getattr(record, "dataset", None)
        if dataset:
            line["dataset"] = str(dataset)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return orjson.dumps(line).decode()
