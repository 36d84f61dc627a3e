"""Record, feed, digest and lease operations: synchronous SQLAlchemy Core on one connection.

Called on executor threads by :class:`hub.store.HubStore`; never on the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from hub.db import changes, datasets, op_results, records, series
from hub.push import Plan, Planner, Row, prepare_batch
from protocol.digest import digest_buckets
from protocol.errors import ErrorCode, ProtocolError
from protocol.i18n import Lang
from protocol.models import Op

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


def _load_rows(conn: sa.Connection, dataset: str, ids: set[str]) -> dict[str, Row]:
    if not ids:
        return {}
    stmt = sa.select(*_ROW_COLS).where(records.c.dataset == dataset, records.c.id.in_(ids))
    return {r.id: _row(r) for r in conn.execute(stmt)}


def _load_key_owners(
    conn: sa.Connection, dataset: str, keys: dict[str, set[str]], rows: dict[str, Row]
) -> dict[tuple[str, str], str]:
    owners: dict[tuple[str, str], str] = {}
    for collection, wanted in keys.items():
        stmt = sa.select(*_ROW_COLS).where(
            records.c.dataset == dataset, records.c.collection == collection,
            records.c.key.in_(wanted), records.c.deleted.is_(False),
        )
        for r in conn.execute(stmt):
            rows.setdefault(r.id, _row(r))
            owners[(collection, r.key)] = r.id
    return owners


def _load_replays(conn: sa.Connection, dataset: str, op_ids: list[str]) -> dict[str, Any]:
    stmt = sa.select(op_results.c.op_id, op_results.c.result).where(
        op_results.c.dataset == dataset, op_results.c.op_id.in_(set(op_ids))
    )
    return {r.op_id: orjson.loads(r.result) for r in conn.execute(stmt)}


def push(
    conn: sa.Connection, dataset: str, node_id: str, ops: list[Op], lang: Lang, postgres: bool
) -> list[dict[str, Any]]:
    """Apply ``ops`` in order inside the caller's transaction; answer one result per op."""
    batch = prepare_batch(ops)
    last_seq = lock_dataset(conn, dataset)
    replays = _load_replays(conn, dataset, batch.op_ids)
    rows = _load_rows(conn, dataset, batch.ids)
    owners = _load_key_owners(conn, dataset, batch.keys, rows)
    in_db = set(rows)
    plan = Planner(node_id, rows, owners, replays, last_seq, lang).run(batch)
    _write_plan(conn, dataset, plan, in_db)
    if plan.changes and postgres:
        conn.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, dataset)))
    return plan.results


_INSERT_RESULT = op_results.insert().values(
    {c.name: sa.bindparam(c.name) for c in op_results.columns})
_INSERT_RECORD = records.insert().values({c.name: sa.bindparam(c.name) for c in records.columns})
_INSERT_CHANGE = changes.insert().values({c.name: sa.bindparam(c.name) for c in changes.columns})
_UPDATE_RECORD = records.update().where(
    records.c.dataset == sa.bindparam("b_ds"), records.c.id == sa.bindparam("b_id")
).values({c: sa.bindparam(c) for c in (
    "collection", "key", "date", "data", "deleted", "version", "seq")})
_compiled_cache: dict[tuple[str, int], tuple[str, tuple[str, ...] | None]] = {}


def _executemany(conn: sa.Connection, stmt: sa.ClauseElement, rows: list[dict[str, Any]]) -> None:
    """``cursor.executemany`` of a Core statement compiled once per dialect: SQLAlchemy's
    per-row parameter processing costs more than SQLite's insert itself on this path."""
    cache_key = (conn.dialect.name, id(stmt))
    if cache_key not in _compiled_cache:
        compiled: Any = stmt.compile(dialect=conn.dialect)
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        _compiled_cache[cache_key] = (str(compiled), order)
    sql, order = _compiled_cache[cache_key]
    if order is None:
        conn.exec_driver_sql(sql, rows)
    else:
        conn.exec_driver_sql(sql, [tuple(row[name] for name in order) for row in rows])


def _write_plan(conn: sa.Connection, dataset: str, plan: Plan, in_db: set[str]) -> None:
    if plan.new_results:
        _executemany(conn, _INSERT_RESULT,
                     [{"dataset": dataset, **r} for r in plan.new_results])
    if not plan.changes:
        return
    inserts, updates = [], []
    for row in plan.rows.values():
        values = {
            "collection": row.collection, "key": row.key, "date": row.date,
            "data": row.data_json, "deleted": row.deleted, "version": row.version,
            "seq": row.seq,
        }
        if row.id in in_db:
            updates.append({"b_ds": dataset, "b_id": row.id, **values})
        else:
            inserts.append({"dataset": dataset, "id": row.id, **values})
    if inserts:
        _executemany(conn, _INSERT_RECORD, inserts)
    if updates:
        _executemany(conn, _UPDATE_RECORD, updates)
    _executemany(conn, _INSERT_CHANGE, [{"dataset": dataset, **c} for c in plan.changes])
    conn.execute(
        datasets.update().where(datasets.c.id == dataset).values(last_seq=plan.last_seq)
    )


def changes_page(conn: sa.Connection, dataset: str, since: int, limit: int) -> bytes | None:
    """The feed page as ready JSON bytes, or ``None`` when there is nothing after ``since``."""
    stmt = (
        sa.select(
            changes.c.seq, changes.c.collection, changes.c.id, changes.c.version,
            changes.c.deleted, changes.c.data, changes.c.op_id, changes.c.node_id,
        )
        .where(changes.c.dataset == dataset, changes.c.seq > since)
        .order_by(changes.c.seq)
        .limit(limit + 1)
    )
    rows = conn.execute(stmt).all()
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
    return orjson.dumps(
        {"changes": items, "last_seq": items[-1]["seq"], "has_more": has_more}
    )


def get_record(conn: sa.Connection, dataset: str, collection: str, id: str) -> dict[str, Any]:
    stmt = sa.select(*_ROW_COLS).where(records.c.dataset == dataset, records.c.id == id)
    r = conn.execute(stmt).first()
    if r is None or r.collection != collection:
        raise ProtocolError(ErrorCode.NOT_FOUND, {"what": f"{collection}/{id}"},
                            {"collection": collection, "id": id})
    return _row(r).as_json()


@dataclass(frozen=True)
class RecordQuery:
    collection: str
    key: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    after: str | None = None
    limit: int = 500
    include_deleted: bool = False


def list_records(conn: sa.Connection, dataset: str, q: RecordQuery) -> dict[str, Any]:
    where = [records.c.dataset == dataset, records.c.collection == q.collection]
    if q.key is not None:
        where.append(records.c.key == q.key)
    if q.date_from is not None:
        where.append(records.c.date >= q.date_from)
    if q.date_to is not None:
        where.append(records.c.date <= q.date_to)
    if q.after is not None:
        where.append(records.c.id > q.after)
    if not q.include_deleted:
        where.append(records.c.deleted.is_(False))
    stmt = sa.select(*_ROW_COLS).where(*where).order_by(records.c.id).limit(q.limit + 1)
    rows = [_row(r) for r in conn.execute(stmt)]
    more = len(rows) > q.limit
    items = [r.as_json() for r in rows[: q.limit]]
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
