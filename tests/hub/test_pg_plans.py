"""PostgreSQL: the push's lookups are index scans of the ids and keys asked for, in a large
dataset whether or not autovacuum has analyzed it yet, so a push costs the same in a dataset
of 100,000 records as in a small one (the IN-list lookups were planned as scans of the whole
dataset: a bitmap scan on ``dataset`` alone, or a sequential scan).

Below a few tens of thousands of records the planner may still prefer one pass over the
dataset's entries of another index to 1,000 probes; that costs a few milliseconds at most and
stops as the dataset grows, which is what these tests pin down."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import event

from hub import nodes, records
from hub.db import create_schema
from hub.store import HubStore
from protocol.models import Action, Op

pytestmark = pytest.mark.postgres
DS, SEEDED = "cty-plans", 100_000


def _seed(pg_url: str, analyze: bool) -> None:
    """``SEEDED`` customers written straight into the tables (as a restored dump would)."""
    store = HubStore(pg_url)
    try:
        create_schema(store.engine)
        store.transaction(nodes.create_dataset, DS, write=True)
        with store.engine.connect() as conn, conn.begin():
            conn.exec_driver_sql(
                "INSERT INTO hub_records (dataset, id, collection, \"key\", \"date\", data,"
                " deleted, version, seq) SELECT %s, gen_random_uuid()::text, 'customers',"
                " 'KH' || g, NULL, '{}', false, 1, g FROM generate_series(1, %s) g",
                (DS, SEEDED))
            conn.exec_driver_sql(
                "INSERT INTO hub_op_results (dataset, op_id, result) SELECT %s,"
                " gen_random_uuid()::text, '{}' FROM generate_series(1, %s) g", (DS, SEEDED))
            conn.exec_driver_sql("UPDATE hub_datasets SET last_seq = %s WHERE id = %s",
                                 (SEEDED, DS))
            if analyze:
                conn.exec_driver_sql("ANALYZE hub_records")
    finally:
        store.engine.dispose()


def _push_and_explain(pg_url: str) -> list[str]:
    """Push 1,000 creates (and an update of a seeded record) through the hub's push code;
    return the plan of every lookup it ran on ``hub_records`` and ``hub_op_results`` (the
    replays), as PostgreSQL planned it in
    that transaction."""
    store = HubStore(pg_url)  # opening it is what a hub does at start
    plans: list[str] = []

    def explain(_conn: Any, cursor: Any, statement: str, params: Any, _ctx: Any,
                many: bool) -> None:
        looked_up = "FROM hub_records" in statement or "FROM hub_op_results" in statement
        if not many and statement.startswith("SELECT") and looked_up:
            rows = cursor.connection.execute("EXPLAIN " + statement, params).fetchall()
            plans.append("\n".join(r[0] for r in rows))

    try:
        create_schema(store.engine)
        seeded = store.transaction(lambda c: c.exec_driver_sql(
            "SELECT id FROM hub_records WHERE dataset = %s LIMIT 1", (DS,)).scalar())
        event.listen(store.engine, "before_cursor_execute", explain)
        ops = [Op(op_id=str(uuid.uuid4()), collection="customers", id=str(uuid.uuid4()),
                  action=Action.CREATE, data={"code": f"NEW{i}", "name": f"Cong ty {i}"})
               for i in range(1000)]
        ops.append(Op(op_id=str(uuid.uuid4()), collection="customers", id=seeded,
                      action=Action.UPDATE, base_version=1,
                      data={"code": "KH1", "name": "Renamed"}))
        results = store.transaction(records.push, DS, "node-1", ops, "en", True, write=True)
        assert all(r.applied for r in results)
    finally:
        event.remove(store.engine, "before_cursor_execute", explain)
        store.engine.dispose()
    return plans


@pytest.mark.parametrize("analyzed", [True, False], ids=["analyzed", "never-analyzed"])
def test_push_lookups_are_index_scans_of_the_ids_and_keys(pg_url: str, analyzed: bool) -> None:
    _seed(pg_url, analyzed)
    plans = _push_and_explain(pg_url)
    by_id = [p for p in plans if "(id)::text = ANY" in p]
    by_key = [p for p in plans if "key)::text = ANY" in p]
    replays = [p for p in plans if "hub_op_results" in p]
    assert by_id and by_key and replays, plans
    for plan in plans:  # on the old code: Bitmap Heap Scan (never analyzed) or Seq Scan
        assert "Seq Scan" not in plan and "Bitmap" not in plan, plan
    for plan in by_id:  # the primary key, with the ids as its condition
        assert "hub_records_pkey" in plan and "Index Cond" in plan, plan
        assert "ANY" in plan.split("Index Cond", 1)[1].split("\n", 1)[0], plan
    for plan in by_key:
        assert "ix_hub_records_key" in plan, plan
        assert "ANY" in plan.split("Index Cond", 1)[1].split("\n", 1)[0], plan
    for plan in replays:  # one probe of the primary key per op id, never a filter
        assert "hub_op_results_pkey" in plan and "op_id)::text = w.v" in plan, plan
        assert "Filter" not in plan, plan


def test_feed_page_is_read_in_key_order_from_a_never_analyzed_feed(pg_url: str) -> None:
    """A first download of a large dataset reads the feed a page at a time; each page is an
    index scan from ``since`` (it was a bitmap scan of every later change, and a sort)."""
    store = HubStore(pg_url)
    plans: list[str] = []

    def explain(_conn: Any, cursor: Any, statement: str, params: Any, _ctx: Any,
                many: bool) -> None:
        if statement.startswith("SELECT seq") and "FROM hub_changes" in statement:
            rows = cursor.connection.execute("EXPLAIN " + statement, params).fetchall()
            plans.append("\n".join(r[0] for r in rows))

    try:
        create_schema(store.engine)
        store.transaction(nodes.create_dataset, DS, write=True)
        with store.engine.connect() as conn, conn.begin():
            conn.exec_driver_sql(
                "INSERT INTO hub_changes (dataset, seq, collection, id, version, deleted, data,"
                " op_id, node_id) SELECT %s, g, 'customers', gen_random_uuid()::text, 1, false,"
                " '{}', gen_random_uuid()::text, 'node-1' FROM generate_series(1, %s) g",
                (DS, SEEDED))
        event.listen(store.engine, "before_cursor_execute", explain)
        page = store.transaction(records.changes_page, DS, 1000, 1000)
    finally:
        event.remove(store.engine, "before_cursor_execute", explain)
        store.engine.dispose()
    assert page is not None and b'"seq":1001' in page
    [plan] = plans
    assert "Index Scan using hub_changes_pkey" in plan and "Sort" not in plan, plan
    assert "Bitmap" not in plan and "Seq Scan" not in plan, plan
