"""Full batches: lookups past one IN (...) chunk, batch validation falling back to per-op
errors, and SQLite WAL checkpoints beside the writer."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from hub import bulk
from hub.store import HubStore
from tests.hub.helpers import DS, Node, customer, new_id, op

COUNT = bulk.CHUNK + 100  # every lookup spans two chunks


async def test_lookups_span_chunks(node: Node) -> None:
    ids = [new_id() for _ in range(COUNT)]
    created = await node.push(*[op("create", "customers", cid, customer(f"KH{i:04d}"))
                                for i, cid in enumerate(ids)])
    assert [r["seq"] for r in created] == list(range(1, COUNT + 1))
    updates = [op("update", "customers", cid, customer(f"KH{i:04d}", "Renamed"), base=1)
               for i, cid in enumerate(ids)]
    updated = await node.push(*updates)
    assert {(r["status"], r["version"]) for r in updated} == {("applied", 2)}
    duplicates = await node.push(*[op("create", "customers", new_id(), customer(f"KH{i:04d}"))
                                   for i in range(COUNT)])
    assert {r["error"]["code"] for r in duplicates} == {"DUPLICATE_KEY"}
    assert {r["error"]["details"]["existing"]["version"] for r in duplicates} == {2}
    replayed = await node.push(*updates)
    assert replayed == [{**r, "replayed": True} for r in updated]
    page = await node.changes(limit=5000)
    assert [c["seq"] for c in page["changes"]] == list(range(1, 2 * COUNT + 1))
    assert page["changes"][-1]["data"]["name"] == "Renamed"


async def test_one_invalid_record_leaves_the_rest_of_its_collection_valid(node: Node) -> None:
    ops = [op("create", "customers", new_id(), customer(f"KH{i:03d}")) for i in range(50)]
    ops[17] = op("create", "customers", new_id(), {"code": "KH017", "name": "x", "extra": 1})
    ops[30] = op("create", "customers", new_id(), None)
    results = await node.push(*ops)
    assert [i for i, r in enumerate(results) if r["status"] == "rejected"] == [17, 30]
    assert results[17]["error"]["details"]["errors"][0]["field"] == "extra"
    details = results[30]["error"]["details"]
    assert details["collection"] == "customers"
    assert details["errors"] == [{"field": "data", "type": "model_type"}]
    assert [r["seq"] for r in results if r["status"] == "applied"] == list(range(1, 49))


async def test_commits_reach_the_database_file_without_waiting_for_a_full_wal(
    tmp_path: Path,
) -> None:
    store = HubStore(f"sqlite:///{tmp_path}/hub.db")
    await store.open()
    try:
        assert await store.create_dataset(DS)
        await store.checkpoints_done()
        copy = tmp_path / "alone.db"  # the database file without its WAL
        shutil.copyfile(tmp_path / "hub.db", copy)
        with sqlite3.connect(copy) as db:
            assert db.execute("SELECT id FROM hub_datasets").fetchall() == [(DS,)]
    finally:
        await store.close()
