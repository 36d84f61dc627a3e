"""Numbered migrations: an older database upgrades in place and keeps its data."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlmodel import SQLModel

import agent.store.models  # noqa: F401  (registers the tables)
from agent.store import StoreManager
from agent.store.dataset import _select
from agent.store.migrate import LATEST, migrate, schema_version
from protocol.accounting import ACCOUNTING_PACK
from protocol.query import RecordQuery


def test_upgrade_from_version_1_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "datasets" / "cty-abc.db"
    path.parent.mkdir()
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == [1]
    conn.execute(
        "INSERT INTO records (id, collection, key, data, deleted, version, local_rev, "
        "sync_state, date, updated_at) VALUES ('11111111-1111-4111-8111-111111111111', "
        "'customers', 'KH001', '{\"code\":\"KH001\",\"name\":\"Old\"}', 0, NULL, 1, 'pending', "
        "NULL, '2025-01-01T00:00:00Z')"
    )
    conn.execute(
        "INSERT INTO outbox (op_id, record_id, collection, action, base_version, data, "
        "created_at) VALUES ('22222222-2222-4222-8222-222222222222', "
        "'11111111-1111-4111-8111-111111111111', 'customers', 'create', NULL, '{}', 'x')"
    )
    conn.close()

    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn) == list(range(2, LATEST + 1))
    assert schema_version(conn) == LATEST
    assert conn.execute("SELECT key FROM records").fetchall() == [("KH001",)]
    # the op kept its state; outbox.attempts is gone since 0005 (it was never used)
    assert conn.execute("SELECT state FROM outbox").fetchall() == [("pending",)]
    columns = {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}
    assert "attempts" not in columns and "state" in columns
    assert migrate(conn) == []  # idempotent
    conn.close()


async def test_store_opens_an_old_database(tmp_path: Path) -> None:
    path = tmp_path / "datasets" / "cty-abc.db"
    path.parent.mkdir()
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=1)
    conn.close()
    mgr = StoreManager(tmp_path)
    await mgr.open(["cty-abc"])
    try:
        record = await mgr.get("cty-abc").create("customers", {"code": "KH1", "name": "A"})
        assert record.sync.state == "pending"
    finally:
        await mgr.close()


def test_newer_database_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        migrate(conn)
    conn.close()


def test_migrated_schema_matches_the_sqlmodel_tables(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    migrate(conn)
    for table in ("records", "outbox", "meta", "series"):
        columns = {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}
        declared = set(SQLModel.metadata.tables[table].columns.keys())
        assert columns == declared, table
    conn.close()


def test_wal_and_full_sync(tmp_path: Path) -> None:
    from agent.store.sqlite import connect_writer

    conn = connect_writer(tmp_path / "y.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    conn.close()


def test_the_date_index_covers_a_date_range_page_even_for_a_download_under_way(
        tmp_path: Path) -> None:
    """0010: a week of vouchers is sorted from the index (records without a date left out of
    it); a first download that had dropped the old index makes the new one at its end."""
    conn = sqlite3.connect(tmp_path / "cty.db", isolation_level=None)
    migrate(conn, target=9)
    old_sql = conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'records_date'").fetchone()[0]
    conn.execute("INSERT INTO meta (key, value) VALUES ('bulk_load', ?)",
                 (json.dumps([["index", "records_date", old_sql]]),))
    assert migrate(conn) == [10]
    new_sql = conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'records_date'").fetchone()[0]
    assert new_sql.endswith("(collection, date, deleted, key, id) WHERE date IS NOT NULL")
    assert json.loads(conn.execute(
        "SELECT value FROM meta WHERE key = 'bulk_load'").fetchone()[0]) == [
        ["index", "records_date", new_sql]]
    sql, args = _select(ACCOUNTING_PACK.get("vouchers"),
                        RecordQuery(date_from="2026-01-01", date_to="2026-01-07"), False)
    plan = " ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, args))
    assert "USING INDEX records_date (collection=? AND date>? AND date<?)" in plan, plan
    conn.close()
