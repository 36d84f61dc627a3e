"""A new record enters the search indexes at its group's commit (migration 0008): the writes of
one group — creates, an edit or a deletion of a record created in the same group, a write that
fails — leave both trigram indexes exactly what a rebuild from the records would make, and a
search finds what the LIKE scan finds."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from agent.store import DatasetStore, StoreManager
from agent.store.dataset import start_bulk
from agent.store.migrate import migrate
from protocol.errors import ProtocolError
from protocol.query import RecordQuery

NAMES = ["Công ty TNHH Nguyễn Trãi", "Cửa hàng Bến Thành", "Đại lý Lê Lợi", "Nhà sách Phương Nam"]


def _check_indexes(path: Path) -> None:
    """FTS5's own check of both indexes against the records (raises when they differ), and no
    record left queued."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for table in ("records_fts", "records_key_fts"):
            conn.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)")
        assert conn.execute("SELECT count(*) FROM search_pending").fetchone()[0] == 0
    finally:
        conn.close()


async def _search(store: DatasetStore, text: str) -> list[str]:
    page = await store.query("customers", RecordQuery(q=text, limit=500))
    return sorted(r.key for r in page.items)


async def _like(store: DatasetStore, text: str) -> list[str]:
    return sorted(r[0] for r in await store.readers.run(lambda conn: conn.execute(
        "SELECT key FROM records WHERE collection = 'customers' AND deleted = 0 "
        "AND (key LIKE ? OR data LIKE ?)", (f"%{text}%", f"%{text}%")).fetchall()))


async def test_one_group_creates_edits_deletes_and_fails(store: DatasetStore) -> None:
    edited, dropped = str(uuid.uuid4()), str(uuid.uuid4())
    await store.create("customers", {"code": "KH0", "name": "Cửa hàng Hoa Cúc"})
    commits = store.writer.commits
    results = await asyncio.gather(
        store.create("customers", {"code": "KH1", "name": "Cửa hàng Hoa Mai"}, id=edited),
        store.update("customers", edited, {"code": "KH1B", "name": "Cửa hàng Hoa Lan"},
                     if_match=1),
        store.create("customers", {"code": "KH2", "name": "Nhà thuốc Long Châu"}, id=dropped),
        store.delete("customers", dropped, if_match=1),
        store.create("customers", {"code": "KH0", "name": "Trùng mã Hoa Đào"}),  # refused
        store.create("customers", {"code": "KH3", "name": "Tiệm vàng Kim Thành"}),
        return_exceptions=True,
    )
    assert store.writer.commits == commits + 1  # all six in one group, one commit
    assert isinstance(results[4], ProtocolError)
    assert not [r for i, r in enumerate(results) if i != 4 and isinstance(r, BaseException)]
    _check_indexes(store.path)
    assert await _search(store, "Hoa Mai") == []
    assert await _search(store, "Hoa Lan") == ["KH1B"]
    assert await _search(store, "KH1B") == ["KH1B"]
    assert await _search(store, "Long Châu") == []
    assert await _search(store, "Hoa Đào") == []
    assert await _search(store, "Kim Thành") == ["KH3"]
    assert await _search(store, "Hoa Cúc") == ["KH0"]


@pytest.mark.parametrize("seed", [1, 2])
async def test_concurrent_writes_keep_the_indexes_exact(store: DatasetStore, seed: int) -> None:
    rnd = random.Random(seed)
    ids: list[str] = []
    revs: dict[str, int] = {}
    for round_ in range(12):
        calls: list[Any] = []
        for i in range(rnd.randint(1, 12)):
            name = f"{rnd.choice(NAMES)} {rnd.randint(1, 99)}"
            code = f"KH{rnd.randint(1, 60):03d}"  # some clash: DUPLICATE_KEY, rolled back
            if ids and rnd.random() < 0.3:
                rid = rnd.choice(ids)
                if rnd.random() < 0.5:
                    calls.append(store.update("customers", rid, {"code": code, "name": name},
                                              if_match=revs[rid]))
                else:
                    calls.append(store.delete("customers", rid, if_match=revs[rid]))
            else:
                rid = str(uuid.uuid4())
                calls.append(store.create("customers", {"code": code, "name": name}, id=rid))
                ids.append(rid)
                revs[rid] = 1
                if rnd.random() < 0.3:  # edited in the same group, before its commit
                    calls.append(store.update("customers", rid,
                                              {"code": f"{code}-{round_}-{i}", "name": name},
                                              if_match=1))
        for done in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(done, ProtocolError):
                continue
            assert not isinstance(done, BaseException), done
            revs[done.id] = done.local_rev
        _check_indexes(store.path)
    for text in ["Nguyễn", "Thành 1", "TNHH", "KH0", "Lê Lợi 5", "Phương", "zzz"]:
        assert await _search(store, text) == await _like(store, text), text


async def test_a_record_written_by_another_connection_is_indexed_at_the_next_commit(
    store: DatasetStore,
) -> None:
    conn = sqlite3.connect(store.path, isolation_level=None)
    conn.execute(
        "INSERT INTO records (id, collection, key, data, deleted, version, local_rev, "
        "sync_state, updated_at) VALUES (?, 'customers', 'KH8', ?, 0, 1, 1, 'synced', 'x')",
        (str(uuid.uuid4()), '{"code":"KH8","name":"Quán cơm Bà Ba"}'))
    conn.close()
    await store.create("customers", {"code": "KH9", "name": "Tiệm bánh Bà Năm"})
    _check_indexes(store.path)
    assert await _search(store, "Bà Ba") == ["KH8"]
    assert await _search(store, "Bà Năm") == ["KH9"]


async def test_an_interrupted_first_download_ends_after_the_upgrade(tmp_path: Path) -> None:
    """A node stopped during a first download (search triggers dropped, their SQL kept) and
    upgraded: the upgrade makes the triggers, the download's end makes the rest and rebuilds."""
    path = tmp_path / "datasets" / "cty-abc.db"
    path.parent.mkdir()
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=7)
    conn.execute("BEGIN IMMEDIATE")
    start_bulk(conn)
    conn.execute(
        "INSERT INTO records (id, collection, key, data, deleted, version, local_rev, "
        "sync_state, updated_at) VALUES (?, 'customers', 'KH1', ?, 0, 1, 1, 'synced', 'x')",
        (str(uuid.uuid4()), '{"code":"KH1","name":"Công ty Nguyễn Trãi"}'))
    conn.execute("COMMIT")
    conn.close()
    mgr = StoreManager(tmp_path)
    await mgr.open(["cty-abc"])
    try:
        store = mgr.get("cty-abc")
        assert not store.downloading
        await store.create("customers", {"code": "KH2", "name": "Cửa hàng Bến Thành"})
        await store.search_indexed()  # the download's records enter the indexes after it
        _check_indexes(store.path)
        assert await _search(store, "Nguyễn Trãi") == ["KH1"]
        assert await _search(store, "Bến Thành") == ["KH2"]
        names = {r[0] for r in await store.readers.run(lambda c: c.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger')").fetchall())}
        assert {"records_key", "records_date", "records_fts_insert",
                "records_fts_delete"} <= names
    finally:
        await mgr.close()
