"""Concurrent edits (S9), run by the single writer: the three-way merge of a record the hub
refused as stale (or whose newer cloud copy arrived while it had changes queued), the
``conflict`` it becomes when the merge is not clean, and the resolutions that settle it.

A record keeps its last synced copy in ``base_data``. On ``STALE_VERSION`` the node merges
``base`` / its data / the cloud's (``protocol.merge``):

- clean: the record's data becomes the merged data, its queued ops are replaced by the ops
  that take the cloud's version to the merged one, based on the cloud's version (fresh op ids),
  ``base_data`` becomes the cloud's data, and ``sync_details.merged`` says which fields came
  from where (kept once synced, until the next change from the cloud);
- not clean: the record goes to ``conflict`` with ``sync_details`` holding ``base``, ``local``,
  ``cloud``, the clashing ``fields`` and the ``kind`` (``fields``, ``posted``, ``deleted``).
"""

from __future__ import annotations

import sqlite3
from typing import Any, Literal

from agent.store import rows
from agent.store.states import OutboxState
from protocol.errors import ErrorCode, ProtocolError, changed_words, render
from protocol.i18n import Lang, Text
from protocol.merge import (
    KIND_TEXT,
    POSTED_FIELD,
    ConflictView,
    MergeResult,
    changed_fields,
    merge,
    pick,
)
from protocol.models import Action, SyncState
from protocol.schema import CollectionSchema, SchemaRegistry

Side = Literal["local", "cloud"]


# -- naming ----------------------------------------------------------------------------------


def record_name(schema: CollectionSchema, key: str) -> Text:
    """The record as an accountant knows it: "Khách hàng KH100", "Phiếu thu PT000123"."""
    return schema.record_label(key)


def field_names(schema: CollectionSchema, fields: list[str] | tuple[str, ...]) -> Text:
    return Text.join(", ", (schema.field_label((f,)) for f in fields))


def _actions(*names: str) -> Text:
    words = {
        "take_cloud": Text("lấy bản trên Cloud (take_cloud)", "take_cloud (the cloud's version)"),
        "keep_local": Text("giữ bản của mình (keep_local)", "keep_local (yours, on top of the "
                           "cloud's)"),
        "merge": Text("gộp từng trường (merge)", "merge (field by field)"),
        "restore": Text("khôi phục bằng bản của mình (restore)", "restore (re-create it with "
                        "yours)"),
        "discard": Text("chấp nhận việc xóa (discard)", "discard (accept the deletion)"),
        "delete_anyway": Text("vẫn xóa (keep_local)", "keep_local (delete it anyway)"),
    }
    return Text.join(Text(" hoặc ", " or "), (words[n] for n in names))


def conflict_params(schema: CollectionSchema, key: str, kind: str, fields: list[str],
                    deleted_on: Side | None = None) -> dict[str, Any]:
    """The parameters of a conflict's message (``STALE_VERSION`` / ``RECORD_DELETED``): the
    record's name and what happened and what to do, in both languages."""
    if kind == "deleted" and deleted_on == "cloud":
        hint = Text(". Hãy chọn ", " Choose ") + _actions("restore", "discard") + Text("", ".")
    elif kind == "deleted":
        hint = (Text(". Bạn đã xóa bản ghi nhưng văn phòng khác đã sửa nó", " You deleted it "
                     "but another office changed it") +
                Text(". Hãy chọn ", "; choose ") + _actions("take_cloud", "delete_anyway")
                + Text("", "."))
    elif kind == "posted":
        hint = (Text(": ", ": ") + KIND_TEXT["posted"] +
                Text(", không thể gộp tự động. Hãy chọn ", ", so it is not merged "
                     "automatically. Choose ") + _actions("take_cloud", "keep_local", "merge")
                + Text("", "."))
    else:
        hint = (Text(". Cả hai văn phòng đã sửa: ", " Both offices changed: ")
                + field_names(schema, fields) + Text(". Hãy chọn ", ". Choose ")
                + _actions("take_cloud", "keep_local", "merge") + Text("", "."))
    return {"record": record_name(schema, key).as_dict(), "hint": hint.as_dict(),
            "changed": changed_words(schema.postable)}


def merged_note(schema: CollectionSchema, result: MergeResult, cloud_version: int,
                now: str) -> dict[str, Any]:
    """What a record keeps of a merge the node made by itself (``sync_details.merged``)."""
    if result.from_cloud:
        took = (Text("lấy từ Cloud: ", "from the cloud: ") + field_names(schema, result.from_cloud))
    else:
        took = Text("không có trường nào từ Cloud", "no field from the cloud")
    mine = (Text("; giữ của văn phòng này: ", "; kept from this office: ")
            + field_names(schema, result.from_local)) if result.from_local else Text("", "")
    message = (Text("Đã tự động gộp với bản trên Cloud (phiên bản {v}): ",
                    "Merged automatically with the cloud's version {v}: ").format(v=cloud_version)
               + took + mine)
    return {"at": now, "cloud_version": cloud_version, "from_local": list(result.from_local),
            "from_cloud": list(result.from_cloud), "message": message.as_dict()}


# -- the record's copies ---------------------------------------------------------------------


def _posting_queued(conn: sqlite3.Connection, record_id: str) -> bool:
    return conn.execute(
        "SELECT 1 FROM outbox WHERE record_id = ? AND action IN (?, ?) LIMIT 1",
        (record_id, Action.POST, Action.UNPOST)).fetchone() is not None


def _details(row: sqlite3.Row) -> dict[str, Any]:
    details = rows.loads(row["sync_details"])
    return details if isinstance(details, dict) else {}


def _copy_data(copy: dict[str, Any]) -> dict[str, Any]:
    data = copy.get("data")
    return data if isinstance(data, dict) else {}


def view(conn: sqlite3.Connection, schema: CollectionSchema, row: sqlite3.Row,
         current: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The conflict of a record as the office sees it now (its current data as ``local``, the
    newest cloud copy the node holds — or ``current`` — as ``cloud``), or None when it is not
    in conflict."""
    details = _details(row)
    current = current if current is not None else details.get("current")
    if row["sync_state"] != SyncState.CONFLICT or not isinstance(current, dict):
        return None
    base = details.get("base")
    local = rows.loads(row["data"]) or {}
    cloud = _copy_data(current)
    base = base if isinstance(base, dict) else None
    kind, fields, deleted_on = _judge(conn, schema, row, base, local, current)
    return {"kind": kind, "fields": fields, "base": base, "local": local,
            "cloud": None if current.get("deleted") else cloud,
            "deleted_on": deleted_on, "cloud_version": current.get("version")}


def conflict_view(conn: sqlite3.Connection, schema: CollectionSchema, record_id: str,
                  lang: Lang) -> ConflictView:
    """The conflict of a record for the LAN API; ``NOT_FOUND`` naming the record and its state
    when it is not in conflict."""
    row = rows.fetch_in(conn, schema.name, record_id)
    seen = view(conn, schema, row)
    if seen is None:
        name = record_name(schema, row["key"])
        raise ProtocolError(
            ErrorCode.NOT_FOUND,
            {"what": Text("xung đột của ", "A conflict of ") + name,
             "hint": Text(f": bản ghi đang ở trạng thái {row['sync_state']}, không xung đột",
                          f" The record is {row['sync_state']}, not in conflict.")},
            {"collection": schema.name, "id": record_id, "reason": "not_in_conflict",
             "sync_state": row["sync_state"]})
    code = ErrorCode(row["sync_code"]) if row["sync_code"] else ErrorCode.STALE_VERSION
    params = conflict_params(schema, row["key"], seen["kind"], seen["fields"],
                             seen["deleted_on"])
    return ConflictView.model_validate({**seen, "message": render(code, lang, params)})


def _judge(conn: sqlite3.Connection, schema: CollectionSchema, row: sqlite3.Row,
           base: dict[str, Any] | None, local: dict[str, Any], current: dict[str, Any],
           ) -> tuple[str, list[str], Side | None]:
    cloud = _copy_data(current)
    if current.get("deleted"):
        return "deleted", list(changed_fields(base or {}, local)), "cloud"
    if row["deleted"]:
        return "deleted", list(changed_fields(base or {}, cloud)), "local"
    result = merge(schema, base, local, cloud,
                   local_posting=_posting_queued(conn, row["id"]))
    if result.clean:
        return "fields", [], None
    return str(result.kind), list(result.clashes), None


# -- settling --------------------------------------------------------------------------------


def _strip(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != POSTED_FIELD}


def requeue(conn: sqlite3.Connection, schema: CollectionSchema, row: sqlite3.Row, *,
            target: dict[str, Any], deleted: bool, current: dict[str, Any], now: str,
            note: dict[str, Any] | None = None) -> None:
    """Make ``target`` (or its deletion) the record's state, to be pushed on top of the cloud's
    version ``current``: every queued op of the record is replaced by the ops that take the
    cloud's copy to ``target`` (an unpost before an edit of a posted voucher, a post after),
    based on the cloud's version, under fresh op ids; ``base_data`` becomes the cloud's data.
    When ``target`` is the cloud's state, the record is simply synced."""
    record_id = row["id"]
    cloud = _copy_data(current)
    version = int(current["version"])
    cloud_deleted = bool(current.get("deleted"))
    conn.execute("DELETE FROM outbox WHERE record_id = ?", (record_id,))
    ops: list[tuple[Action, dict[str, Any] | None]] = []
    postable = schema.postable
    was_posted = postable and not cloud_deleted and bool(cloud.get(POSTED_FIELD))
    want_posted = postable and not deleted and bool(target.get(POSTED_FIELD))
    if deleted:
        if not cloud_deleted:
            if was_posted:
                ops.append((Action.UNPOST, None))
            ops.append((Action.DELETE, None))
    else:
        body_changed = cloud_deleted or _strip(target) != _strip(cloud)
        if was_posted and (body_changed or not want_posted):
            ops.append((Action.UNPOST, None))
        if body_changed:
            body = dict(target)
            if postable:
                body[POSTED_FIELD] = False
            # Re-creating a record the cloud deleted is a create based on its tombstone.
            ops.append((Action.CREATE if cloud_deleted else Action.UPDATE, body))
        if want_posted and (not was_posted or body_changed):
            ops.append((Action.POST, None))
    for action, data in ops:
        rows.append_op(conn, record_id=record_id, collection=schema.name, action=action,
                       base_version=version, data=data, now=now)
    key = schema.key_of(target) if target else row["key"]
    text = rows.dumps(target)
    state = SyncState.PENDING if ops else SyncState.SYNCED
    details: dict[str, Any] | None = None
    if ops:
        details = {"current": current}
    if note is not None:
        details = {**(details or {}), "merged": note}
    conn.execute(
        "UPDATE records SET data = ?, key = ?, deleted = ?, version = ?, local_rev = ?, "
        "sync_state = ?, sync_code = NULL, sync_params = NULL, blocked_by = NULL, "
        "sync_details = ?, date = ?, updated_at = ?, base_data = ? WHERE id = ?",
        (text, key, int(deleted), version, row["local_rev"] + 1, state.value,
         None if details is None else rows.dumps(details), schema.date_of(target), now,
         rows.dumps(cloud) if not cloud_deleted else None, record_id))


def to_conflict(conn: sqlite3.Connection, schema: CollectionSchema, row: sqlite3.Row,
                current: dict[str, Any], *, seq: int | None, extra: dict[str, Any] | None = None,
                ) -> None:
    """Put the record in ``conflict`` against the cloud's copy ``current``: its refused op
    (``seq``, else the head of its chain) waits for a resolution."""
    record_id = row["id"]
    base = rows.loads(row["base_data"])
    base = base if isinstance(base, dict) else None
    local = rows.loads(row["data"]) or {}
    kind, fields, deleted_on = _judge(conn, schema, row, base, local, current)
    code = ErrorCode.RECORD_DELETED if deleted_on == "cloud" else ErrorCode.STALE_VERSION
    params = conflict_params(schema, row["key"], kind, fields, deleted_on)
    details: dict[str, Any] = {**(extra or {}), "current": current, "base": base,
                               "local": local,
                               "cloud": None if current.get("deleted") else _copy_data(current),
                               "fields": fields, "kind": kind}
    if deleted_on is not None:
        details["deleted_on"] = deleted_on
    if seq is None:
        head = conn.execute("SELECT min(seq) FROM outbox WHERE record_id = ?",
                            (record_id,)).fetchone()
        seq = head[0] if head is not None else None
    if seq is not None:
        conn.execute("UPDATE outbox SET state = ? WHERE seq = ?", (OutboxState.CONFLICT, seq))
    conn.execute(
        "UPDATE records SET sync_state = ?, sync_code = ?, sync_params = ?, blocked_by = NULL, "
        "sync_details = ? WHERE id = ?",
        (SyncState.CONFLICT, code.value, rows.dumps(params), rows.dumps(details), record_id))


def settle_against(conn: sqlite3.Connection, schema: CollectionSchema, row: sqlite3.Row,
                   current: dict[str, Any], now: str, *, seq: int | None = None,
                   extra: dict[str, Any] | None = None) -> bool:
    """A record with queued changes meets the cloud's newer copy ``current``: merge by itself
    when clean (True), else ``conflict`` (False)."""
    base = rows.loads(row["base_data"])
    base = base if isinstance(base, dict) else None
    local = rows.loads(row["data"]) or {}
    cloud = _copy_data(current)
    if current.get("deleted") and row["deleted"]:
        requeue(conn, schema, row, target=local, deleted=True, current=current, now=now)
        return True  # deleted on both sides: nothing to settle
    if not current.get("deleted") and not row["deleted"]:
        result = merge(schema, base, local, cloud,
                       local_posting=_posting_queued(conn, row["id"]))
        if result.data is not None:
            note = None
            if result.from_local or result.from_cloud:
                note = merged_note(schema, result, int(current["version"]), now)
            requeue(conn, schema, row, target=result.data, deleted=False, current=current,
                    now=now, note=note)
            return True
    to_conflict(conn, schema, row, current, seq=seq, extra=extra)
    return False


def receive_cloud_copy(conn: sqlite3.Connection, registry: SchemaRegistry,
                       schema: CollectionSchema, record_id: str, cloud: dict[str, Any]) -> None:
    """The cloud's copy of a record arrives outside the feed (the "refresh" repair tool):
    ``cloud`` is the hub's record (``id``, ``collection``, ``key``, ``data``, ``deleted``,
    ``version``, ``seq``). A record with nothing queued takes it (when newer); one with changes
    queued is merged with it (clean: merged and queued again on top of it) or goes to
    ``conflict``. A record whose push is in flight only keeps it as the cloud's copy: the push's
    answer decides. In the writer's transaction."""
    del registry  # the schema is given; kept in the signature for the callers
    row = rows.fetch(conn, record_id)
    version = cloud.get("version")
    if version is None:
        raise ValueError("a cloud copy has a version")
    now = rows.utc_now()
    current = {"id": record_id, "collection": schema.name,
               "key": cloud.get("key") or (schema.key_of(cloud["data"])
                                           if cloud.get("data") else ""),
               "data": cloud.get("data") or {}, "deleted": bool(cloud.get("deleted")),
               "version": int(version), "seq": cloud.get("seq")}
    queued = conn.execute("SELECT 1 FROM outbox WHERE record_id = ? LIMIT 1",
                          (record_id,)).fetchone() is not None
    if row is None or not queued:
        if row is not None and row["version"] is not None and row["version"] >= int(version):
            return
        _install(conn, schema, record_id, current, now, row)
        return
    details = _details(row)
    known = details.get("current")
    if isinstance(known, dict) and int(known.get("version") or 0) > int(version):
        current = known  # the node has seen a newer one
    if row["sync_state"] == SyncState.SYNCING or (
            row["version"] is not None and row["version"] >= current["version"]
            and row["sync_state"] != SyncState.CONFLICT):
        details["current"] = current
        conn.execute("UPDATE records SET sync_details = ? WHERE id = ?",
                     (rows.dumps(details), record_id))
        return
    if row["sync_state"] == SyncState.CONFLICT:
        to_conflict(conn, schema, row, current, seq=None)
        return
    settle_against(conn, schema, row, current, now)


def _install(conn: sqlite3.Connection, schema: CollectionSchema, record_id: str,
             current: dict[str, Any], now: str, row: sqlite3.Row | None) -> None:
    data = _copy_data(current)
    text = rows.dumps(data)
    key = current["key"]
    if row is None:
        conn.execute(
            "INSERT INTO records (id, collection, key, data, deleted, version, local_rev, "
            "sync_state, date, updated_at, base_data) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
            (record_id, schema.name, key, text, int(current["deleted"]), current["version"],
             SyncState.SYNCED, schema.date_of(data), now, text))
        return
    conn.execute(
        "UPDATE records SET data = ?, key = ?, deleted = ?, version = ?, local_rev = ?, "
        "sync_state = ?, sync_code = NULL, sync_params = NULL, blocked_by = NULL, "
        "sync_details = NULL, date = ?, updated_at = ?, base_data = ? WHERE id = ?",
        (text, key, int(current["deleted"]), current["version"], row["local_rev"] + 1,
         SyncState.SYNCED, schema.date_of(data), now, text, record_id))


# -- resolutions -----------------------------------------------------------------------------


def _sides(row: sqlite3.Row, current: dict[str, Any],
           ) -> tuple[dict[str, Any] | None, dict[str, Any], dict[str, Any]]:
    base = rows.loads(row["base_data"])
    return (base if isinstance(base, dict) else None, rows.loads(row["data"]) or {},
            _copy_data(current))


def keep_local_target(conn: sqlite3.Connection, schema: CollectionSchema, row: sqlite3.Row,
                      current: dict[str, Any]) -> dict[str, Any]:
    """``keep_local``: this office's value on every clashing field and the cloud's change on
    every field only the cloud changed (the other office's new phone number is not dropped);
    for a posted/unposted voucher, this office's voucher as it is."""
    base, local, cloud = _sides(row, current)
    if row["deleted"]:
        return local
    result = merge(schema, base, local, cloud, local_posting=_posting_queued(conn, row["id"]))
    if result.data is not None:
        return result.data
    return pick(base, local, cloud, dict.fromkeys(result.clashes, "local"), result.clashes)


def chosen(conn: sqlite3.Connection, schema: CollectionSchema, row: sqlite3.Row,
           current: dict[str, Any], choices: dict[str, Side]) -> dict[str, Any]:
    """``merge`` with ``choices``: each clashing field from the side chosen, the others merged;
    refused, naming them, when a clashing field has no choice."""
    base, local, cloud = _sides(row, current)
    result = merge(schema, base, local, cloud, local_posting=_posting_queued(conn, row["id"]))
    missing = [f for f in result.clashes if f not in choices]
    if missing:
        names = field_names(schema, missing)
        raise refuse(schema, row, "merge",
                     Text("chưa chọn bản cho trường: ", "no side chosen for: ") + names
                     + Text(" (local hoặc cloud cho từng trường)", " (local or cloud for each)"),
                     fields=missing)
    return pick(base, local, cloud, choices, result.clashes)


REASONS = {
    "not_conflict": Text("bản ghi không ở trạng thái xung đột; cách xử lý này chỉ dùng cho bản "
                         "ghi xung đột với Cloud", "the record is not in conflict with the "
                         "cloud; this resolution is for such a record"),
    "cloud_deleted": Text("bản ghi đã bị xóa trên Cloud: hãy khôi phục (restore) hoặc chấp nhận "
                          "việc xóa (discard)", "the record was deleted on the cloud: restore "
                          "it or discard (accept the deletion)"),
    "not_deleted": Text("bản ghi không bị xóa trên Cloud: restore chỉ dùng khi Cloud đã xóa nó; "
                        "hãy chọn take_cloud, keep_local hoặc merge", "the record was not "
                        "deleted on the cloud: restore is for a record the cloud deleted; "
                        "choose take_cloud, keep_local or merge"),
    "merge_input": Text("hãy gửi data (bản đã gộp) hoặc choices (local/cloud cho từng trường), "
                        "không gửi cả hai", "send data (the merged record) or choices "
                        "(local/cloud per field), not both"),
    "local_deleted": Text("bản ghi đã bị xóa ở văn phòng này: không thể gộp; hãy chọn "
                          "take_cloud hoặc keep_local", "the record was deleted at this office: "
                          "there is nothing to merge; choose take_cloud or keep_local"),
}


def refuse(schema: CollectionSchema, row: sqlite3.Row, action: str, reason: str | Text,
           **details: Any) -> ProtocolError:
    """``RESOLUTION_REFUSED`` naming the record, the action refused and what would apply;
    nothing changed."""
    text = REASONS[reason] if isinstance(reason, str) else reason
    return ProtocolError(
        ErrorCode.RESOLUTION_REFUSED,
        {"name": record_name(schema, row["key"]), "action": action, "reason": text},
        {"collection": schema.name, "id": row["id"], "action": action,
         "reason": reason if isinstance(reason, str) else "choose", **details})
