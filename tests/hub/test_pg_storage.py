"""PostgreSQL: what a push costs the server beyond the rows themselves — the date index
holds only records that have a date, ANALYZE samples only the columns the hub's queries
use, one pooled connection (one warm server backend) serves one transaction after another,
and the feed's head and the NOTIFY go in one statement."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from hub import db, nodes, records
from hub.db import create_schema
from hub.records import NOTIFY_CHANNEL
from hub.store import HubStore
from protocol.models import Action, Op

pytestmark = pytest.mark.postgres
DS = "cty-storage"


def _store(pg_url: str) -> HubStore:
    store = HubStore(pg_url)
    create_schema(store.engine)
    store.transaction(nodes.create_dataset, DS, write=True)
    return store


def _create(collection: str, data: dict[str, Any]) -> Op:
    return Op(op_id=str(uuid.uuid4()), collection=collection, id=str(uuid.uuid4()),
              action=Action.CREATE, data=data)


def _customers(count: int, start: int = 0) -> list[Op]:
    return [_create("customers", {"code": f"KH{start + i}", "name": f"Cong ty {i}"})
            for i in range(count)]


def test_the_date_index_holds_only_dated_records_and_serves_the_digest(pg_url: str) -> None:
    store = _store(pg_url)
    plans: list[str] = []

    def explain(_conn: Any, cursor: Any, statement: str, params: Any, _ctx: Any,
                many: bool) -> None:
        if not many and statement.startswith("SELECT") and "hub_records.date >=" in statement:
            rows = cursor.connection.execute("EXPLAIN " + statement, params).fetchall()
            plans.append("\n".join(r[0] for r in rows))

    try:
        accounts = [_create("accounts", {"number": n, "name": f"Tai khoan {n}"})
                    for n in ("111", "131")]
        vouchers = [_create("vouchers", {
            "type": "receipt", "date": f"2024-01-{day:02d}", "number": f"PT{day:06d}",
            "lines": [{"debit": accounts[0].id, "credit": accounts[1].id, "amount": 1000}]})
            for day in range(1, 11)]
        ops = [*accounts, *_customers(500), *vouchers]
        results = store.transaction(records.push, DS, "node-1", ops, "en", True, write=True)
        assert all(r.applied for r in results)
        with store.engine.connect() as conn:
            conn.exec_driver_sql("SET enable_seqscan = off")  # a small table: the index
            conn.exec_driver_sql("SET enable_bitmapscan = off")
            definition = conn.exec_driver_sql(
                "SELECT pg_get_indexdef('ix_hub_records_date'::regclass)").scalar()
            event.listen(conn, "before_cursor_execute", explain)
            digest = records.digest(conn, DS, "vouchers", "2024-01-03", "2024-01-05")
            event.remove(conn, "before_cursor_execute", explain)
    finally:
        store.engine.dispose()
    # the 502 accounts and customers have no date: they are not in it (the old index held
    # every record)
    assert str(definition).endswith('WHERE (date IS NOT NULL)'), definition
    assert sum(b["count"] for b in digest["buckets"]) == 3, digest
    [plan] = plans
    assert "ix_hub_records_date" in plan, plan


def test_analyze_samples_the_queried_columns_not_the_data(pg_url: str) -> None:
    store = _store(pg_url)
    try:
        ops = _customers(300)
        store.transaction(records.push, DS, "node-1", ops, "en", True, write=True)
        assert db.analyze(store.engine) == 300
        with store.engine.connect() as conn:
            analyzed = set(conn.exec_driver_sql(
                "SELECT attname FROM pg_stats WHERE tablename = 'hub_records'"
                " AND schemaname = current_schema()").scalars())
    finally:
        store.engine.dispose()
    assert {"dataset", "id", "collection", "key", "deleted"} <= analyzed, analyzed
    assert "data" not in analyzed, analyzed


def test_one_transaction_after_another_runs_on_the_same_backend(pg_url: str) -> None:
    store = _store(pg_url)

    def backend(conn: sa.Connection) -> int:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() or 0)

    def held(_: int) -> int:  # two at once: the pool holds two connections afterwards
        with store.engine.connect() as conn:
            barrier.wait(timeout=10)
            return backend(conn)

    barrier = threading.Barrier(2)
    try:
        with ThreadPoolExecutor(2) as pool:
            assert len(set(pool.map(held, range(2)))) == 2
        pids = [store.transaction(backend) for _ in range(4)]
    finally:
        store.engine.dispose()
    assert len(set(pids)) == 1, pids  # FIFO went round the pool: two backends in turn


def test_the_head_and_one_notify_come_with_changes_only(pg_url: str) -> None:
    store = _store(pg_url)
    listener = psycopg.connect(store.conninfo, autocommit=True)
    try:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        first = _customers(3)
        store.transaction(records.push, DS, "node-1", first, "en", True, write=True)
        notes = [n.payload for n in listener.notifies(timeout=2, stop_after=1)]
        head = store.transaction(lambda c: c.exec_driver_sql(
            "SELECT last_seq FROM hub_datasets WHERE id = %s", (DS,)).scalar())
        dupes = [_create("customers", {"code": "KH0", "name": "again"})]  # refused: the key
        refused = store.transaction(records.push, DS, "node-1", dupes, "en", True, write=True)
        more = [n.payload for n in listener.notifies(timeout=0.5)]
        after = store.transaction(lambda c: c.exec_driver_sql(
            "SELECT last_seq FROM hub_datasets WHERE id = %s", (DS,)).scalar())
    finally:
        listener.close()
        store.engine.dispose()
    assert notes == [DS] and head == 3
    assert [r.status.value for r in refused] == ["rejected"]
    assert more == [] and after == 3
