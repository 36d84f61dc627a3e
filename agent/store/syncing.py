"""The sync side of the store, run by the single writer: take a batch from the outbox, store
the hub's per-op results, apply pulled changes with the cursor in the same transaction.

An op leaves the outbox only in the transaction that stores the hub's result for it (or the
echo of it in the change feed), so nothing is lost and nothing is applied twice.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import literal_column, text
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from agent.store import conflicts, rows
from agent.store.models import RECORDS
from agent.store.states import FAILED_OPS, FAILED_RECORDS, RESOLVABLE, OutboxState, sql_in
from protocol.errors import ErrorCode
from protocol.i18n import Text
from protocol.models import Action, FeedEntry, OpResult, OpStatus, SnapshotRow, SyncState
from protocol.schema import CollectionSchema, SchemaRegistry

# What an office can do with a record the hub refused as a duplicate (S6), after the seed's
# "… đã tồn tại. Vui lòng kiểm tra lại".
DUPLICATE_HINT = Text(
    ". Cloud đã có mã này: hãy liên kết với bản ghi trên Cloud (link_existing), đổi mã "
    "(rename) hoặc bỏ bản ghi này (discard)",
    " The cloud has this code already: link to the cloud's record (link_existing), change "
    "the code (rename) or discard this one (discard).")
# A reference to a record another office deleted on the cloud (S5, S9).
MISSING_DELETED_HINT = Text(
    ". Bản ghi đó đã bị người dùng khác xóa trên Cloud: hãy sửa bản ghi này để chọn bản ghi "
    "khác, hoặc bỏ nó",
    " It was deleted on the cloud by another user: edit this record to choose another one, "
    "or discard it.")
_CHUNK = 500
_FAILED_OPS = sql_in(FAILED_OPS)  # literal: the partial index outbox_failed must match it
_PENDING, _BLOCKED = OutboxState.PENDING, OutboxState.BLOCKED
# ``sync_details`` reduced to the cloud's copy of the record (``current``) and the note of the
# node's last automatic merge (``merged``, S9), or NULL: what a record keeps of its details
# when a refusal is over (a retry, a fix) but its ops still wait.
KEEP_CLOUD_COPY = ("CASE WHEN json_type(sync_details, '$.current') = 'object' OR "
                   "json_type(sync_details, '$.merged') = 'object' THEN "
                   "json_patch('{}', json_object("
                   "'current', json_extract(sync_details, '$.current'), "
                   "'merged', json_extract(sync_details, '$.merged'))) END")
# What a synced record keeps: the note of the node's last automatic merge, if any.
_KEEP_MERGE_NOTE = ("CASE WHEN json_type(sync_details, '$.merged') = 'object' THEN "
                    "json_object('merged', json_extract(sync_details, '$.merged')) END")
# A version stored from a push answer never lowers the one a pull installed meanwhile.
_RAISE_VERSION = "CASE WHEN ? > coalesce(version, 0) THEN ? ELSE version END"


@dataclass
class PendingOp:
    """An outbox entry as the push side sees it."""

    seq: int
    op_id: str
    record_id: str
    collection: str
    action: Action
    data: dict[str, Any] | None
    refs: tuple[str, ...] = ()
    base_version: int | None = None
    workstation: str | None = None  # whose request queued it (the hub's history)


def rejection_state(code: ErrorCode, blocked_by: str | None) -> SyncState:
    """What a rejected op means for its record (S5, S6, S8, S9)."""
    if blocked_by is not None:
        return SyncState.BLOCKED
    if code in (ErrorCode.STALE_VERSION, ErrorCode.RECORD_DELETED):
        return SyncState.CONFLICT
    return SyncState.ERROR


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _failed_creates(conn: sqlite3.Connection) -> set[str]:
    """Records that never reached the hub and whose queued create failed (or waits on one)."""
    return {r[0] for r in conn.execute(
        "SELECT DISTINCT o.record_id FROM outbox o JOIN records r ON r.id = o.record_id "
        f"WHERE o.state IN {_FAILED_OPS} AND r.version IS NULL")}


def reset_syncing(conn: sqlite3.Connection) -> int:
    """After a crash or a failed request: records that were in flight go back to pending
    (their ops stayed ``pending`` in the outbox). The hub remembers op ids, so sending one
    again never applies it twice. Returns how many records were reset."""
    n = conn.execute("UPDATE records SET sync_state = ? WHERE sync_state = ?",
                     (SyncState.PENDING, SyncState.SYNCING)).rowcount
    return int(n)


def _record_label(conn: sqlite3.Connection, registry: SchemaRegistry, record_id: str) -> Any:
    """A record as an accountant names it ("Khách hàng KH100", "Phiếu thu PT000123"), in
    both languages; its id when the node does not hold it."""
    row = conn.execute("SELECT collection, key FROM records WHERE id = ?", (record_id,)).fetchone()
    if row is None or row[0] not in registry:
        return record_id
    return registry.get(row[0]).record_label(row[1]).as_dict()


def blocker_of(conn: sqlite3.Connection, registry: SchemaRegistry,
               record_id: str) -> dict[str, Any]:
    """What ``sync.blocked_by`` shows of the record another one waits on: id, collection,
    the collection's label and the record's key, and its name ("Khách hàng KH100")."""
    row = conn.execute("SELECT collection, key FROM records WHERE id = ?", (record_id,)).fetchone()
    if row is None or row[0] not in registry:
        return {"id": record_id}
    schema = registry.get(row[0])
    label, shown = schema.naming(row[1])
    return {"id": record_id, "collection": schema.name, "label": label.as_dict(),
            "key": shown, "name": schema.record_label(row[1]).as_dict()}


def take_batch(
    conn: sqlite3.Connection, registry: SchemaRegistry, limit: int,
    in_flight: frozenset[str] = frozenset(),
) -> tuple[list[PendingOp], dict[str, int | None], list[str]]:
    """The next ops to push in outbox order (their records marked ``syncing``); the hub
    versions of their records; and the ids of records newly found blocked by a failed
    dependency (S5). Records in ``in_flight`` (a push awaiting its answer) are left out.
    The sync side orders the batch and gives each op its base version (agent/sync/ordering).
    """
    # Both read the partial index outbox_failed (its WHERE must match to be used).
    stuck = {r[0] for r in conn.execute(
        f"SELECT record_id, state FROM outbox WHERE state IN {_FAILED_OPS}")
        if r[1] != _BLOCKED}
    failed_creates = _failed_creates(conn)
    held: set[str] = stuck | in_flight
    batch: list[PendingOp] = []
    newly_blocked: list[str] = []
    versions: dict[str, int | None] = {}
    blocks: list[tuple[int, str, str]] = []  # (seq, record, its failed dependency)
    renewed: list[tuple[str, str, int]] = []  # blocked ops going again: fresh op ids
    schemas: dict[str, CollectionSchema] = {}
    # Rows read one by one as plain tuples, up to the batch's last op (not the whole LIMIT);
    # the writes they call for wait until the read is over. The held records' ops (those of
    # the batch in flight come first in the outbox) are left out by SQLite, before the join.
    candidates = conn.cursor()
    candidates.row_factory = None
    try:
        candidates.execute(_CANDIDATES, (_PENDING, _BLOCKED, _json_list(held), limit * 3))
        for seq, op_id, record_id, collection, action, raw, state, version, by in candidates:
            if record_id in held:
                continue
            data = None if raw is None else orjson.loads(raw)
            refs: tuple[str, ...] = ()
            if data:
                schema = schemas.get(collection)
                if schema is None and collection in registry:
                    schema = schemas[collection] = registry.get(collection)
                if schema is not None and schema.references:
                    refs = tuple(v for _, v in schema.refs_of(data))
            blocker = next((r for r in refs if r in failed_creates and r != record_id),
                           None) if refs and failed_creates else None
            if blocker is not None:
                if state != _BLOCKED:
                    blocks.append((seq, record_id, blocker))
                    newly_blocked.append(record_id)
                held.add(record_id)
                failed_creates.add(record_id)
                continue
            if state == _BLOCKED:
                # It was refused (or never sent) while its dependency failed. The hub
                # remembers a refused op id and would replay the refusal, so the retry gets
                # a fresh one. It is pending again: an edit made while it is in flight is
                # queued behind it, not folded into it (its answer would then take the edit
                # out of the outbox unsent).
                op_id = str(uuid.uuid4())
                renewed.append((op_id, _PENDING, seq))
            batch.append(PendingOp(seq, op_id, record_id, collection, _ACTIONS[action], data,
                                   refs, None, by))
            versions[record_id] = version
            if len(batch) >= limit:
                break
    finally:
        candidates.close()
    for seq, record_id, blocker in blocks:
        _mark_blocked(conn, registry, seq, record_id, blocker)
    if renewed:
        conn.executemany("UPDATE outbox SET op_id = ?, state = ? WHERE seq = ?", renewed)
    if not batch:
        return [], {}, newly_blocked
    # The ops themselves stay pending in the outbox: only one push per dataset is in flight,
    # and after a crash everything unanswered is simply sent again (op ids make that safe).
    # One statement for the batch (the ids as a JSON array): executemany's per-row round
    # trip cost as much as the update itself.
    conn.execute(_MARK_SYNCING, (SyncState.SYNCING, _json_list(versions)))
    return batch, versions, newly_blocked


_ACTIONS = {action.value: action for action in Action}
_CANDIDATES = (
    "SELECT o.seq, o.op_id, o.record_id, o.collection, o.action, o.data, o.state, "
    "r.version, o.workstation FROM outbox o JOIN records r ON r.id = o.record_id "
    "WHERE o.state IN (?, ?) AND o.record_id NOT IN (SELECT value FROM json_each(?)) "
    "ORDER BY o.seq LIMIT ?")
# ``IN (SELECT value FROM json_each(?))``: SQLite looks each id of the list up by the primary
# key (EXPLAIN QUERY PLAN: SEARCH records USING … sqlite_autoindex_records_1 (id=?)).
_IN_LIST = "IN (SELECT value FROM json_each(?))"
_MARK_SYNCING = (
    "UPDATE records SET sync_state = ?, sync_code = NULL, sync_params = NULL, "
    f"blocked_by = NULL, sync_details = {KEEP_CLOUD_COPY} WHERE id {_IN_LIST}")


def _json_list(values: Iterable[Any]) -> str:
    return orjson.dumps(list(values)).decode()


def _mark_blocked(conn: sqlite3.Connection, registry: SchemaRegistry, seq: int,
                  record_id: str, blocker: str) -> None:
    conn.execute("UPDATE outbox SET state = ? WHERE seq = ?", (_BLOCKED, seq))
    conn.execute(
        "UPDATE records SET sync_state = ?, sync_code = ?, sync_params = ?, "
        f"blocked_by = ?, sync_details = {KEEP_CLOUD_COPY} WHERE id = ?",
        (SyncState.BLOCKED, ErrorCode.BLOCKED.value,
         rows.dumps({"blocked_by": _record_label(conn, registry, blocker),
                     "blocker": blocker_of(conn, registry, blocker)}), blocker, record_id))


def requeue(conn: sqlite3.Connection, ops: Sequence[PendingOp]) -> None:
    """A push that got no answer: its records go back to pending; the ops are untouched."""
    conn.executemany("UPDATE records SET sync_state = ? WHERE id = ? AND sync_state = ?",
                     [(SyncState.PENDING, op.record_id, SyncState.SYNCING) for op in ops])


def _rejection_params(registry: SchemaRegistry, collection: str, code: ErrorCode,
                      details: dict[str, Any], message: str,
                      conn: sqlite3.Connection | None = None) -> dict[str, Any]:
    if code is ErrorCode.DUPLICATE_KEY and collection in registry:
        schema = registry.get(collection)
        named, shown = schema.naming(str(details.get("key", "")))
        return {"label": named.as_dict(), "key": shown, "hint": DUPLICATE_HINT.as_dict()}
    if code is ErrorCode.MISSING_REFERENCE:
        target = details.get("target")
        label: Any = target
        if isinstance(target, str) and target in registry:
            schema = registry.get(target)
            label = schema.label.as_dict()
        field: Any = details.get("field")
        if collection in registry and isinstance(field, str):
            field = registry.get(collection).fields.get(field, field)
        ref: Any = details.get("ref")
        shown = ref
        if conn is not None and isinstance(ref, str) and isinstance(target, str) \
                and target in registry:
            # the record referred to by its code when this node holds it, not by its id
            found = conn.execute("SELECT key FROM records WHERE id = ? AND collection = ?",
                                 (ref, target)).fetchone()
            if found is not None:
                shown = registry.get(target).naming(found[0])[1]
        params = {"label": label, "field": field, "ref": shown}
        if details.get("deleted"):
            params["hint"] = MISSING_DELETED_HINT.as_dict()
        return params
    if code is ErrorCode.VALIDATION_FAILED:
        # The hub sends its message's parameters (reason in vi and en): the record then
        # speaks the reader's language; an older hub's message is used without its prefix.
        sent = details.get("params")
        reason = sent.get("reason") if isinstance(sent, dict) else None
        return {"reason": reason if reason else message.split(": ", 1)[-1]}
    return {}


def store_results(
    conn: sqlite3.Connection, registry: SchemaRegistry, ops: Sequence[PendingOp],
    results: Sequence[OpResult], now: str,
) -> list[str]:
    """Store the hub's answer for each op of a push; return the ids of records that changed."""
    by_op = {r.op_id: r for r in results}
    failed: set[str] = set()
    failed_creates = _failed_creates(conn)
    applied: list[int] = []
    versions: dict[str, int] = {}
    back_to_pending: list[int] = []
    refused_again: list[tuple[str, int]] = []
    touched: set[str] = set()
    for op in ops:
        result = by_op.get(op.op_id)
        touched.add(op.record_id)
        if result is None:
            back_to_pending.append(op.seq)
        elif result.status is OpStatus.APPLIED:
            applied.append(op.seq)
            if result.version is not None:
                versions[op.record_id] = max(result.version, versions.get(op.record_id, 0))
        elif op.record_id in failed:
            # Its record's earlier op failed, so the hub refused this one too; it waits for the
            # fix, and goes again under a fresh op id (the hub would replay the refusal).
            refused_again.append((str(uuid.uuid4()), op.seq))
        else:
            failed.add(op.record_id)
            _store_rejection(conn, registry, op, result, failed_creates)
            if op.action is Action.CREATE:
                failed_creates.add(op.record_id)
    if applied:
        conn.execute(f"DELETE FROM outbox WHERE seq {_IN_LIST}", (_json_list(applied),))
    conn.executemany("UPDATE outbox SET state = ? WHERE seq = ?",
                     [(_PENDING, seq) for seq in back_to_pending])
    conn.executemany("UPDATE outbox SET state = ?, op_id = ? WHERE seq = ?",
                     [(_PENDING, op_id, seq) for op_id, seq in refused_again])
    conn.executemany(f"UPDATE records SET version = {_RAISE_VERSION} WHERE id = ?",
                     [(v, v, rid) for rid, v in versions.items() if rid in failed])
    settle_records(conn, [rid for rid in touched if rid not in failed], versions)
    rows.set_meta(conn, "last_push_at", now)
    return sorted(touched)


def _store_rejection(conn: sqlite3.Connection, registry: SchemaRegistry, op: PendingOp,
                     result: OpResult, failed_creates: set[str]) -> None:
    error = result.error
    code = error.code if error is not None else ErrorCode.INTERNAL
    details = dict(error.details) if error is not None else {}
    if error is not None and error.current is not None:
        details["current"] = error.current
    known = _cloud_copy(conn, op.record_id)
    if known is not None and _version_of(known) > _version_of(details.get("current")):
        # The pull passed a newer version while this op waited for its answer (or the hub
        # replayed an old refusal): the refusal's copy of the cloud is outdated.
        details["current"] = known
    blocked_by = None
    if code is ErrorCode.MISSING_REFERENCE and details.get("ref") in failed_creates:
        blocked_by = str(details["ref"])
    state = rejection_state(code, blocked_by)
    if state is SyncState.BLOCKED and blocked_by is not None:
        _mark_blocked(conn, registry, op.seq, op.record_id, blocked_by)
        return
    current = details.get("current")
    if (state is SyncState.CONFLICT and isinstance(current, dict)
            and current.get("version") is not None and op.collection in registry):
        # S9: merged by itself when the two sides changed different fields, else a conflict
        # showing base, local and cloud (agent/store/conflicts.py).
        row = rows.fetch(conn, op.record_id)
        if row is not None:
            details.pop("current")
            conflicts.settle_against(conn, registry.get(op.collection), row, current,
                                     rows.utc_now(), seq=op.seq, extra=details)
            return
    params = _rejection_params(registry, op.collection, code, details,
                               error.message if error is not None else "", conn)
    conn.execute("UPDATE outbox SET state = ? WHERE seq = ?",
                 (OutboxState.of_refusal(state), op.seq))
    conn.execute(
        "UPDATE records SET sync_state = ?, sync_code = ?, sync_params = ?, blocked_by = NULL, "
        "sync_details = ? WHERE id = ?",
        (state.value, code.value, rows.dumps(params), rows.dumps(details), op.record_id))


def _version_of(copy: Any) -> int:
    if not isinstance(copy, dict) or copy.get("version") is None:
        return 0
    return int(copy["version"])


def _cloud_copy(conn: sqlite3.Connection, record_id: str) -> dict[str, Any] | None:
    """The hub's newest version of a record the pull has seen while its ops waited."""
    row = conn.execute("SELECT sync_details FROM records WHERE id = ?", (record_id,)).fetchone()
    current = (rows.loads(row[0]) or {}).get("current") if row is not None else None
    return current if isinstance(current, dict) else None


def settle_records(conn: sqlite3.Connection, record_ids: Sequence[str],
                   versions: dict[str, int] | None = None) -> None:
    """Give each record the state of the head of its outbox chain, or ``synced`` (with its data
    as the new merge base) when nothing is left to push; and its new hub version, if any."""
    versions = versions or {}
    if not record_ids:
        return
    ids = list(dict.fromkeys(record_ids))
    heads: dict[str, OutboxState] = {}
    for rid, state in conn.execute(
        f"SELECT record_id, state FROM outbox WHERE record_id {_IN_LIST} ORDER BY seq DESC",
        (_json_list(ids),),
    ):
        heads[rid] = OutboxState(state)  # descending: the last one is the lowest seq
    synced = [(rid, versions.get(rid)) for rid in ids if rid not in heads]
    if synced:
        # One statement for all of them, the (id, version) pairs as a JSON array.
        conn.execute(_SETTLE_SYNCED, (SyncState.SYNCED, _json_list(synced)))
    conn.executemany(
        f"UPDATE records SET version = {_RAISE_VERSION}, sync_state = CASE WHEN sync_state "
        "IN (?, ?, ?) THEN sync_state ELSE ? END WHERE id = ?",
        [(versions.get(rid), versions.get(rid), *FAILED_RECORDS, SyncState.PENDING, rid)
         for rid, state in heads.items() if state is _PENDING])
    conn.executemany(
        f"UPDATE records SET version = {_RAISE_VERSION} WHERE id = ?",
        [(versions[rid], versions[rid], rid) for rid, state in heads.items()
         if rid in versions and state is not _PENDING])


_SETTLE_SYNCED = (
    "UPDATE records SET version = CASE WHEN j.v > coalesce(records.version, 0) THEN j.v "
    "ELSE records.version END, sync_state = ?, sync_code = NULL, sync_params = NULL, "
    f"blocked_by = NULL, sync_details = {_KEEP_MERGE_NOTE}, base_data = data "
    "FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS v "
    "FROM json_each(?)) AS j WHERE records.id = j.id")  # UPDATE … FROM: SQLite 3.33


_PULLED_COLUMNS = rows.RECORD_FIELDS  # a pulled record sets every column
# What a pulled record binds, as ?1 … ?8 in this order (:func:`_row_of`); every other column
# is the same for every pulled record, written into the statement: a new record is synced,
# its base copy the data (?4 again), nothing waits on it. Eight parameters a row, not
# fifteen: the binding runs holding the GIL, and a page of 2,500 inserted 20 % faster.
_PULLED_BOUND = ("id", "collection", "key", "data", "deleted", "version", "date", "updated_at")
_PULLED_FIXED = {"local_rev": "1", "sync_state": f"'{SyncState.SYNCED}'", "sync_code": "NULL",
                 "sync_params": "NULL", "blocked_by": "NULL", "base_data": "?4",
                 "sync_details": "NULL"}


def _pulled_upsert() -> str:
    """The bulk statement of the pull path, built once with SQLAlchemy Core.

    A pulled change replaces the local record only if it is newer than what the node holds
    and the record has nothing waiting in the outbox: local edits win locally until the push
    decides (the hub answers ``STALE_VERSION``). Executed with the DB-API's ``executemany``
    on positional rows — SQLAlchemy's per-row parameter processing cost more than the insert.
    """
    stmt = sqlite_insert(RECORDS)
    replace: dict[str, Any] = {
        name: stmt.excluded[name] for name in _PULLED_COLUMNS if name != "id"}
    replace["local_rev"] = RECORDS.c.local_rev + literal_column("1")
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"],
        set_=replace,
        where=text(
            "(records.version IS NULL OR records.version < excluded.version) "
            "AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.record_id = excluded.id)"),
    )
    compiled = stmt.compile(dialect=sqlite_dialect(paramstyle="qmark"),
                            column_keys=list(_PULLED_COLUMNS))
    order = list(compiled.positiontup or [])
    if order != list(_PULLED_COLUMNS) or set(_PULLED_BOUND) | set(_PULLED_FIXED) != set(order):
        raise RuntimeError(f"unexpected parameter order {order}")
    values = ", ".join(_PULLED_FIXED.get(name) or f"?{_PULLED_BOUND.index(name) + 1}"
                       for name in order)
    sql = str(compiled)
    positional = "VALUES (" + ", ".join(["?"] * len(order)) + ")"
    if sql.count(positional) != 1:
        raise RuntimeError(f"unexpected statement {sql}")
    return sql.replace(positional, f"VALUES ({values})")


PULLED_UPSERT = _pulled_upsert()


def apply_changes(
    conn: sqlite3.Connection, registry: SchemaRegistry,
    changes: Sequence[FeedEntry], last_seq: int, node_id: str, now: str,
    count_new: bool = False,
) -> list[str]:
    """Apply a page of the hub's feed and save the cursor, in the caller's transaction.

    The echo of this node's own op confirms it (removes it from the outbox: the hub applied
    it even if its answer to the push was lost). Returns the ids the page touched.

    ``count_new``: the records this page adds are counted here in ``sync_counts``, not by
    its insert trigger (a bulk load: :func:`agent.store.dataset.start_bulk`).
    """
    latest: dict[str, FeedEntry] = {}
    for change in changes:
        latest[change.id] = change  # a page may hold several versions of one record
    own = [c for c in changes if c.node_id == node_id and c.op_id]
    skip: set[str] = set()
    if own:
        # Most echoes were confirmed already by the push's answer: their op left the outbox
        # and the record has that version. Only the others need work.
        queued = _existing(conn, "SELECT op_id FROM outbox WHERE op_id IN ({})",
                           [c.op_id for c in own if c.op_id])
        confirmed = [c for c in own if c.op_id in queued]
        if confirmed:
            conn.executemany("DELETE FROM outbox WHERE op_id = ?",
                             [(c.op_id,) for c in confirmed])
            conn.executemany(
                "UPDATE records SET version = ? WHERE id = ? AND "
                "(version IS NULL OR version < ?)",
                [(c.version, c.id, c.version) for c in confirmed])
            settle_records(conn, sorted({c.id for c in confirmed}))
        held = dict(_pairs(conn, "SELECT id, version FROM records WHERE id IN ({})",
                           sorted({c.id for c in own})))
        skip = {c.id for c in own
                if c.id in held and held[c.id] is not None and held[c.id] >= latest[c.id].version}
    # Every other change goes through the upsert, our own echoes too: a record of ours that
    # the node no longer holds (a data dir restored from an older backup) comes back.
    rows_in = [_row_of(registry, c, now) for rid, c in latest.items() if rid not in skip]
    if rows_in:
        held_before = (conn.execute(_HELD, (_json_list(r[0] for r in rows_in),)).fetchone()[0]
                       if count_new else len(rows_in))
        conn.executemany(PULLED_UPSERT, rows_in)
        if held_before < len(rows_in):  # every pulled record is new as synced (_row_of)
            conn.execute(_COUNT_SYNCED, (SyncState.SYNCED, len(rows_in) - held_before))
    _refresh_cloud_copies(conn, registry, latest)
    rows.set_meta(conn, "cursor", last_seq)
    rows.set_meta(conn, "last_pull_at", now)
    return [rid for rid in latest if rid not in skip]


_HELD = "SELECT count(*) FROM records WHERE id IN (SELECT value FROM json_each(?))"
_COUNT_SYNCED = ("INSERT INTO sync_counts (state, n) VALUES (?, ?) "
                 "ON CONFLICT (state) DO UPDATE SET n = n + excluded.n")


def _refresh_cloud_copies(conn: sqlite3.Connection, registry: SchemaRegistry,
                          latest: dict[str, FeedEntry]) -> None:
    """A record with ops waiting in the outbox keeps the hub's newest version as the cloud's
    copy (``sync_details.current``). The upsert leaves such a record alone while the cursor
    moves on, so without this a change the hub made after the refusal was never seen again and
    ``take_cloud`` installed an outdated copy as ``synced``. A record still to be pushed keeps
    it too: its refusal may come back older than what the pull saw (the answer stored after
    the pull, or replayed after a lost answer), and then the newer copy wins."""
    if conn.execute("SELECT 1 FROM outbox LIMIT 1").fetchone() is None:
        return  # nothing waits (a first download): no record to look up
    waiting = _select_in(
        conn, "SELECT id, sync_details, sync_state, version FROM records r WHERE id IN ({}) "
        "AND EXISTS (SELECT 1 FROM outbox o WHERE o.record_id = r.id)", sorted(latest))
    updates: list[tuple[str, str]] = []
    for record_id, raw, state, version in waiting:
        change = latest[record_id]
        details = rows.loads(raw) or {}
        current = details.get("current") or {}
        if current.get("version") is not None and int(current["version"]) >= change.version:
            continue
        if state not in RESOLVABLE and change.version <= (version or 0):
            continue  # nothing newer than the version its ops are based on
        data = change.data or {}
        key = (registry.get(change.collection).key_of(data)
               if data and change.collection in registry else current.get("key", ""))
        details["current"] = {"id": record_id, "collection": change.collection, "key": key,
                              "data": data, "deleted": change.deleted,
                              "version": change.version, "seq": change.seq}
        if "kind" in details and change.collection in registry:
            # A conflict shows the newest cloud copy, and what now clashes with it (S9).
            row = rows.fetch(conn, record_id)
            if row is not None:
                seen = conflicts.view(conn, registry.get(change.collection), row,
                                      details["current"])
                if seen is not None:
                    details.update({k: seen[k] for k in ("cloud", "fields", "kind")})
        updates.append((rows.dumps(details), record_id))
    conn.executemany("UPDATE records SET sync_details = ? WHERE id = ?", updates)


def _pairs(conn: sqlite3.Connection, sql: str, values: Sequence[Any]) -> list[tuple[Any, Any]]:
    found: list[tuple[Any, Any]] = []
    for chunk in _chunks(list(values)):
        found += conn.execute(sql.format(",".join("?" * len(chunk))), list(chunk)).fetchall()
    return found


def _select_in(conn: sqlite3.Connection, sql: str, values: Sequence[Any]) -> list[Any]:
    found: list[Any] = []
    for chunk in _chunks(list(values)):
        found += conn.execute(sql.format(",".join("?" * len(chunk))), list(chunk)).fetchall()
    return found


def _existing(conn: sqlite3.Connection, sql: str, values: Sequence[Any]) -> set[Any]:
    found: set[Any] = set()
    for chunk in _chunks(list(values)):
        found.update(r[0] for r in conn.execute(
            sql.format(",".join("?" * len(chunk))), list(chunk)))
    return found


def _row_of(registry: SchemaRegistry, change: FeedEntry, now: str) -> tuple[Any, ...]:
    if isinstance(change, SnapshotRow) and change.key is not None:
        # the text stored as the hub wrote it, its key and date as the hub holds them (in
        # this node's key form): the same as parsing it, writing it out and folding its key
        known = change.collection in registry
        key = change.key if known and change.text != "{}" else ""
        return (change.id, change.collection, key, change.text, int(change.deleted),
                change.version, change.date if known else None, now)
    data = change.data or {}
    key, date = "", None
    if change.collection in registry:
        schema = registry.get(change.collection)
        key = schema.key_of(data) if data else ""
        date = schema.date_of(data)
    # In _PULLED_BOUND order (local_rev 1 for a new record: the upsert bumps an old one's).
    return (change.id, change.collection, key, rows.dumps(data), int(change.deleted),
            change.version, date, now)
