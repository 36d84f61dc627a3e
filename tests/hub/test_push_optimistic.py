"""The push looks up neither its op ids among earlier answers nor its creates' ids among the
records: the primary keys check those, and a batch that meets one (a replay, a create of an
id the hub holds) is pushed again with every lookup and answered exactly as before, nothing
of the first attempt kept. Both backends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from hub import keys
from tests.hub.helpers import DS, Node, customer, new_id, op


@pytest.fixture
def lookups(node: Node) -> Iterator[list[str]]:
    """The tables each SELECT of the push's lookups read, as they run."""
    engine = node.client.app[keys.STORE].engine
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("SELECT"):
            return
        if "FROM hub_op_results" in statement:
            seen.append("replays")
        elif "FROM hub_records WHERE dataset" in statement:
            seen.append("keys" if '"key" IN' in statement or '"key" = ANY' in statement
                        else "ids")

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


async def test_a_batch_of_creates_looks_up_only_its_keys(node: Node,
                                                         lookups: list[str]) -> None:
    results = await node.push(*[op("create", "customers", new_id(), customer(f"KH{i}"))
                                for i in range(5)])
    assert [r["status"] for r in results] == ["applied"] * 5
    assert lookups == ["keys"]


async def test_an_update_is_looked_up_and_a_create_is_not(node: Node,
                                                          lookups: list[str]) -> None:
    held = await node.create("customers", customer("KH1"))
    lookups.clear()
    results = await node.push(
        op("update", "customers", held, customer("KH1", "Renamed"), base=1),
        op("create", "customers", new_id(), customer("KH2")))
    assert [(r["status"], r["version"]) for r in results] == [("applied", 2), ("applied", 1)]
    assert sorted(lookups) == ["ids", "keys"]


async def test_a_replayed_batch_gets_its_first_answers_and_applies_nothing(
        node: Node, lookups: list[str]) -> None:
    batch = [op("create", "customers", new_id(), customer("KH1")),
             op("create", "customers", new_id(), {"code": "", "name": "x"}),
             op("create", "customers", new_id(), customer("KH2"))]
    first = await node.push(*batch)
    assert [r["status"] for r in first] == ["applied", "rejected", "applied"]
    lookups.clear()
    again = await node.push(*batch)
    assert again == [{**r, "replayed": True} for r in first]
    assert "replays" in lookups  # the second attempt, with every lookup
    page = await node.changes()
    assert [c["seq"] for c in page["changes"]] == [1, 2] and page["last_seq"] == 2


async def test_a_create_of_a_held_id_among_new_creates(node: Node) -> None:
    held = await node.create("customers", customer("KH1"))
    fresh = [new_id(), new_id()]
    results = await node.push(
        op("create", "customers", fresh[0], customer("KH2")),
        op("create", "customers", held, customer("KH3")),  # another op, the same record id
        op("create", "customers", fresh[1], customer("KH4")))
    assert [r["status"] for r in results] == ["applied", "rejected", "applied"]
    error = results[1]["error"]
    assert error["code"] == "STALE_VERSION"
    assert error["current"]["id"] == held and error["current"]["data"] == customer("KH1")
    # the attempt that met the record's key rolled back: the feed has no gap, no double
    page = await node.changes()
    assert [(c["seq"], c["id"]) for c in page["changes"]] == [
        (1, held), (2, fresh[0]), (3, fresh[1])]
    status, record = await node.call("GET", f"/v1/datasets/{DS}/records/customers/{held}")
    assert status == 200 and record["version"] == 1
