"""The filters of a record listing, one shape for every side that lists records: the node's
store (``DatasetStore.query``), the LAN API (``GET …/records/{collection}``), the workstation
client (``WorkstationClient.list_records``, ``officesync ws list``) and the hub's listing.

On the wire each filter is a query-string parameter of the same name;
:meth:`RecordQuery.from_params` reads them (refusing a bad value with ``VALIDATION_FAILED``
in words, the parameter named) and :meth:`RecordQuery.params` writes them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from pydantic_core import PydanticCustomError

from protocol.errors import ProtocolError
from protocol.models import SyncState
from protocol.text import date_value
from protocol.wording import DATE_EXAMPLE, invalid, wire_labeller

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_DIGITS = re.compile(r"[0-9]{1,6}")


@dataclass(frozen=True)
class RecordQuery:
    """Which records of a collection, in ``(key, id)`` order, one page at a time.

    ``key`` is an exact key (compared in its normal form, ``kh001`` finds ``KH001``); ``q``
    a text searched in the key and the data; ``date_from``/``date_to`` bound the record's
    date (``YYYY-MM-DD``, both included); ``sync_state`` one :class:`SyncState`; ``limit``
    the page size (``None``: the server's default, 100 on a node, 500 on the hub); ``after``
    the previous page's ``next`` cursor. ``None`` means no filter.
    The hub filters on ``key``, the dates, ``limit`` and ``after`` (its cursor is a record
    id) and knows no ``q`` or ``sync_state``.
    """

    key: str | None = None
    q: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    sync_state: SyncState | None = None
    limit: int | None = None  # None: the server's default page size
    after: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str], default_limit: int = DEFAULT_LIMIT,
                    max_limit: int = MAX_LIMIT) -> RecordQuery:
        """The query of a request's query string; ``VALIDATION_FAILED`` names a bad value."""
        date_from = parse_date("date_from", params.get("date_from"))
        date_to = parse_date("date_to", params.get("date_to"))
        sync_state = parse_sync_state(params.get("sync_state"))
        return cls(
            key=params.get("key"), q=params.get("q"), date_from=date_from, date_to=date_to,
            sync_state=sync_state,
            limit=parse_limit(params.get("limit"), default_limit, max_limit),
            after=params.get("after"),
        )

    def checked(self) -> RecordQuery:
        """This query with its dates and sync state checked (``VALIDATION_FAILED`` if not
        valid), for callers that built it from loose values; the limit is clamped to
        ``1…MAX_LIMIT`` (``DEFAULT_LIMIT`` when not given)."""
        return replace(
            self,
            date_from=parse_date("date_from", self.date_from),
            date_to=parse_date("date_to", self.date_to),
            sync_state=parse_sync_state(self.sync_state),
            limit=DEFAULT_LIMIT if self.limit is None else max(1, min(self.limit, MAX_LIMIT)),
        )

    def params(self) -> dict[str, str]:
        """The query-string parameters of this query (filters left out when ``None``)."""
        values = {
            "key": self.key, "q": self.q, "date_from": self.date_from, "date_to": self.date_to,
            "sync_state": None if self.sync_state is None else SyncState(self.sync_state).value,
            "limit": None if self.limit is None else str(self.limit), "after": self.after,
        }
        return {name: value for name, value in values.items() if value is not None}


def _invalid(param: str, vi: str, en: str) -> ProtocolError:
    label = wire_labeller((param,))
    return invalid(param, f"{label.vi} {vi}", f"{label.en} {en}", "query")


def parse_limit(raw: str | None, default: int = DEFAULT_LIMIT, most: int = MAX_LIMIT) -> int:
    """A page size from the query string: a whole number from 1 to ``most``."""
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= most:
        raise _invalid("limit", f"phải là số nguyên từ 1 đến {most}",
                       f"must be a whole number from 1 to {most}")
    return int(raw)


def parse_date(name: str, raw: str | None) -> str | None:
    """A date filter: ``YYYY-MM-DD``, a real calendar day."""
    if raw is None:
        return None
    try:
        return date_value(raw)
    except PydanticCustomError:
        raise _invalid(name, f"phải có dạng YYYY-MM-DD, ví dụ {DATE_EXAMPLE}",
                       f"must be a date YYYY-MM-DD, e.g. {DATE_EXAMPLE}") from None


def parse_sync_state(raw: str | None) -> SyncState | None:
    """A sync-state filter: one of the :class:`SyncState` values."""
    if raw is None:
        return None
    try:
        return SyncState(raw)
    except ValueError:
        states = ", ".join(s.value for s in SyncState)
        raise _invalid("sync_state", f"phải là một trong: {states}",
                       f"must be one of: {states}") from None
