"""Workstation writes, as functions run by the single writer inside one transaction.

Each builds on :mod:`agent.store.rows`: check (keys, references, ETag), change the record, and
append the op to the outbox in the same transaction — the outbox is what sync drains.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any

from agent.store import rows
from agent.store.states import OutboxState
from agent.store.syncing import KEEP_CLOUD_COPY
from protocol.errors import ErrorCode, ProtocolError
from protocol.i18n import Text
from protocol.models import UUID_PATTERN, Action, Record, SyncState
from protocol.schema import CollectionSchema, Reference
from protocol.text import fold_code
from protocol.wording import invalid


@dataclass(frozen=True)
class WriteContext:
    now: str
    local_numbering: bool


def label(schema: CollectionSchema) -> dict[str, str]:
    return schema.label.as_dict()


def check_unique(
    conn: sqlite3.Connection, schema: CollectionSchema, key: str, exclude_id: str | None
) -> None:
    existing = rows.find_by_key(conn, schema.name, key, exclude_id)
    if existing is not None:
        named, shown = schema.naming(key)
        raise ProtocolError(
            ErrorCode.DUPLICATE_KEY,
            {"label": named, "key": shown},
            {
                "collection": schema.name,
                "key": key,
                "existing": {
                    "id": existing["id"],
                    "version": existing["version"],
                    "data": rows.loads(existing["data"]),
                },
            },
        )


def is_id(value: str) -> bool:
    """Whether a reference holds an id (a UUID), not a code to resolve."""
    return _ID.fullmatch(value) is not None


_ID = re.compile(UUID_PATTERN)


def missing_reference(schema: CollectionSchema, ref: Reference, value: str,
                      registry_label: Any, **more: Any) -> ProtocolError:
    """``MISSING_REFERENCE`` naming the target as an accountant knows it: its collection's
    label and the code (or id) the record holds, and the field by its label."""
    field_label = schema.fields.get(ref.path, Text(ref.path, ref.path))
    return ProtocolError(
        ErrorCode.MISSING_REFERENCE,
        {"label": registry_label(ref.target), "field": field_label, "ref": value},
        {"collection": schema.name, "field": ref.path, "ref": value, "target": ref.target,
         **more},
    )


def check_references(
    conn: sqlite3.Connection, schema: CollectionSchema, data: dict[str, Any], registry_label: Any
) -> None:
    """Every reference of ``data`` names a live record of its target collection. A reference
    holding the target's code (``"customer": "KH001"``, a line's ``"debit": "131"``) is first
    replaced, in place, by the id of the record with that key (not deleted):
    ``MISSING_REFERENCE`` naming the code when none has it. Then each id held must be a record
    of the target that is not deleted (``MISSING_REFERENCE`` otherwise). One pass over the
    references, one query for all the ids."""
    held: list[tuple[Reference, str]] = []
    for ref in schema.references:
        def to_id(value: str, ref: Reference = ref) -> str:
            found = _to_id(conn, schema, ref, value, registry_label)
            held.append((ref, found))
            return found

        ref.map(data, to_id)
    if not held:
        return
    wanted = sorted({value for _, value in held})
    found = {
        row[0]: (row[1], row[2])
        for row in conn.execute(
            f"SELECT id, collection, deleted FROM records WHERE id IN "
            f"({','.join('?' * len(wanted))})",
            wanted,
        )
    }
    for ref, value in held:
        row = found.get(value)
        if row is None or row[0] != ref.target or row[1]:
            raise missing_reference(schema, ref, value, registry_label)


def _to_id(conn: sqlite3.Connection, schema: CollectionSchema, ref: Reference, value: str,
           registry_label: Any) -> str:
    """``value`` when it is an id, else the id of the live record of ``ref.target`` whose key
    is that code."""
    if is_id(value):
        return value
    row = rows.find_by_key(conn, ref.target, fold_code(value))
    if row is None:
        raise missing_reference(schema, ref, value, registry_label, key=value,
                                reason="unknown_code")
    found: str = row["id"]
    return found


def _key_taken(conn: sqlite3.Connection, collection: str, key: str) -> bool:
    """Whether a live record of ``collection`` has ``key``."""
    return conn.execute(
        "SELECT 1 FROM records WHERE collection = ? AND key = ? AND deleted = 0 LIMIT 1",
        (collection, key),
    ).fetchone() is not None


def assign_number(
    conn: sqlite3.Connection, schema: CollectionSchema, data: dict[str, Any], ctx: WriteContext
) -> bool:
    """Give a voucher without a number the next one of its series (S6): from the
    block leased from the hub, or — on a node with no hub — from a local counter. Returns
    whether a number was assigned (the caller retries on a number typed earlier by hand)."""
    series = schema.series
    if series is None or data.get(series.number_field):
        return False
    prefix = series.name_for(data)
    if prefix is None:
        return False
    taken = conn.execute(
        "UPDATE series SET next = next + 1 WHERE rowid = (SELECT rowid FROM series "
        'WHERE name = ? AND next <= "end" ORDER BY start LIMIT 1) RETURNING next - 1',
        (prefix,),
    ).fetchone()
    if taken is not None:
        n = int(taken[0])
    elif ctx.local_numbering:
        n = int(conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key) DO UPDATE "
            "SET value = CAST(value AS INTEGER) + 1 RETURNING value",
            (f"series_local:{prefix}",),
        ).fetchone()[0])
    else:
        raise ProtocolError(
            ErrorCode.VALIDATION_FAILED,
            {
                "reason": Text(
                    f"chưa có dải số cho sổ {prefix}: hãy nhập số chứng từ, "
                    "hoặc kết nối Cloud một lần để nhận dải số",
                    f"no number block for series {prefix} yet: enter a number, "
                    "or connect to the cloud once to lease one",
                )
            },
            {"collection": schema.name, "series": prefix},
        )
    data[series.number_field] = series.format(prefix, n)
    return True


def _pending_record(
    record_id: str,
    schema: CollectionSchema,
    key: str,
    data: dict[str, Any],
    *,
    deleted: bool,
    version: int | None,
    local_rev: int,
    now: str,
) -> Record:
    # model_validate runs in pydantic-core: ~3x faster than model_construct here.
    return Record.model_validate({
        "id": record_id, "collection": schema.name, "key": key, "data": data,
        "deleted": deleted, "version": version, "local_rev": local_rev,
        "sync": _PENDING, "updated_at": now,
    })


_PENDING = {"state": SyncState.PENDING.value}


def create(
    conn: sqlite3.Connection,
    schema: CollectionSchema,
    record_id: str,
    data: dict[str, Any],
    ctx: WriteContext,
    registry_label: Any,
) -> Record:
    if schema.postable and data.get("posted"):
        raise _posting_error(schema, "create")
    check_references(conn, schema, data, registry_label)
    while True:
        numbered = assign_number(conn, schema, data, ctx)
        key = schema.key_of(data)
        if not numbered:
            check_unique(conn, schema, key, None)
            break
        if not _key_taken(conn, schema.name, key):
            break
        assert schema.series is not None  # a number was assigned: the schema has a series
        del data[schema.series.number_field]
        # that number was typed by hand earlier: take the next one
    try:
        conn.execute(
            "INSERT INTO records (id, collection, key, data, deleted, version, local_rev, "
            "sync_state, date, updated_at) VALUES (?, ?, ?, ?, 0, NULL, 1, ?, ?, ?)",
            (record_id, schema.name, key, rows.dumps(data), SyncState.PENDING,
             schema.date_of(data), ctx.now),
        )
    except sqlite3.IntegrityError:
        raise invalid(
            "id", f"Mã định danh (id) {record_id} đã được một bản ghi khác dùng; hãy bỏ trống "
            "id để máy chủ tự tạo", f"The id {record_id} is already used by another record; "
            "leave id out so the node makes one", "id_taken",
            collection=schema.name, id=record_id,
        ) from None
    rows.append_op(
        conn, record_id=record_id, collection=schema.name, action=Action.CREATE,
        base_version=None, data=data, now=ctx.now,
    )
    return _pending_record(
        record_id, schema, key, data, deleted=False, version=None, local_rev=1, now=ctx.now
    )


def _current_for_write(
    conn: sqlite3.Connection, schema: CollectionSchema, record_id: str, if_match: int, lang: Any
) -> sqlite3.Row:
    row = rows.fetch_in(conn, schema.name, record_id)
    if row["local_rev"] != if_match:
        raise ProtocolError(
            ErrorCode.STALE_LOCAL_COPY,
            {},
            {"current": rows.to_record(row, lang).model_dump(mode="json"),
             "etag": f'"{row["local_rev"]}"'},
        )
    if row["deleted"]:
        raise ProtocolError(
            ErrorCode.RECORD_DELETED,
            {},
            {"current": rows.to_record(row, lang).model_dump(mode="json")},
        )
    return row


def _posting_error(schema: CollectionSchema, what: str, key: str | None = None,
                   posted: bool = False) -> ProtocolError:
    # The voucher by its name ("Phiếu thu PT000123") when it has one.
    name = schema.record_label(key) if key else Text("chứng từ", "the voucher")
    state = Text("đã ghi sổ", "posted") if posted else Text("chưa ghi sổ", "unposted")
    reasons = {
        "create": Text("chứng từ mới phải ở trạng thái chưa ghi sổ; hãy dùng chức năng Ghi sổ",
                       "a new voucher starts unposted; use Post"),
        "posted": Text(f"{name.vi} đã ghi sổ: hãy Bỏ ghi trước khi sửa hoặc xóa",
                       f"{name.en} is posted: unpost it before editing or deleting"),
        "field": Text("không sửa trường posted trực tiếp; hãy dùng Ghi sổ / Bỏ ghi",
                      "posted cannot be edited directly; use post / unpost"),
        "not_postable": Text(f"{schema.label.vi} không có ghi sổ",
                             f"{schema.label.en} records cannot be posted"),
        "already": Text(f"{name.vi} {state.vi} rồi: không có gì để làm",
                        f"{name.en} is {state.en} already: nothing to do"),
    }
    return ProtocolError(
        ErrorCode.VALIDATION_FAILED, {"reason": reasons[what]},
        {"collection": schema.name, "reason": what},
    )


def update(
    conn: sqlite3.Connection,
    schema: CollectionSchema,
    record_id: str,
    data: dict[str, Any],
    if_match: int,
    ctx: WriteContext,
    registry_label: Any,
    lang: Any,
) -> Record:
    row = _current_for_write(conn, schema, record_id, if_match, lang)
    current = rows.loads(row["data"])
    if schema.postable:
        if current.get("posted"):
            raise _posting_error(schema, "posted", row["key"])
        if bool(data.get("posted", False)) != bool(current.get("posted", False)):
            raise _posting_error(schema, "field")
    if schema.series is not None and not data.get(schema.series.number_field):
        data[schema.series.number_field] = current.get(schema.series.number_field)
    key = schema.key_of(data)
    check_unique(conn, schema, key, record_id)
    check_references(conn, schema, data, registry_label)
    return _save(conn, schema, row, key, data, Action.UPDATE, ctx, deleted=False)


def delete(
    conn: sqlite3.Connection, schema: CollectionSchema, record_id: str, if_match: int,
    ctx: WriteContext, lang: Any,
) -> Record:
    row = _current_for_write(conn, schema, record_id, if_match, lang)
    current = rows.loads(row["data"])
    if schema.postable and current.get("posted"):
        raise _posting_error(schema, "posted", row["key"])
    return _save(conn, schema, row, row["key"], current, Action.DELETE, ctx, deleted=True)


def set_posted(
    conn: sqlite3.Connection, schema: CollectionSchema, record_id: str, if_match: int,
    posted: bool, ctx: WriteContext, lang: Any,
) -> Record:
    if not schema.postable:
        raise _posting_error(schema, "not_postable")
    row = _current_for_write(conn, schema, record_id, if_match, lang)
    current = rows.loads(row["data"])
    if bool(current.get("posted")) == posted:
        raise _posting_error(schema, "already", row["key"], posted)
    current["posted"] = posted
    action = Action.POST if posted else Action.UNPOST
    return _save(conn, schema, row, row["key"], current, action, ctx, deleted=False)


def _save(
    conn: sqlite3.Connection, schema: CollectionSchema, row: sqlite3.Row, key: str,
    data: dict[str, Any], action: Action, ctx: WriteContext, *, deleted: bool,
) -> Record:
    local_rev = row["local_rev"] + 1
    state = SyncState.PENDING
    fixed = _fix_failed_head(conn, row, data, action)
    if fixed is not None:
        state = fixed
    else:
        # A record in conflict (or still waiting on a failed op) stays so: the user resolves
        # it; otherwise it waits to sync again.
        if row["sync_state"] in (SyncState.CONFLICT, SyncState.BLOCKED, SyncState.ERROR):
            state = SyncState(row["sync_state"])
        op_data = None if action in (Action.DELETE, Action.POST, Action.UNPOST) else data
        rows.append_op(
            conn, record_id=row["id"], collection=schema.name, action=action,
            base_version=row["version"], data=op_data, now=ctx.now,
        )
    keep = state in (SyncState.CONFLICT, SyncState.BLOCKED, SyncState.ERROR)
    conn.execute(
        "UPDATE records SET key = ?, data = ?, deleted = ?, local_rev = ?, sync_state = ?, "
        "date = ?, updated_at = ?" + ("" if keep else ", sync_code = NULL, sync_params = NULL, "
                                      "blocked_by = NULL, sync_details = " + (
                                          KEEP_CLOUD_COPY if state is SyncState.PENDING
                                          else "NULL")) +
        " WHERE id = ?",
        (key, rows.dumps(data), int(deleted), local_rev, state.value, schema.date_of(data),
         ctx.now, row["id"]),
    )
    record = _pending_record(
        row["id"], schema, key, data, deleted=deleted, version=row["version"],
        local_rev=local_rev, now=ctx.now,
    )
    if state is not SyncState.PENDING:
        record.sync = rows.to_record(rows.fetch_in(conn, schema.name, row["id"]), "en").sync
    return record


def _fix_failed_head(
    conn: sqlite3.Connection, row: sqlite3.Row, data: dict[str, Any], action: Action
) -> SyncState | None:
    """An edit of a record whose queued change the hub refused (error) or that waits on a
    refused dependency (blocked) is the user's fix: the refused op is rewritten with the new
    content under a fresh op id (the hub remembers the refused one) and queued again, so the
    record — and whatever waits on it — flows by itself (S5, S6). A record that never reached
    the hub and is deleted simply leaves the queue."""
    head = conn.execute(
        "SELECT seq, action, state FROM outbox WHERE record_id = ? ORDER BY seq LIMIT 1",
        (row["id"],),
    ).fetchone()
    if head is None or head["state"] not in (OutboxState.ERROR, OutboxState.BLOCKED):
        return None
    if action is Action.UPDATE and head["action"] in (Action.CREATE, Action.UPDATE):
        conn.execute(
            "UPDATE outbox SET op_id = ?, data = ?, state = ? WHERE seq = ?",
            (str(uuid.uuid4()), rows.dumps(data), OutboxState.PENDING, head["seq"]),
        )
        conn.execute(
            "DELETE FROM outbox WHERE record_id = ? AND seq > ? AND action = ?",
            (row["id"], head["seq"], Action.UPDATE),
        )
        conn.execute("UPDATE outbox SET state = ? WHERE record_id = ? AND seq > ?",
                     (OutboxState.PENDING, row["id"], head["seq"]))
        return SyncState.PENDING
    if action is Action.DELETE and row["version"] is None:
        conn.execute("DELETE FROM outbox WHERE record_id = ?", (row["id"],))
        return SyncState.SYNCED  # it never reached the hub: nothing left to send
    return None
