"""Settling a record the hub refused as a duplicate of a cloud record (S6), and discarding a
record that never reached the hub together with what depends on it (S5); run by the single
writer, in the resolution's transaction (agent/store/resolve.py registers these handlers).

- ``link_existing``: the local record *is* the cloud's record of the same key. Every local
  record and queued op referring to it is repointed to the cloud's id, the cloud's record is
  installed as synced, the local duplicate leaves (a tombstone saying where it went) and its
  differing fields are offered as an edit of the cloud's record (``sync.details.offered``),
  never applied silently. The blocked dependents then flow by themselves.
- ``rename``: the record gets ``new_key`` (a voucher: the number; or ``renumber`` from the
  node's leased series) and its create is sent again under a fresh op id.
- ``discard``: refused while other local records depend on it (``HAS_DEPENDENTS`` listing
  them); with ``cascade`` they leave too — never a stranded dependent.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from agent.store import rows
from agent.store.states import OutboxState
from agent.store.writes import assign_number, check_unique
from protocol.errors import ErrorCode, ProtocolError
from protocol.i18n import Text
from protocol.models import Action, SyncState
from protocol.schema import CollectionSchema, Reference, SchemaRegistry

if TYPE_CHECKING:
    from agent.store.resolve import Resolution

MAX_LISTED = 20  # dependents named in a refusal (the details hold them all)

REASONS = {
    "not_duplicate": Text(
        "bản ghi không bị Cloud từ chối vì trùng mã", "the cloud did not refuse it as a "
        "duplicate"),
    "no_existing": Text(
        "không có bản ghi trên Cloud cùng mã để liên kết: hãy đồng bộ lại rồi thử lại",
        "there is no cloud record with that code to link to: sync again, then retry"),
    "existing_deleted": Text(
        "bản ghi cùng mã trên Cloud đã bị xóa: hãy sửa bản ghi này (lưu lại) để gửi lại, "
        "hoặc đổi mã (rename)",
        "the cloud's record with that code was deleted: edit this record (save it again) to "
        "send it again, or change its code (rename)"),
    "duplicate_choices": Text(
        "Cloud đã có bản ghi cùng mã. Hãy chọn: liên kết với bản trên Cloud (link_existing), "
        "đổi mã (rename) hoặc bỏ bản ghi này (discard)",
        "the cloud has a record with the same code. Choose: link to the cloud's record "
        "(link_existing), change the code (rename) or discard this one (discard)"),
    "new_key_needed": Text(
        "hãy cho mã mới (new_key), hoặc với chứng từ: lấy số tiếp theo (renumber)",
        "give the new code (new_key) or, for a voucher, take the next number (renumber)"),
    "no_series": Text(
        "chỉ chứng từ mới lấy được số tiếp theo (renumber): hãy cho mã mới (new_key)",
        "only vouchers take the next number (renumber): give the new code (new_key)"),
    "same_key": Text(
        "mã mới trùng với mã hiện tại: hãy cho một mã khác",
        "the new code is the current one: give another code"),
    "several_key_fields": Text(
        "bản ghi này có mã gồm nhiều trường: hãy sửa bản ghi (PUT) với mã mới",
        "this record's key has several fields: edit the record (PUT) with the new code"),
    "nothing": Text("bản ghi không có gì cần xử lý", "the record has nothing to resolve"),
    "no_cloud_copy": Text(
        "không có bản trên Cloud để trả về cho một bản ghi phụ thuộc: hãy đồng bộ lại trước",
        "no cloud copy to return a dependent record to: sync again first"),
}


def refusal(schema: CollectionSchema, row: sqlite3.Row, action: str, reason: str,
            **details: Any) -> ProtocolError:
    """``RESOLUTION_REFUSED`` naming the record as an accountant knows it, what was refused
    and what to do instead; nothing changed."""
    return ProtocolError(
        ErrorCode.RESOLUTION_REFUSED,
        {"name": schema.record_label(row["key"]), "action": action,
         "reason": REASONS[reason]},
        {"collection": schema.name, "id": row["id"], "action": action, "reason": reason,
         **details},
    )


def _is_duplicate(row: sqlite3.Row) -> bool:
    return bool(row["sync_code"] == ErrorCode.DUPLICATE_KEY.value and row["version"] is None
                and row["sync_state"] == SyncState.ERROR)


def guard(handler: Callable[[Resolution], list[str]]) -> Callable[[Resolution], list[str]]:
    """``handler`` for an action that does not apply to a refused duplicate (``keep_local``,
    ``take_cloud``, ``merge``, ``restore``): such a record gets the three choices it has."""
    def guarded(res: Resolution) -> list[str]:
        row = rows.fetch_in(res.conn, res.schema.name, res.record_id)
        if _is_duplicate(row):
            raise refusal(res.schema, row, res.request.action, "duplicate_choices",
                          choices=["link_existing", "rename", "discard"])
        return handler(res)

    return guarded


def _duplicate(res: Resolution) -> tuple[sqlite3.Row, dict[str, Any]]:
    row = rows.fetch_in(res.conn, res.schema.name, res.record_id)
    if not _is_duplicate(row):
        raise refusal(res.schema, row, res.request.action, "not_duplicate")
    details = rows.loads(row["sync_details"]) or {}
    return row, details


# --- link_existing ------------------------------------------------------------------------


def link_existing(res: Resolution) -> list[str]:
    conn, schema, record_id, now = res.conn, res.schema, res.record_id, res.now
    row, details = _duplicate(res)
    existing = details.get("existing")
    if (not isinstance(existing, dict) or not isinstance(existing.get("id"), str)
            or existing["id"] == record_id or not isinstance(existing.get("data"), dict)):
        raise refusal(schema, row, "link_existing", "no_existing")
    cloud_id: str = existing["id"]
    cloud_row = rows.fetch(conn, cloud_id)
    if cloud_row is not None and cloud_row["collection"] != schema.name:
        raise refusal(schema, row, "link_existing", "no_existing")
    if (cloud_row is not None and cloud_row["deleted"]
            and (cloud_row["version"] or 0) >= int(existing.get("version") or 0)):
        raise refusal(schema, row, "link_existing", "existing_deleted")
    if cloud_row is None or (
        (cloud_row["version"] or 0) < int(existing.get("version") or 0)
        and not _has_ops(conn, cloud_id)
    ):
        _install(conn, schema, cloud_id, existing, now, cloud_row)
    cloud_row = rows.fetch_in(conn, schema.name, cloud_id)
    changed = repoint(conn, res.registry, schema.name, record_id, cloud_id, now)
    # The local duplicate leaves: its queued ops (its create and any edit after it) go, and
    # a tombstone says which record it became (a workstation holding its id finds out).
    conn.execute("DELETE FROM outbox WHERE record_id = ?", (record_id,))
    conn.execute(
        "UPDATE records SET deleted = 1, local_rev = local_rev + 1, sync_state = ?, "
        "sync_code = NULL, sync_params = NULL, blocked_by = NULL, sync_details = ?, "
        "updated_at = ? WHERE id = ?",
        (SyncState.SYNCED, rows.dumps({"linked_to": {"id": cloud_id, "key": cloud_row["key"]}}),
         now, record_id))
    _offer(conn, schema, cloud_row, rows.loads(row["data"]) or {}, record_id)
    return sorted({*changed, cloud_id})


def _has_ops(conn: sqlite3.Connection, record_id: str) -> bool:
    return conn.execute("SELECT 1 FROM outbox WHERE record_id = ? LIMIT 1",
                        (record_id,)).fetchone() is not None


def _install(conn: sqlite3.Connection, schema: CollectionSchema, cloud_id: str,
             existing: dict[str, Any], now: str, old: sqlite3.Row | None) -> None:
    """The cloud's record as the hub sent it with the refusal, installed as synced."""
    data: dict[str, Any] = existing["data"]
    text = rows.dumps(data)
    version = int(existing.get("version") or 1)
    if old is None:
        conn.execute(
            "INSERT INTO records (id, collection, key, data, deleted, version, local_rev, "
            "sync_state, date, updated_at, base_data) VALUES (?, ?, ?, ?, 0, ?, 1, ?, ?, ?, ?)",
            (cloud_id, schema.name, schema.key_of(data), text, version, SyncState.SYNCED,
             schema.date_of(data), now, text))
        return
    conn.execute(
        "UPDATE records SET key = ?, data = ?, deleted = 0, version = ?, "
        "local_rev = local_rev + 1, sync_state = ?, sync_code = NULL, sync_params = NULL, "
        "blocked_by = NULL, sync_details = NULL, date = ?, updated_at = ?, base_data = ? "
        "WHERE id = ?",
        (schema.key_of(data), text, version, SyncState.SYNCED, schema.date_of(data), now, text,
         cloud_id))


def differing_fields(schema: CollectionSchema, local: dict[str, Any],
                     cloud: dict[str, Any]) -> dict[str, Any]:
    """The fields the local duplicate set to something else than the cloud's record (its
    key fields aside: they are the same code by definition)."""
    return {name: value for name, value in local.items()
            if name not in schema.key_fields and cloud.get(name) != value}


def _offer(conn: sqlite3.Connection, schema: CollectionSchema, cloud_row: sqlite3.Row,
           local: dict[str, Any], from_id: str) -> None:
    """Put the local duplicate's differing fields on the cloud's record as an offered edit
    (``sync.details.offered``): the office applies it with a PUT of ``offered.data`` (or
    ignores it); a later change of the record clears it."""
    cloud = rows.loads(cloud_row["data"]) or {}
    fields = differing_fields(schema, local, cloud)
    if not fields:
        return
    details = rows.loads(cloud_row["sync_details"]) or {}
    details["offered"] = {"from": from_id, "fields": fields,
                          "cloud": {name: cloud.get(name) for name in fields},
                          "data": {**cloud, **fields}}
    conn.execute("UPDATE records SET sync_details = ? WHERE id = ?",
                 (rows.dumps(details), cloud_row["id"]))


def _referencing(registry: SchemaRegistry, collection: str
                 ) -> dict[str, tuple[Reference, ...]]:
    """The collections with a reference to ``collection``, and those references."""
    found: dict[str, tuple[Reference, ...]] = {}
    for schema in registry:
        refs = tuple(r for r in schema.references if r.target == collection)
        if refs:
            found[schema.name] = refs
    return found


def repoint(conn: sqlite3.Connection, registry: SchemaRegistry, collection: str, old: str,
            new: str, now: str) -> list[str]:
    """Every local record and queued op referring to ``old`` (a record of ``collection``)
    refers to ``new`` instead; the ids of the records changed."""
    referencing = _referencing(registry, collection)
    if not referencing:
        return []
    marks = ",".join("?" * len(referencing))
    names = list(referencing)

    def swap(value: str) -> str:
        return new if value == old else value

    def repointed(collection_name: str, text: str | None) -> str | None:
        data = rows.loads(text)
        if not isinstance(data, dict):
            return None
        hits = [ref.map(data, swap) for ref in referencing[collection_name]]
        return rows.dumps(data) if any(hits) else None

    changed: set[str] = set()
    for rid, name, text in conn.execute(
        f"SELECT id, collection, data FROM records WHERE collection IN ({marks}) "
        "AND instr(data, ?) > 0", (*names, old)).fetchall():
        updated = repointed(name, text)
        if updated is not None:
            conn.execute("UPDATE records SET data = ?, local_rev = local_rev + 1, "
                         "updated_at = ? WHERE id = ?", (updated, now, rid))
            changed.add(rid)
    for seq, rid, name, text in conn.execute(
        f"SELECT seq, record_id, collection, data FROM outbox WHERE collection IN ({marks}) "
        "AND instr(data, ?) > 0", (*names, old)).fetchall():
        updated = repointed(name, text)
        if updated is not None:
            conn.execute("UPDATE outbox SET data = ? WHERE seq = ?", (updated, seq))
            changed.add(rid)
    return sorted(changed)


# --- rename -------------------------------------------------------------------------------


def rename(res: Resolution) -> list[str]:
    conn, schema, record_id, request = res.conn, res.schema, res.record_id, res.request
    row, _ = _duplicate(res)
    data: dict[str, Any] = rows.loads(row["data"]) or {}
    series = schema.series
    if request.renumber:
        if series is None:
            raise refusal(schema, row, "rename", "no_series")
        data.pop(series.number_field, None)
        while True:
            assign_number(conn, schema, data, res.ctx)
            if rows.find_by_key(conn, schema.name, schema.key_of(data), record_id) is None:
                break
            del data[series.number_field]  # that number was typed by hand earlier
    elif request.new_key is not None:
        if series is not None:
            # the number, or the whole key as shown in lists ("receipt/PT000123")
            parts = schema.key_data(request.new_key)
            same_kind = parts.get(series.by_field) == data.get(series.by_field)
            number = parts.get(series.number_field) if same_kind else None
            data[series.number_field] = number or request.new_key
        elif len(schema.key_fields) == 1:
            data[schema.key_fields[0]] = request.new_key
        else:
            raise refusal(schema, row, "rename", "several_key_fields")
        data = schema.validate(data)
    else:
        raise refusal(schema, row, "rename", "new_key_needed")
    key = schema.key_of(data)
    if key == row["key"]:
        raise refusal(schema, row, "rename", "same_key")
    check_unique(conn, schema, key, record_id)
    # The create goes again with the new key (and the edits queued after it folded in),
    # under a fresh op id: the hub replays its refusal of the old one.
    head = conn.execute("SELECT seq FROM outbox WHERE record_id = ? ORDER BY seq LIMIT 1",
                        (record_id,)).fetchone()
    if head is None:
        raise refusal(schema, row, "rename", "nothing")
    conn.execute("UPDATE outbox SET op_id = ?, data = ?, state = ? WHERE seq = ?",
                 (str(uuid.uuid4()), rows.dumps(data), OutboxState.PENDING, head[0]))
    conn.execute("DELETE FROM outbox WHERE record_id = ? AND seq > ? AND action = ?",
                 (record_id, head[0], Action.UPDATE))
    conn.execute("UPDATE outbox SET state = ? WHERE record_id = ? AND seq > ?",
                 (OutboxState.PENDING, record_id, head[0]))
    conn.execute(
        "UPDATE records SET key = ?, data = ?, local_rev = local_rev + 1, sync_state = ?, "
        "sync_code = NULL, sync_params = NULL, blocked_by = NULL, sync_details = NULL, "
        "date = ?, updated_at = ? WHERE id = ?",
        (key, rows.dumps(data), SyncState.PENDING, schema.date_of(data), res.now, record_id))
    return []


# --- discard ------------------------------------------------------------------------------


def dependents(conn: sqlite3.Connection, registry: SchemaRegistry, record_id: str
               ) -> list[sqlite3.Row]:
    """The local records (not deleted) that refer to ``record_id`` — in their data or in a
    queued op — and, in turn, those referring to them; nearest first."""
    found: dict[str, sqlite3.Row] = {}
    frontier: list[tuple[str, str]] = []
    row = rows.fetch(conn, record_id)
    if row is None:
        return []
    frontier.append((record_id, row["collection"]))
    seen = {record_id}
    while frontier:
        target, collection = frontier.pop(0)
        for dependent in _direct_dependents(conn, registry, target, collection):
            if dependent["id"] not in seen:
                seen.add(dependent["id"])
                found[dependent["id"]] = dependent
                frontier.append((dependent["id"], dependent["collection"]))
    return list(found.values())


def _direct_dependents(conn: sqlite3.Connection, registry: SchemaRegistry, target: str,
                       collection: str, queued: bool = True) -> Iterable[sqlite3.Row]:
    """Records referring to ``target`` in their data and, with ``queued``, in a queued op."""
    referencing = _referencing(registry, collection)
    if not referencing:
        return []
    marks = ",".join("?" * len(referencing))
    ids: set[str] = set()
    for rid, name, text in conn.execute(
        f"SELECT id, collection, data FROM records WHERE collection IN ({marks}) "
        "AND deleted = 0 AND instr(data, ?) > 0", (*referencing, target)):
        if _refers(referencing[name], rows.loads(text), target):
            ids.add(rid)
    for rid, name, text in conn.execute(
        f"SELECT record_id, collection, data FROM outbox WHERE collection IN ({marks}) "
        "AND instr(data, ?) > 0", (*referencing, target)) if queued else ():
        if _refers(referencing[name], rows.loads(text), target):
            ids.add(rid)
    return [r for r in (rows.fetch(conn, rid) for rid in sorted(ids)) if r is not None]


def _refers(refs: tuple[Reference, ...], data: Any, target: str) -> bool:
    return isinstance(data, dict) and any(target in ref.values(data) for ref in refs)


def discard(res: Resolution) -> list[str]:
    """Drop a record that never reached the hub (its queued ops and itself); refused while
    other local records depend on it unless ``cascade``, which drops them too."""
    conn, registry, schema, record_id = res.conn, res.registry, res.schema, res.record_id
    row = rows.fetch_in(conn, schema.name, record_id)
    if row["sync_state"] not in (SyncState.ERROR, SyncState.CONFLICT, SyncState.BLOCKED):
        raise refusal(schema, row, "discard", "nothing")
    found = dependents(conn, registry, record_id)
    if found and not res.request.cascade:
        raise _has_dependents(registry, schema, row, found)
    name = schema.record_label(row["key"]).as_dict()
    for dependent in found:
        _drop(conn, registry, dependent, res.now, {"id": record_id, "name": name})
    _drop(conn, registry, row, res.now, None)
    return [d["id"] for d in found]


def refuse_delete_in_use(conn: sqlite3.Connection, registry: SchemaRegistry,
                         schema: CollectionSchema, record_id: str) -> None:
    """A workstation's delete of a record other live records refer to (a customer with
    vouchers) is refused, naming them: deleting it would strand them (``MISSING_REFERENCE`` at
    the hub, or vouchers pointing at nothing)."""
    row = rows.fetch(conn, record_id)
    if row is None or row["deleted"] or row["collection"] != schema.name:
        return  # the delete itself answers NOT_FOUND
    # What they hold now: a queued op of a voucher since moved to another customer is sent
    # before this delete, so the hub sees it in order.
    found = list(_direct_dependents(conn, registry, record_id, schema.name, queued=False))
    if found:
        raise _has_dependents(registry, schema, row, found, deleting=True)


def _has_dependents(registry: SchemaRegistry, schema: CollectionSchema, row: sqlite3.Row,
                    found: list[sqlite3.Row], deleting: bool = False) -> ProtocolError:
    named = [_name_of(registry, d) for d in found]
    listed = Text.join(", ", named[:MAX_LISTED])
    if len(named) > MAX_LISTED:
        listed += Text(f", … (+{len(named) - MAX_LISTED})", f", … (+{len(named) - MAX_LISTED})")
    params: dict[str, Any] = {"name": schema.record_label(row["key"]), "count": len(found),
                              "dependents": listed}
    if deleting:
        params["what"] = Text("xóa", "deleted")
        params["hint"] = Text(". Hãy sửa các bản ghi đó sang mã khác hoặc xóa chúng trước",
                              " Change those records to another code, or delete them, first.")
    return ProtocolError(
        ErrorCode.HAS_DEPENDENTS, params,
        {"collection": schema.name, "id": row["id"],
         "dependents": [{"id": d["id"], "collection": d["collection"], "key": d["key"],
                         "name": _name_of(registry, d).as_dict()} for d in found],
         "choices": [] if deleting else ["link_existing", "rename", "cascade"]},
    )


def _name_of(registry: SchemaRegistry, row: sqlite3.Row) -> Text:
    if row["collection"] not in registry:
        return Text.of(str(row["key"]))
    return registry.get(row["collection"]).record_label(row["key"])


def _drop(conn: sqlite3.Connection, registry: SchemaRegistry, row: sqlite3.Row, now: str,
          because: dict[str, Any] | None) -> None:
    """A record leaves the queue: one that never reached the hub is discarded (a tombstone);
    one the hub has goes back to the last version both sides agreed on."""
    conn.execute("DELETE FROM outbox WHERE record_id = ?", (row["id"],))
    details = rows.dumps({"discarded_with": because}) if because else None
    if row["version"] is None:
        conn.execute(
            "UPDATE records SET deleted = 1, local_rev = local_rev + 1, sync_state = ?, "
            "sync_code = NULL, sync_params = NULL, blocked_by = NULL, sync_details = ?, "
            "updated_at = ? WHERE id = ?", (SyncState.SYNCED, details, now, row["id"]))
        return
    schema = registry.get(row["collection"])
    cloud = (rows.loads(row["sync_details"]) or {}).get("current")
    text, version, deleted = row["base_data"], row["version"], False
    if isinstance(cloud, dict) and cloud.get("version") is not None:
        # the newest cloud version the pull saw while the record's ops waited
        version, deleted = int(cloud["version"]), bool(cloud.get("deleted"))
        text = rows.dumps(cloud["data"]) if cloud.get("data") else text
    if text is None:
        raise refusal(schema, row, "discard", "no_cloud_copy")
    data = rows.loads(text)
    conn.execute(
        "UPDATE records SET data = ?, key = ?, deleted = ?, version = ?, "
        "local_rev = local_rev + 1, sync_state = ?, sync_code = NULL, sync_params = NULL, "
        "blocked_by = NULL, sync_details = ?, date = ?, updated_at = ?, base_data = ? "
        "WHERE id = ?",
        (text, schema.key_of(data), int(deleted), version, SyncState.SYNCED, details,
         schema.date_of(data), now, text, row["id"]))
