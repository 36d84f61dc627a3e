"""Outbox states: the OutboxState enum, the CHECK constraint of migration 0004 (a table
rebuild) on a database made by the previous schema, and no state literal left in the store's
SQL outside agent/store/states.py."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from agent.store import StoreManager
from agent.store.migrate import migrate, schema_version
from agent.store.states import FAILED_OPS, OutboxState, sql_in, sql_value
from protocol.models import Action, SyncState

STORE = Path(__file__).resolve().parents[3] / "agent" / "store"
RECORD = "11111111-1111-4111-8111-111111111111"
STATES_BEFORE = ["pending", "error", "conflict", "blocked", "syncing", "pending"]


def _version_3(path: Path) -> sqlite3.Connection:
    """A database at schema 3 (before the CHECK) with one record and six ops, the last
    already pushed (deleted): the AUTOINCREMENT counter is ahead of the highest seq."""
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=3) == [1, 2, 3]
    conn.execute(
        "INSERT INTO records (id, collection, key, data, deleted, version, local_rev, "
        "sync_state, date, updated_at) VALUES (?, 'customers', 'KH001', "
        "'{\"code\":\"KH001\",\"name\":\"A\"}', 0, NULL, 1, 'pending', NULL, 'x')", (RECORD,))
    for n, state in enumerate(STATES_BEFORE):
        conn.execute(
            "INSERT INTO outbox (op_id, record_id, collection, action, base_version, data, "
            "created_at, state, attempts) VALUES (?, ?, 'customers', 'update', NULL, '{}', "
            "'x', ?, ?)", (f"2222222{n}-2222-4222-8222-222222222222", RECORD, state, n))
    conn.execute("DELETE FROM outbox WHERE seq = 6")
    return conn


def _indexes(conn: sqlite3.Connection) -> dict[str, str | None]:
    return dict(conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox'"))


def test_migration_4_adds_the_check_and_keeps_rows_indexes_and_counter(tmp_path: Path) -> None:
    conn = _version_3(tmp_path / "x.db")
    indexes_before = _indexes(conn)
    assert migrate(conn, target=4) == [4] and schema_version(conn) == 4
    rows = conn.execute("SELECT seq, state, attempts FROM outbox ORDER BY seq").fetchall()
    # every row kept with its seq; the never-written `syncing` became `pending`
    assert rows == [(1, "pending", 0), (2, "error", 1), (3, "conflict", 2), (4, "blocked", 3),
                    (5, "pending", 4)]
    assert _indexes(conn) == indexes_before  # same names, same definitions
    plan = conn.execute(
        f"EXPLAIN QUERY PLAN SELECT record_id FROM outbox WHERE state IN {sql_in(FAILED_OPS)}"
    ).fetchall()
    assert "outbox_failed" in str(plan)
    with pytest.raises(sqlite3.IntegrityError, match="outbox_state"):
        conn.execute("UPDATE outbox SET state = 'syncing' WHERE seq = 1")
    conn.execute(
        "INSERT INTO outbox (op_id, record_id, collection, action, created_at) VALUES "
        "('33333333-3333-4333-8333-333333333333', ?, 'customers', 'update', 'x')", (RECORD,))
    assert conn.execute("SELECT max(seq), min(state) FROM outbox WHERE op_id LIKE '3%'"
                        ).fetchone() == (7, "pending")  # seq 6 (pushed) is never reused
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()


def test_migration_4_on_an_empty_outbox(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "e.db", isolation_level=None)
    migrate(conn, target=3)
    assert migrate(conn, target=4) == [4]
    conn.execute(
        "INSERT INTO outbox (op_id, record_id, collection, action, created_at) VALUES "
        "('33333333-3333-4333-8333-333333333333', 'r', 'customers', 'create', 'x')")
    assert conn.execute("SELECT seq, state FROM outbox").fetchall() == [(1, "pending")]
    conn.close()


def test_migration_5_drops_the_unused_attempts_column_and_keeps_the_ops(tmp_path: Path) -> None:
    conn = _version_3(tmp_path / "x.db")
    migrate(conn, target=4)
    before = conn.execute("SELECT seq, op_id, state FROM outbox ORDER BY seq").fetchall()
    assert migrate(conn, target=5) == [5] and schema_version(conn) == 5
    assert "attempts" not in {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}
    assert conn.execute("SELECT seq, op_id, state FROM outbox ORDER BY seq").fetchall() == before
    with pytest.raises(sqlite3.IntegrityError, match="outbox_state"):  # the CHECK stays
        conn.execute("UPDATE outbox SET state = 'syncing' WHERE seq = 1")
    conn.close()


async def test_the_store_syncs_from_a_migrated_database(tmp_path: Path) -> None:
    path = tmp_path / "datasets" / "cty-abc.db"
    path.parent.mkdir()
    _version_3(path).close()
    mgr = StoreManager(tmp_path)
    await mgr.open(["cty-abc"])
    try:
        store = mgr.get("cty-abc")
        created = await store.create("customers", {"code": "KH2", "name": "B"})
        ops, _ = await store.take_batch(10)
        # the record of the migrated ops waits on their refusals: only the new one goes
        assert [(op.record_id, op.action) for op in ops] == [(created.id, Action.CREATE)]
        assert (await store.sync_counts())["syncing"] == 1
    finally:
        await mgr.close()


def test_the_check_lists_exactly_the_enum() -> None:
    sql = (STORE / "migrations" / "0004_outbox_state_check.sql").read_text(encoding="utf-8")
    check = re.search(r"CHECK \(state IN (\([^)]*\))\)", sql)
    assert check is not None and check[1] == sql_in(OutboxState)
    assert sql_value(SyncState.SYNCED) == "'synced'"
    with pytest.raises(ValueError, match="not a list of states"):
        sql_in([])


# A state as a SQL literal ('pending'); the store's SQL strings are in double quotes.
_STATE_LITERAL = re.compile("'(?:" + "|".join({*OutboxState, *SyncState}) + ")'")


@pytest.mark.parametrize("path", sorted(p.name for p in STORE.glob("*.py")))
def test_no_state_literal_in_the_store(path: str) -> None:
    if path == "states.py":
        return
    found = [line.strip() for line in (STORE / path).read_text(encoding="utf-8").splitlines()
             if _STATE_LITERAL.search(line) and not line.strip().startswith("#")]
    assert found == [], f"{path}: use OutboxState / SyncState (agent/store/states.py)"
