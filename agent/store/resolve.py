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

from agent.store import conflicts, duplicates, rows, writes
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
    row = rows.fetch_in(res.conn, res.schema.name, res.record_id)
    if row["version"] is None:
        # Never on the cloud (a duplicate, a refused create): dropped with what depends on it.
        return duplicates.discard(res)
    # On the cloud: dropping mine accepts the cloud's state (its deletion, for RECORD_DELETED).
    _, current = _row_and_current(res)
    if current is None or current.get("version") is None:
        raise _refuse(res.schema, "no_cloud")
    return _take_cloud(res)


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
    row, current = _cloud_of(res)
    if current.get("deleted"):
        raise conflicts.refuse(res.schema, row, "keep_local", "cloud_deleted")
    if row["sync_state"] == SyncState.CONFLICT:
        # Mine on every clashing field, the cloud's change on the others, pushed on top of the
        # cloud's version with it as the new base (a deletion of mine stays a deletion).
        conflicts.requeue(conn, res.schema, row, target=conflicts.keep_local_target(
            conn, res.schema, row, current), deleted=bool(row["deleted"]), current=current,
            now=now)
        return []
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


def _conflict_of(res: Resolution) -> tuple[sqlite3.Row, dict[str, Any]]:
    row, current = _cloud_of(res)
    if row["sync_state"] != SyncState.CONFLICT:
        raise conflicts.refuse(res.schema, row, res.request.action, "not_conflict")
    return row, current


def _checked(res: Resolution, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as a valid record of the collection, its key unique and its references
    present on this node (a refusal changes nothing)."""
    schema = res.schema
    clean = schema.validate(data)
    if schema.series is not None and not clean.get(schema.series.number_field):
        # a voucher keeps its number when the merged data leaves it out (as an edit does)
        local = rows.loads(rows.fetch_in(res.conn, schema.name, res.record_id)["data"]) or {}
        if local.get(schema.series.number_field):
            clean[schema.series.number_field] = local[schema.series.number_field]
    writes.check_unique(res.conn, schema, schema.key_of(clean), res.record_id)
    writes.check_references(res.conn, schema, clean,
                            lambda target: writes.label(res.registry.get(target)))
    return clean


def _merge(res: Resolution) -> list[str]:
    row, current = _conflict_of(res)
    schema, request = res.schema, res.request
    if current.get("deleted"):
        raise conflicts.refuse(schema, row, "merge", "cloud_deleted")
    if row["deleted"]:
        raise conflicts.refuse(schema, row, "merge", "local_deleted")
    if (request.data is None) == (request.choices is None):
        raise conflicts.refuse(schema, row, "merge", "merge_input")
    if request.data is not None:
        target = request.data
    else:
        assert request.choices is not None
        target = conflicts.chosen(res.conn, schema, row, current, request.choices)
    conflicts.requeue(res.conn, schema, row, target=_checked(res, target), deleted=False,
                      current=current, now=res.now)
    return []


def _restore(res: Resolution) -> list[str]:
    row, current = _conflict_of(res)
    if not current.get("deleted"):
        raise conflicts.refuse(res.schema, row, "restore", "not_deleted")
    data = _checked(res, rows.loads(row["data"]) or {})
    conflicts.requeue(res.conn, res.schema, row, target=data, deleted=False, current=current,
                      now=res.now)
    return []


def _not_yet(res: Resolution) -> list[str]:
    raise _refuse(res.schema, "not_offered")


HANDLERS: dict[str, Handler] = {
    "take_cloud": _take_cloud,
    "keep_local": _keep_local,
    "discard": _discard,
    "merge": _merge,
    "restore": _restore,
    # S6 duplicates (agent/store/duplicates.py); the other actions refuse a duplicate with
    # its three choices.
    "link_existing": duplicates.link_existing,
    "rename": duplicates.rename,
}
for _action in ("take_cloud", "keep_local", "merge", "restore"):
    HANDLERS[_action] = duplicates.guard(HANDLERS[_action])


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
