"""Hub admin verbs: ``hub dataset list``, ``hub grant``, ``hub nodes``, ``hub revoke``, and the
last seen the hub records on authenticated requests (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner

from hub import db, nodes
from hub.cli import hub
from tests.hub.helpers import DS, Node, admin, customer


def run(*args: str) -> Any:
    result = CliRunner().invoke(hub, list(args))
    assert result.exit_code == 0, result.output
    return result


def as_json(*args: str) -> Any:
    return json.loads(run(*args, "--json").stdout)


def one_line_error(*args: str) -> str:
    result = CliRunner().invoke(hub, list(args))
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


async def test_nodes_datasets_grant_and_revoke(node: Node, db_url: str) -> None:
    await node.create("customers", customer("KH001"))
    await node.create("customers", customer("KH002"))
    # An authenticated request records last seen.
    status, _ = await node.call("GET", "/v1/datasets")
    assert status == 200
    [listed] = as_json("nodes", "--db", db_url)
    assert listed["name"] == "office-a" and listed["id"] == node.node_id
    assert listed["datasets"] == [DS] and listed["last_seen"] is not None
    assert listed["revoked_at"] is None
    table = run("nodes", "--db", db_url, "--lang", "en").stdout
    assert "office-a" in table and node.node_id in table and "never" not in table

    found = {d["id"]: d for d in as_json("dataset", "list", "--db", db_url)}
    assert found[DS]["nodes"] == ["office-a"] and found[DS]["records"] == 2
    assert found["cty-other"]["nodes"] == [] and found["cty-other"]["records"] == 0
    assert found[DS]["created_at"]

    # grant: the node may use the other dataset at once; twice says it already could.
    status, body = await node.call("GET", "/v1/datasets/cty-other/changes")
    assert status == 403
    out = run("grant", "--node", "office-a", "--dataset", "cty-other", "--db", db_url,
              "--lang", "en").stdout
    assert out.strip() == "Node office-a may now use dataset cty-other"
    status, body = await node.call("GET", "/v1/datasets")
    assert status == 200 and body["datasets"] == [DS, "cty-other"]
    again = run("grant", "--node", node.node_id, "--dataset", "cty-other", "--db", db_url,
                "--lang", "en").stdout
    assert "already" in again

    # revoke by name: the token is refused from now on (the node shows auth_failed).
    out = run("revoke", "office-a", "--db", db_url, "--lang", "en").stdout
    assert "revoked" in out and node.node_id in out
    status, body = await node.call("GET", "/v1/datasets")
    assert status == 401 and body["error"]["code"] == "UNAUTHORIZED"
    status, body = await node.call("GET", f"/v1/datasets/{DS}/changes")
    assert status == 401
    [listed] = as_json("nodes", "--db", db_url)
    assert listed["revoked_at"] is not None
    assert "REVOKED" in run("nodes", "--db", db_url, "--lang", "en").stdout
    assert "already revoked" in run("revoke", node.node_id, "--db", db_url, "--lang",
                                    "en").stdout


async def test_last_seen_is_not_written_per_request(node: Node, db_url: str) -> None:
    status, _ = await node.call("GET", "/v1/datasets")
    assert status == 200
    sentinel = "2000-01-01T00:00:00+00:00"

    def set_seen(conn: sa.Connection) -> None:
        conn.execute(db.nodes.update().values(last_seen=sentinel))

    admin(db_url, set_seen)
    for _ in range(5):
        status, _ = await node.call("GET", "/v1/datasets")
        assert status == 200
    [listed] = as_json("nodes", "--db", db_url)
    assert listed["last_seen"] == sentinel  # within the minute: no write


async def test_admin_errors_are_one_line(node: Node, db_url: str) -> None:
    line = one_line_error("grant", "--node", "nobody", "--dataset", DS, "--db", db_url,
                          "--lang", "en")
    assert "nobody" in line and "office-a" in line
    line = one_line_error("grant", "--node", "office-a", "--dataset", "cty-none", "--db",
                          db_url, "--lang", "en")
    assert "cty-none" in line
    assert "not valid" in one_line_error("grant", "--node", "office-a", "--dataset",
                                         "Bad Id", "--db", db_url, "--lang", "en")
    assert "nobody" in one_line_error("revoke", "nobody", "--db", db_url, "--lang", "en")


def test_an_older_hub_database_gets_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    old = sa.MetaData()
    for table in db.metadata.sorted_tables:
        columns = [sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                   for c in table.columns
                   if not (table is db.nodes and c.name in ("last_seen", "revoked_at"))]
        sa.Table(table.name, old, *columns)
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO hub_nodes (id, name, token_hash, created_at) "
                             "VALUES ('n1', 'office-old', :h, '2024-01-01')"),
                     {"h": nodes.sha256("osn_old")})
    engine.dispose()
    [listed] = as_json("nodes", "--db", url)
    assert listed["name"] == "office-old" and listed["last_seen"] is None
    with sqlite3.connect(path) as conn:
        names = {r[1] for r in conn.execute("PRAGMA table_info(hub_nodes)")}
    assert {"last_seen", "revoked_at"} <= names
