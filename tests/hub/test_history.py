"""Contract: a record's history — every version with the office (node) and workstation that
made it, when the hub applied it, and the fields it changed; on both backends. Also the
migration that gives an older hub database the feed's new columns."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa

from hub.db import changes, create_schema
from tests.hub.helpers import DS, Node, customer, new_id, op

R = f"/v1/datasets/{DS}/records"


async def test_history_names_office_workstation_and_changed_fields(node: Node,
                                                                   node_b: Node) -> None:
    cid = new_id()
    first = op("create", "customers", cid, customer("KH1", "Cong ty A"))
    [created] = await node.push({**first, "workstation": "Kế toán 1"})
    assert created["status"] == "applied"
    renamed = {**customer("KH1", "Cong ty A moi"), "phone": "0901"}
    [edited] = await node_b.push({**op("update", "customers", cid, renamed, base=1),
                                  "workstation": "Thu ngân"})
    assert edited["status"] == "applied"
    await node.push(op("delete", "customers", cid, base=2))  # an op from an older node

    status, body = await node_b.call("GET", f"{R}/customers/{cid}/history")
    assert status == 200, body
    assert (body["id"], body["collection"]) == (cid, "customers")
    got = [(v["version"], v["node"], v["node_id"], v["workstation"], v["deleted"])
           for v in body["versions"]]
    assert got == [(1, "office-a", node.node_id, "Kế toán 1", False),
                   (2, "office-b", node_b.node_id, "Thu ngân", False),
                   (3, "office-a", node.node_id, None, True)]
    assert body["versions"][0]["changed"] == ["code", "name"]
    assert body["versions"][1]["changed"] == ["name", "phone"]
    assert body["versions"][1]["data"] == renamed
    assert all(v["at"] and v["at"].endswith("+00:00") for v in body["versions"])


async def test_history_of_unknown_record_or_wrong_collection_is_not_found(node: Node) -> None:
    cid = await node.create("customers", customer("KH2"))
    for path in (f"{R}/customers/{new_id()}/history", f"{R}/vendors/{cid}/history"):
        status, body = await node.call("GET", path)
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND"), body
        assert "history" in body["error"]["message"].lower()
    status, body = await node.call("GET", f"/v1/datasets/cty-other/records/customers/{cid}"
                                   "/history")
    assert status == 403 and body["error"]["code"] == "FORBIDDEN"


def test_older_database_gets_the_feed_columns(tmp_path: Path) -> None:
    """A hub database made before the history: its feed rows stay readable (NULL who/when)
    and new ones keep them."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE hub_changes (dataset VARCHAR(63) NOT NULL, seq BIGINT NOT "
                     "NULL, collection VARCHAR(63) NOT NULL, id VARCHAR(36) NOT NULL, version "
                     "INTEGER NOT NULL, deleted BOOLEAN NOT NULL, data TEXT NOT NULL, op_id "
                     "VARCHAR(36) NOT NULL, node_id VARCHAR(36) NOT NULL, PRIMARY KEY "
                     "(dataset, seq))")
        conn.execute("INSERT INTO hub_changes VALUES ('d', 1, 'customers', 'x', 1, 0, '{}', "
                     "'o', 'n')")
    engine = sa.create_engine(f"sqlite:///{path}")
    create_schema(engine)
    create_schema(engine)  # idempotent
    with engine.connect() as conn:
        row = conn.execute(sa.select(changes.c.workstation, changes.c.applied_at)).one()
    engine.dispose()
    assert tuple(row) == (None, None)
