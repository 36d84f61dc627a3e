"""Record, feed, digest and lease operations: synchronous SQLAlchemy Core on one connection.

Called on executor threads by :class:`hub.store.HubStore`; never on the event loop.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import sqlalchemy as sa

from hub import bulk
from hub.db import changes, datasets, meta, op_results, records, series
from hub.push import Batch, Plan, Planner, PushResult, Row, prepare_batch
from protocol.accounting import ACCOUNTING_PACK
from protocol.digest import digest_buckets
from protocol.errors import ErrorCode, ProtocolError
from protocol.i18n import Lang, Text
from protocol.models import SNAPSHOT_ROWS, Op
from protocol.query import RecordQuery
from protocol.text import KEY_FORM

NOTIFY_CHANNEL = "officesync_hub_changes"
_ROW_COLS = (
    records.c.id, records.c.collection, records.c.key, records.c.date, records.c.data,
    records.c.deleted, records.c.version, records.c.seq,
)


def _row(r: Any) -> Row:
    return Row(r.id, r.collection, r.key, r.date, r.data, bool(r.deleted), r.version, r.seq)


def lock_dataset(conn: sa.Connection, dataset: str) -> int:
    """Take the dataset's writer lock (row lock on PostgreSQL) and return its last seq."""
    stmt = sa.select(datasets.c.last_seq).where(datasets.c.id == dataset).with_for_update()
    last = conn.execute(stmt).scalar()
    if last is None:
        raise ProtocolError(ErrorCode.DATASET_NOT_FOUND, {"dataset": dataset},
                            {"dataset": dataset})
    return int(last)


_ROW_SELECT = 'SELECT id, collection, "key", "date", data, deleted, version, seq FROM hub_records'
_ROWS_BY_ID = _ROW_SELECT + " WHERE dataset = {m} AND id IN ({ids})"
_ROWS_BY_KEY = _ROW_SELECT + (
    ' WHERE dataset = {m} AND collection = {m} AND NOT deleted AND "key" IN ({ids})')
_REPLAYS = "SELECT op_id, result FROM hub_op_results WHERE dataset = {m} AND op_id IN ({ids})"
# PostgreSQL: one probe of the primary key per op id (hub_op_results is never analyzed by the
# hub, and has no other index the planner could prefer).
_REPLAYS_PG = ("SELECT r.op_id, r.result FROM unnest(%s::text[]) AS w(v) CROSS JOIN LATERAL"
               " (SELECT op_id, result FROM hub_op_results WHERE dataset = %s AND op_id = w.v"
               " OFFSET 0) AS r")
_RECORD_COLS = ("dataset", "id", "collection", "key", "date", "data", "deleted", "version", "seq")
_RECORD_SET = ("collection", "key", "date", "data", "deleted", "version", "seq")
_CHANGE_COLS = ("dataset", "seq", "collection", "id", "version", "deleted", "data", "op_id",
                "node_id", "workstation", "applied_at")
_RESULT_COLS = ("dataset", "op_id", "result")


_INDEX_ONLY_PLANS = ("SELECT set_config('enable_seqscan', 'off', true), "
                     "set_config('enable_bitmapscan', 'off', true), "
                     "set_config('random_page_cost', '1.1', true)")


def _raw_row(r: Any) -> Row:
    return Row(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7])


def _load_rows(conn: sa.Connection, dataset: str, ids: set[str]) -> dict[str, Row]:
    return {r[0]: _raw_row(r) for r in bulk.select_in(conn, _ROWS_BY_ID, (dataset,), ids)}


def _load_key_owners(
    conn: sa.Connection, dataset: str, keys: dict[str, set[str]], rows: dict[str, Row]
) -> dict[tuple[str, str], str]:
    owners: dict[tuple[str, str], str] = {}
    for collection, wanted in keys.items():
        for r in bulk.select_in(conn, _ROWS_BY_KEY, (dataset, collection), wanted):
            rows.setdefault(r[0], _raw_row(r))
            owners[(collection, r[2])] = r[0]
    return owners


def _load_replays(conn: sa.Connection, dataset: str,
                  op_ids: list[str]) -> dict[str, PushResult]:
    return {r[0]: PushResult.from_json(orjson.loads(r[1]))
            for r in bulk.select_in(conn, _REPLAYS, (dataset,), op_ids, _REPLAYS_PG)}


class AlreadyThere(Exception):
    """An optimistic push (:func:`push`) met a primary key its lookups had skipped: an op id
    answered before, or a create of an id the hub holds. Raised before anything of the batch
    is kept (the caller's transaction rolls back); push the batch again with ``optimistic``
    off."""


def push(
    conn: sa.Connection, dataset: str, node_id: str, ops: list[Op], lang: Lang, postgres: bool,
    batch: Batch | None = None, optimistic: bool = False,
) -> list[PushResult]:
    """Apply ``ops`` in order inside the caller's transaction; answer one result per op.

    ``batch`` is ``prepare_batch(ops)`` when the caller validated it already (the store does,
    off the writer thread, so one batch is validated while the last one commits).

    ``optimistic`` skips the two lookups that almost never find anything: the op ids among
    the answers given before (a replay: the node lost an answer and sends the batch again) and
    the ids of the creates among the records (the node makes a fresh UUID for each). The
    primary keys of ``hub_op_results`` and ``hub_records`` are those checks then: a row
    already there fails the insert, and :class:`AlreadyThere` is raised for the caller to
    push again with every lookup, which answers exactly as it always did. On PostgreSQL the
    two lookups were a quarter of the push's time (1,000 index probes each)."""
    batch = prepare_batch(ops) if batch is None else batch
    last_seq = lock_dataset(conn, dataset)
    if postgres:
        # The lookups below are index scans whatever the statistics say (bulk.select_in):
        # never a scan of the whole dataset, whose cost grows with it.
        conn.exec_driver_sql(_INDEX_ONLY_PLANS)
    replays = {} if optimistic else _load_replays(conn, dataset, batch.op_ids)
    rows = _load_rows(conn, dataset, batch.checked_ids if optimistic else batch.ids)
    owners = _load_key_owners(conn, dataset, batch.keys, rows)
    in_db = set(rows)
    plan = Planner(node_id, rows, owners, replays, last_seq, lang).run(batch)
    workstations = {op.op_id: op.workstation for op in ops}
    try:
        _write_plan(conn, dataset, plan, in_db, workstations, postgres)
    except sa.exc.IntegrityError as err:
        if optimistic:
            raise AlreadyThere from err
        raise
    return plan.results


# PostgreSQL: the feed's new head and the wake-up of every hub instance (delivered at
# commit), one statement.
_HEAD_AND_NOTIFY = ("WITH d AS (UPDATE hub_datasets SET last_seq = %s WHERE id = %s"
                    " RETURNING id) SELECT pg_notify(%s, d.id) FROM d")


def _write_plan(conn: sa.Connection, dataset: str, plan: Plan, in_db: set[str],
                workstations: dict[str, str | None], postgres: bool) -> None:
    """The plan in one ``executemany`` per table (and one for updated records); each feed
    row keeps the workstation named on its op and when it was applied (the history)."""
    bulk.insert_many(conn, op_results, _RESULT_COLS,
                     [(dataset, op_id, result) for op_id, result in plan.new_results])
    if not plan.changes:
        return
    changed = plan.rows.values()
    bulk.insert_many(conn, records, _RECORD_COLS, [
        (dataset, r.id, r.collection, r.key, r.date, r.data_json, r.deleted, r.version, r.seq)
        for r in changed if r.id not in in_db
    ])
    bulk.update_many(conn, records, _RECORD_SET, ("dataset", "id"), [
        (r.collection, r.key, r.date, r.data_json, r.deleted, r.version, r.seq, dataset, r.id)
        for r in changed if r.id in in_db
    ])
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    bulk.insert_many(conn, changes, _CHANGE_COLS,
                     [(dataset, *c, workstations.get(c[6]), at) for c in plan.changes])
    if postgres:
        conn.exec_driver_sql(_HEAD_AND_NOTIFY, (plan.last_seq, dataset, NOTIFY_CHANNEL))
        return
    conn.execute(
        datasets.update().where(datasets.c.id == dataset).values(last_seq=plan.last_seq)
    )


_HEAD = "SELECT last_seq FROM hub_datasets WHERE id = {m}"  # the feed's head
_CHANGES_PAGE = (
    "SELECT seq, collection, id, version, deleted, data, op_id, node_id FROM hub_changes"
    " WHERE dataset = {m} AND seq > {m} ORDER BY seq LIMIT {m}"
)


def changes_page(conn: sa.Connection, dataset: str, since: int, limit: int) -> bytes | None:
    """The feed page as ready JSON bytes, or ``None`` when there is nothing after ``since``.

    Stored ``data`` is JSON text already: it is spliced in as is, never parsed.

    PostgreSQL: the page is read in primary-key order, never planned as a bitmap scan of
    every change after ``since`` and a sort (what a never-analyzed ``hub_changes`` got: 1.25 s
    a page at 750,000 changes, falling only as ``since`` approaches the end)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_INDEX_ONLY_PLANS)
    sql = _CHANGES_PAGE.format(m=bulk.marker(conn))
    rows = conn.exec_driver_sql(sql, (dataset, since, limit + 1)).all()
    if not rows:
        return None
    has_more = len(rows) > limit
    items = [
        {
            "seq": r[0], "collection": r[1], "id": r[2], "version": r[3], "deleted": bool(r[4]),
            "data": orjson.Fragment(r[5]), "op_id": r[6], "node_id": r[7],
        }
        for r in rows[:limit]
    ]
    head = conn.exec_driver_sql(_HEAD.format(m=bulk.marker(conn)), (dataset,)).scalar()
    return orjson.dumps({"changes": items, "last_seq": items[-1]["seq"], "has_more": has_more,
                         "head_seq": max(int(head or 0), items[-1]["seq"])})


_SNAPSHOT_PAGE = (
    'SELECT seq, collection, id, version, deleted, "key", "date", data FROM hub_records'
    " WHERE dataset = {m} AND id > {m} ORDER BY id LIMIT {m}"
)
_COUNT = "SELECT count(*) FROM hub_records WHERE dataset = {m}"


def snapshot_page(conn: sa.Connection, dataset: str, after: str | None, limit: int,
                  form: str | None = None) -> bytes:
    """A page of the dataset's records in id order, each at its latest version (tombstones
    too), after the id ``after`` (``None``: from the first), as ready JSON bytes.

    ``form`` :data:`SNAPSHOT_ROWS` (what a node asks for) writes each record as the array
    ``[seq, collection, id, version, deleted, key, date, data]`` under ``rows``, ``data`` the
    stored JSON text as a string, the keys' form in ``key_form``: the node stores the text
    as it comes and takes the key and date the hub holds, instead of parsing every record's
    data, writing it out again and folding its key (23 ms of a page of 2,500 against 3 ms).
    Without it, ``records`` holds objects, ``data`` as an object (what older nodes read).

    ``head_seq`` is read before the rows: every change up to it is in this page and the
    ones after it (a record changed later shows a newer version, or none older), so a node
    that reads every page and then the feed from the first page's ``head_seq`` misses
    nothing. ``total`` (the dataset's records) is counted on the first page only.

    PostgreSQL: the page is read along the primary key (dataset, id) from ``after``, never
    planned as a scan of the dataset and a sort."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_INDEX_ONLY_PLANS)
    m = bulk.marker(conn)
    head = conn.exec_driver_sql(_HEAD.format(m=m), (dataset,)).scalar()
    total = None
    if after is None:
        total = int(conn.exec_driver_sql(_COUNT.format(m=m), (dataset,)).scalar() or 0)
    rows = conn.exec_driver_sql(_SNAPSHOT_PAGE.format(m=m),
                                (dataset, after or "", limit + 1)).all()
    more = len(rows) > limit
    if form == SNAPSHOT_ROWS:
        page = [(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7]) for r in rows[:limit]]
        return orjson.dumps({"form": SNAPSHOT_ROWS, "key_form": KEY_FORM, "rows": page,
                             "next": page[-1][2] if more else None,
                             "head_seq": int(head or 0), "total": total})
    items = [
        {
            "seq": r[0], "collection": r[1], "id": r[2], "version": r[3], "deleted": bool(r[4]),
            "data": orjson.Fragment(r[7]),
        }
        for r in rows[:limit]
    ]
    return orjson.dumps({"records": items, "next": items[-1]["id"] if more else None,
                         "head_seq": int(head or 0), "total": total})


def get_record(conn: sa.Connection, dataset: str, collection: str, id: str) -> dict[str, Any]:
    stmt = sa.select(*_ROW_COLS).where(records.c.dataset == dataset, records.c.id == id)
    r = conn.execute(stmt).first()
    if r is None or r.collection != collection:
        raise ProtocolError(ErrorCode.NOT_FOUND,
                            {"what": Text(f"bản ghi {collection}/{id}",
                                          f"Record {collection}/{id}")},
                            {"collection": collection, "id": id})
    return _row(r).as_json()


DEFAULT_LIMIT = 500  # the hub's page size when the query gives none


def list_records(conn: sa.Connection, dataset: str, collection: str, q: RecordQuery,
                 include_deleted: bool = False) -> dict[str, Any]:
    """One page of ``collection`` in id order; filters on ``key`` (already in its normal
    form), the dates, ``limit`` and ``after`` (the last id of the previous page)."""
    where = [records.c.dataset == dataset, records.c.collection == collection]
    if q.key is not None:
        where.append(records.c.key == q.key)
    if q.date_from is not None:
        where.append(records.c.date >= q.date_from)
    if q.date_to is not None:
        where.append(records.c.date <= q.date_to)
    if q.after is not None:
        where.append(records.c.id > q.after)
    if not include_deleted:
        where.append(records.c.deleted.is_(False))
    limit = DEFAULT_LIMIT if q.limit is None else q.limit
    stmt = sa.select(*_ROW_COLS).where(*where).order_by(records.c.id).limit(limit + 1)
    rows = [_row(r) for r in conn.execute(stmt)]
    more = len(rows) > limit
    items = [r.as_json() for r in rows[:limit]]
    return {"items": items, "next": items[-1]["id"] if more else None}


def digest(
    conn: sa.Connection, dataset: str, collection: str, date_from: str, date_to: str
) -> dict[str, Any]:
    stmt = sa.select(records.c.date, records.c.id, records.c.version).where(
        records.c.dataset == dataset, records.c.collection == collection,
        records.c.date >= date_from, records.c.date <= date_to, records.c.deleted.is_(False),
    )
    buckets = digest_buckets((r.date, r.id, r.version) for r in conn.execute(stmt))
    return {"buckets": [b.model_dump() for b in buckets]}


def lease(conn: sa.Connection, dataset: str, name: str, count: int) -> dict[str, Any]:
    """Reserve ``count`` numbers of series ``name``; blocks never overlap (dataset lock)."""
    lock_dataset(conn, dataset)
    key = (series.c.dataset == dataset) & (series.c.series == name)
    start = conn.execute(sa.select(series.c.next).where(key)).scalar()
    if start is None:
        start = 1
        conn.execute(series.insert().values(dataset=dataset, series=name, next=1 + count))
    else:
        conn.execute(series.update().where(key).values(next=start + count))
    return {"series": name, "start": int(start), "end": int(start) + count - 1}


_KEY_BATCH = 5000


def _key_updates(rows: list[Any]) -> list[dict[str, str]]:
    updates = []
    for r in rows:
        if r.collection in ACCOUNTING_PACK:
            folded = ACCOUNTING_PACK.get(r.collection).normalise_key(r.key)
            if folded != r.key:
                updates.append({"d": r.dataset, "i": r.id, "k": folded})
    return updates


def upgrade_key_form(engine: sa.Engine) -> int:
    """Once per database: put keys stored by an older hub (``kh001``, ``ＫＨ００１``) in the
    comparison form new pushes use, so the unique-key check finds them. Returns the number
    of keys changed; idempotent (two hubs starting at once both find nothing left to do)."""
    with engine.connect() as conn:
        done = conn.execute(sa.select(meta.c.value).where(meta.c.key == "key_form")).scalar()
    if done == KEY_FORM:
        return 0
    changed, after = 0, ("", "")
    update = sa.update(records).where(
        records.c.dataset == sa.bindparam("d"), records.c.id == sa.bindparam("i")
    ).values(key=sa.bindparam("k"))
    while True:
        with engine.connect().execution_options(write=True) as conn, conn.begin():
            rows = conn.execute(
                sa.select(records.c.dataset, records.c.id, records.c.collection, records.c.key)
                .where(sa.tuple_(records.c.dataset, records.c.id) > sa.tuple_(*after))
                .order_by(records.c.dataset, records.c.id).limit(_KEY_BATCH)
            ).all()
            updates = _key_updates(list(rows))
            if updates:
                conn.execute(update, updates)
            changed += len(updates)
        if len(rows) < _KEY_BATCH:
            break
        after = (rows[-1].dataset, rows[-1].id)
    try:
        with engine.connect().execution_options(write=True) as conn, conn.begin():
            conn.execute(sa.delete(meta).where(meta.c.key == "key_form"))
            conn.execute(sa.insert(meta).values(key="key_form", value=KEY_FORM))
    except sa.exc.IntegrityError:
        pass  # another hub on the same database recorded it first
    return changed
