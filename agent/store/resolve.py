"""Settling a record the hub refused, run by the single writer (S6, S9).

The cloud's current version of a record in ``conflict`` came with the refusal
(``sync_details.current``), so a resolution needs no hub call and works offline too.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.store import rows
from agent.store.states import RESOLVABLE, OutboxState
from agent.store.writes import WriteContext
from protocol.errors import ErrorCode, ProtocolError
from protocol.i18n import Text
from protocol.models import ResolveRequest, SyncState
from protocol.schema import CollectionSchema, SchemaRegistry

REASONS = {
    "nothing": Text("bản ghi không có gì cần xử lý", "the record has nothing to resolve"),
    "no_cloud": Text("không có phiên bản trên Cloud để đối chiếu: hãy đồng bộ lại",
                     "no cloud version to compare with: sync again first"),
    "synced_before": Text("bản ghi đã có trên Cloud: hãy chọn lấy bản trên Cloud",
                          "the record is on the cloud already: take the cloud's version instead"),
    "cloud_deleted": Text("bản ghi đã bị xóa trên Cloud: chưa hỗ trợ khôi phục, hãy lấy bản "
                          "trên Cloud", "the record was deleted on the cloud: restoring it is "
                          "not supported yet, take the cloud's version"),
    "not_offered": Text("cách xử lý này chưa có", "this resolution is not offered yet"),
}


def _refuse(schema: CollectionSchema, reason: str) -> ProtocolError:
    return ProtocolError(ErrorCode.VALIDATION_FAILED, {"reason": REASONS[reason]},
                         {"collection": schema.name, "reason": reason})


@dataclass(frozen=True)
class Resolution:
    """One settling asked by a workstation, as every action's handler receives it."""

    conn: sqlite3.Connection
    registry: SchemaRegistry
    schema: CollectionSchema
    record_id: str
    request: ResolveRequest
    ctx: WriteContext

    @property
    def now(self) -> str:
        return self.ctx.now


# An action's handler settles the record (in the writer's transaction) and returns the ids of
# every other record it changed (repointed, discarded, unblocked), for the events.
Handler = Callable[[Resolution], list[str]]


def resolve(res: Resolution) -> list[str]:
    """Settle ``res.record_id`` by ``res.request.action``; the ids of other records changed."""
    return HANDLERS[res.request.action](res)


def _row_and_current(res: Resolution) -> tuple[sqlite3.Row, dict[str, Any] | None]:
    row = rows.fetch_in(res.conn, res.schema.name, res.record_id)
    if row["sync_state"] not in RESOLVABLE:
        raise _refuse(res.schema, "nothing")
    current: dict[str, Any] | None = (rows.loads(row["sync_details"]) or {}).get("current")
    return row, current


def _discard(res: Resolution) -> list[str]:
    conn, schema, record_id, now = res.conn, res.schema, res.record_id, res.now
    row, _ = _row_and_current(res)
    if row["version"] is not None:
        raise _refuse(schema, "synced_before")
    conn.execute("DELETE FROM outbox WHERE record_id = ?", (record_id,))
    _set(conn, record_id, data=rows.loads(row["data"]), key=row["key"], deleted=True,
         version=None, schema=schema, now=now, rev=row["local_rev"] + 1)
    return []


def _cloud_of(res: Resolution) -> tuple[sqlite3.Row, dict[str, Any]]:
    row, current = _row_and_current(res)
    if current is None or current.get("version") is None:
        raise _refuse(res.schema, "no_cloud")
    return row, current


def _take_cloud(res: Resolution) -> list[str]:
    conn, schema, record_id, now = res.conn, res.schema, res.record_id, res.now
    row, current = _cloud_of(res)
    conn.execute("DELETE FROM outbox WHERE record_id = ?", (record_id,))
    data = current.get("data") or rows.loads(row["data"])
    _set(conn, record_id, data=data, key=schema.key_of(data) if current.get("data") else
         row["key"], deleted=bool(current.get("deleted")), version=int(current["version"]),
         schema=schema, now=now, rev=row["local_rev"] + 1)
    return []


def _keep_local(res: Resolution) -> list[str]:
    conn, record_id, now = res.conn, res.record_id, res.now
    _, current = _cloud_of(res)
    if current.get("deleted"):
        raise _refuse(res.schema, "cloud_deleted")
    # The refused op goes again, based on the cloud's current version, under a fresh op id
    # (the hub would replay its refusal of the old one).
    conn.execute(
        "UPDATE outbox SET state = ?, op_id = ? WHERE seq = (SELECT min(seq) FROM "
        "outbox WHERE record_id = ?)", (OutboxState.PENDING, str(uuid.uuid4()), record_id))
    conn.execute(
        "UPDATE records SET version = ?, sync_state = ?, sync_code = NULL, "
        "sync_params = NULL, blocked_by = NULL, sync_details = NULL, updated_at = ? "
        "WHERE id = ?", (int(current["version"]), SyncState.PENDING, now, record_id))
    return []


def _not_yet(res: Resolution) -> list[str]:
    raise _refuse(res.schema, "not_offered")


HANDLERS: dict[str, Handler] = {
    "take_cloud": _take_cloud,
    "keep_local": _keep_local,
    "discard": _discard,
    "merge": _not_yet,
    "restore": _not_yet,
    "link_existing": _not_yet,
    "rename": _not_yet,
}


def _set(conn: sqlite3.Connection, record_id: str, *, data: dict[str, Any], key: str,
         deleted: bool, version: int | None, schema: CollectionSchema, now: str,
         rev: int) -> None:
    text = rows.dumps(data)
    conn.execute(
        "UPDATE records SET data = ?, key = ?, deleted = ?, version = ?, local_rev = ?, "
        "sync_state = ?, sync_code = NULL, sync_params = NULL, blocked_by = NULL, "
        "sync_details = NULL, date = ?, updated_at = ?, base_data = ? WHERE id = ?",
        (text, key, int(deleted), version, rev, SyncState.SYNCED, schema.date_of(data), now,
         text, record_id))
