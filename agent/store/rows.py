"""SQL and row conversions shared by the workstation write path and the sync path.

Functions here take the writer's (or a reader's) DB-API connection; they never touch the event
loop. Time comes in as an ISO string so callers control it.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from contextvars import ContextVar
from typing import Any

import orjson

from agent.store.models import RECORDS
from agent.store.states import OutboxState
from protocol.errors import ErrorCode, ProtocolError, render
from protocol.i18n import Lang, Text
from protocol.ids import new_id
from protocol.models import Action, BlockedBy, Record, SyncState, SyncStatus

# The columns of ``records`` in table order (declared once, by agent/store/models.py).
RECORD_FIELDS: tuple[str, ...] = tuple(RECORDS.columns.keys())
RECORD_COLUMNS = ", ".join(RECORD_FIELDS)

# The name of the workstation whose LAN request is being served (set by the LAN API, seen by
# the writer through its context): each op it queues carries it to the hub's history.
AUTHOR: ContextVar[str | None] = ContextVar("officesync_author", default=None)


def utc_now() -> str:
    """Now, as the store and the sync loops write times: ISO 8601 UTC to the millisecond."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def parse_time(iso: str | None) -> dt.datetime | None:
    """A time the store (or the hub) wrote, aware (UTC when it names no zone); None when
    absent or unreadable — a diagnostic or a metric reads it, never fails on it."""
    if not iso:
        return None
    try:
        at = dt.datetime.fromisoformat(iso)
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(text: str | bytes | None) -> Any:
    return None if text is None else orjson.loads(text)


def to_record(row: sqlite3.Row, lang: Lang) -> Record:
    code = ErrorCode(row["sync_code"]) if row["sync_code"] else None
    message = None
    params: dict[str, Any] = {}
    if code is not None:
        params = loads(row["sync_params"]) or {}
        message = render(code, lang, params)
    return Record(
        id=row["id"],
        collection=row["collection"],
        key=row["key"],
        data=loads(row["data"]),
        deleted=bool(row["deleted"]),
        version=row["version"],
        local_rev=row["local_rev"],
        sync=SyncStatus(
            state=SyncState(row["sync_state"]),
            code=code,
            message=message,
            blocked_by=_blocked_by(row["blocked_by"], params, lang),
            details=loads(row["sync_details"]),
        ),
        updated_at=row["updated_at"],
    )


def _blocked_by(record_id: str | None, params: dict[str, Any], lang: Lang) -> BlockedBy | None:
    """The blocker as stored when the record was blocked (agent/store/syncing.blocker_of)."""
    if record_id is None:
        return None
    stored = params.get("blocker")
    if not isinstance(stored, dict) or stored.get("id") != record_id:
        return BlockedBy(id=record_id)
    label, name = stored.get("label"), stored.get("name")
    return BlockedBy(
        id=record_id, collection=stored.get("collection"), key=stored.get("key"),
        label=Text.of(label).get(lang) if label else None,
        name=Text.of(name).get(lang) if name else None,
    )


def fetch(conn: sqlite3.Connection, record_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        f"SELECT {RECORD_COLUMNS} FROM records WHERE id = ?", (record_id,)
    ).fetchone()
    return row


def fetch_in(conn: sqlite3.Connection, collection: str, record_id: str) -> sqlite3.Row:
    row = fetch(conn, record_id)
    if row is None or row["collection"] != collection:
        raise ProtocolError(
            ErrorCode.NOT_FOUND,
            {"what": Text(f"bản ghi {collection}/{record_id}", f"Record {collection}/{record_id}")},
            {"collection": collection, "id": record_id},
        )
    return row


def find_by_key(
    conn: sqlite3.Connection, collection: str, key: str, exclude_id: str | None = None
) -> sqlite3.Row | None:
    for row in conn.execute(
        f"SELECT {RECORD_COLUMNS} FROM records WHERE collection = ? AND key = ? AND deleted = 0",
        (collection, key),
    ):
        if row["id"] != exclude_id:
            found: sqlite3.Row = row
            return found
    return None


def append_op(
    conn: sqlite3.Connection,
    *,
    record_id: str,
    collection: str,
    action: Action,
    base_version: int | None,
    data: dict[str, Any] | None,
    now: str,
) -> str:
    """Queue one op; it names the workstation whose request made it (:data:`AUTHOR`)."""
    op_id = new_id()  # time-ordered: the outbox's op_id index grows at its right edge
    conn.execute(
        "INSERT INTO outbox (op_id, record_id, collection, action, base_version, data, "
        "created_at, state, workstation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (op_id, record_id, collection, action, base_version,
         None if data is None else dumps(data), now, OutboxState.PENDING, AUTHOR.get()),
    )
    return op_id


def get_meta(conn: sqlite3.Connection, key: str, default: Any = None) -> Any:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return default if row is None else loads(row[0])


def set_meta(conn: sqlite3.Connection, key: str, value: Any) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, dumps(value)),
    )
