"""Queries that do not scan (migration 0006): the search reads trigram indexes kept in step by
every write and finds what the LIKE scan found; the sync counts are kept by the writes and
always equal a COUNT(*) of the records."""

from __future__ import annotations

import random
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from agent.store import DatasetStore, StoreManager
from agent.store.migrate import migrate
from protocol.errors import ErrorCode, ProtocolError
from protocol.models import Change, ChangesPage, OpError, OpResult, OpStatus, SyncState
from protocol.query import RecordQuery

NAMES = ["Công ty TNHH Nguyễn Trãi", "Cửa hàng Bến Thành", "Hợp tác xã Đồng Nai 100%",
         "ĐẠI LÝ LÊ LỢI", "Nhà sách Phương_Nam", "Quán cơm Bà Ba", "Tiệm vàng Kim Thành"]


def _like(conn: sqlite3.Connection, collection: str, text: str) -> list[str]:
    """The search as it was before the indexes: a LIKE over every record's key and data."""
    q = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return [r[0] for r in conn.execute(
        "SELECT key FROM records WHERE collection = ? AND deleted = 0 AND "
        "(key LIKE ? ESCAPE '\\' OR data LIKE ? ESCAPE '\\') ORDER BY key, id",
        (collection, f"%{q}%", f"%{q}%"))]


async def _search(store: DatasetStore, text: str, collection: str = "customers") -> list[str]:
    keys: list[str] = []
    after = None
    while True:
        page = await store.query(collection, RecordQuery(q=text, limit=50, after=after))
        keys += [r.key for r in page.items]
        if page.next is None:
            return keys
        after = page.next


async def _uses_index(store: DatasetStore, text: str) -> bool:
    from agent.store.dataset import _search_candidates
    found = await store.readers.run(lambda conn: _search_candidates(conn, text))
    return found is not None


async def test_search_finds_vietnamese_names_and_code_substrings(store: DatasetStore) -> None:
    for i, name in enumerate(NAMES):
        await store.create("customers", {"code": f"KH{i + 1:05d}", "name": name,
                                         "tax_code": f"03{i:08d}"})
    assert await _search(store, "Nguyễn Trãi") == ["KH00001"]
    assert await _uses_index(store, "Nguyễn Trãi")
    assert await _search(store, "Bến Thành") == ["KH00002"]
    assert await _search(store, "Ben Thanh") == []  # diacritics count, as they always did
    # in a key (KH00003) and in a tax code (0300000003, of KH00004)
    assert await _search(store, "0003") == ["KH00003", "KH00004"]
    assert await _search(store, "kh0000") == [f"KH{i:05d}" for i in range(1, 8)]
    assert await _search(store, "H00005") == ["KH00005"]
    # % and _ are letters of the search, not wildcards
    assert await _search(store, "100%") == ["KH00003"]
    assert await _search(store, "Phương_Nam") == ["KH00005"]
    assert await _search(store, "Bà_Ba") == []  # would match "Bà Ba" as a wildcard
    # ASCII letters in either case; shorter than a trigram still works (without the index)
    assert await _search(store, "quán cơm") == ["KH00006"]
    assert await _search(store, "Bà") == ["KH00006"]
    assert not await _uses_index(store, "Bà")


async def test_search_follows_every_write(store: DatasetStore) -> None:
    rec = await store.create("customers", {"code": "KH1", "name": "Cửa hàng Hoa Mai"})
    assert await _search(store, "Hoa Mai") == ["KH1"]
    rec = await store.update("customers", rec.id, {"code": "KH9", "name": "Cửa hàng Hoa Lan"},
                             if_match=rec.local_rev)
    assert await _search(store, "Hoa Mai") == []
    assert await _search(store, "Hoa Lan") == ["KH9"]
    assert await _search(store, "KH9") == ["KH9"]
    # a pulled change (a record from another office, then its new version)
    other = str(uuid.uuid4())
    await _pull(store, [_change(1, other, 1, {"code": "KH2", "name": "Nhà thuốc Long Châu"})])
    assert await _search(store, "Long Châu") == ["KH2"]
    await _pull(store, [_change(2, other, 2, {"code": "KH2", "name": "Nhà thuốc An Khang"})])
    assert await _search(store, "Long Châu") == []
    assert await _search(store, "An Khang") == ["KH2"]
    await store.delete("customers", rec.id, if_match=rec.local_rev)
    assert await _search(store, "Hoa Lan") == []


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_search_equals_the_like_scan(store: DatasetStore, seed: int) -> None:
    rnd = random.Random(seed)
    for i in range(300):
        name = f"{rnd.choice(NAMES)} {rnd.randint(1, 999)}"
        await store.create("customers", {"code": f"KH{rnd.randint(1, 10**6):07d}-{i}",
                                         "name": name})
    texts = ["Nguyễn", "Thành", "TNHH", "ty T", "00", "Lê Lợi", "LÊ LỢI", "\"name\"", "zzz",
             "Đồng Nai 100% 1", "_", "%", "99", "Kim Thành 1"]
    for text in texts:
        expected = await store.readers.run(lambda conn, t=text: _like(conn, "customers", t))
        assert sorted(await _search(store, text)) == sorted(expected), text


async def test_a_text_whose_end_is_common_is_looked_up_whole(store: DatasetStore) -> None:
    from agent.store import dataset
    for i, name in enumerate(["Hoa Mai", "Hoa Lan", "Bến Thành"] + [f"Số {i}" for i in range(20)]):
        await store.create("customers", {"code": f"KH{i:03d}", "name": f"{name} chi nhánh"})
    old = dataset.SEARCH_CANDIDATES
    dataset.SEARCH_CANDIDATES = 10  # " nhánh" (its last 6 characters) is in all 23 records
    try:
        assert await _uses_index(store, "Hoa Mai chi nhánh")
        assert await _search(store, "Hoa Mai chi nhánh") == ["KH000"]
        assert await _search(store, "Bến Thành chi nhánh") == ["KH002"]
    finally:
        dataset.SEARCH_CANDIDATES = old


async def test_a_common_text_is_read_in_key_order(store: DatasetStore) -> None:
    from agent.store import dataset
    for i in range(30):
        await store.create("customers", {"code": f"KH{i:03d}", "name": f"Công ty Số {i}"})
    old = dataset.SEARCH_CANDIDATES
    dataset.SEARCH_CANDIDATES = 10  # the text is in more records than that: no candidate list
    try:
        assert not await _uses_index(store, "Công ty")
        page = await store.query("customers", RecordQuery(q="Công ty", limit=5))
        assert [r.key for r in page.items] == [f"KH{i:03d}" for i in range(5)]
        assert page.next is not None
    finally:
        dataset.SEARCH_CANDIDATES = old


# -- counts ---------------------------------------------------------------------------------


def _change(seq: int, record_id: str, version: int, data: dict[str, Any] | None,
            deleted: bool = False) -> Change:
    return Change(seq=seq, collection="customers", id=record_id, version=version,
                  deleted=deleted, data=data, node_id="another-office")


async def _pull(store: DatasetStore, changes: list[Change]) -> None:
    page = ChangesPage(changes=changes, last_seq=changes[-1].seq, has_more=False)
    await store.apply_changes(page, "this-node")


async def _assert_counts_exact(store: DatasetStore) -> None:
    counted = await store.readers.run(lambda conn: dict(conn.execute(
        "SELECT sync_state, count(*) FROM records GROUP BY sync_state").fetchall()))
    kept = await store.sync_counts()
    assert {k: v for k, v in kept.items() if v} == counted
    assert set(kept) == {s.value for s in SyncState}


@pytest.mark.parametrize("seed", range(4))
async def test_counts_stay_exact_over_every_write_path(store: DatasetStore, seed: int) -> None:
    rnd = random.Random(seed)
    seq = 0
    hub_versions: dict[str, int] = {}
    for step in range(120):
        records = (await store.query("customers", RecordQuery(limit=500),
                                     include_deleted=True)).items
        live = [r for r in records if not r.deleted]
        what = rnd.choice(["create", "create", "update", "delete", "push", "pull", "resolve"])
        try:
            if what == "create":
                await store.create("customers", {"code": f"KH{step}", "name": f"N {step}"})
            elif what == "update" and live:
                r = rnd.choice(live)
                await store.update("customers", r.id, {"code": r.key, "name": f"U {step}"},
                                   if_match=r.local_rev)
            elif what == "delete" and live:
                r = rnd.choice(live)
                await store.delete("customers", r.id, if_match=r.local_rev)
            elif what == "push":
                batch, _ = await store.take_batch(rnd.randint(1, 10))
                results = []
                for op in batch:
                    seq += 1
                    if rnd.random() < 0.7:
                        hub_versions[op.record_id] = hub_versions.get(op.record_id, 0) + 1
                        results.append(OpResult(op_id=op.op_id, status=OpStatus.APPLIED,
                                                version=hub_versions[op.record_id], seq=seq))
                    else:
                        version = hub_versions.get(op.record_id, 0) + 1
                        hub_versions[op.record_id] = version
                        results.append(OpResult(
                            op_id=op.op_id, status=OpStatus.REJECTED,
                            error=OpError(code=ErrorCode.STALE_VERSION, message="stale",
                                          current={"id": op.record_id, "version": version,
                                                   "collection": "customers",
                                                   "data": {"code": "KHC", "name": "cloud"},
                                                   "deleted": False})))
                if batch and rnd.random() < 0.2:
                    await store.requeue(batch)  # no answer: the push is sent again later
                elif batch:
                    await store.store_results(batch, results)
            elif what == "pull":
                changes = []
                for _ in range(rnd.randint(1, 5)):
                    seq += 1
                    if records and rnd.random() < 0.5:
                        rid = rnd.choice(records).id
                    else:
                        rid = str(uuid.uuid4())
                    hub_versions[rid] = hub_versions.get(rid, 0) + 1
                    changes.append(_change(seq, rid, hub_versions[rid],
                                           {"code": f"KHP{seq}", "name": f"P {seq}"},
                                           deleted=rnd.random() < 0.1))
                await _pull(store, changes)
            elif what == "resolve":
                stuck = [r for r in records if r.sync.state in ("conflict", "error")]
                if stuck:
                    r = rnd.choice(stuck)
                    await store.resolve("customers", r.id,
                                        rnd.choice(["take_cloud", "keep_local", "discard"]))
        except ProtocolError:
            pass  # a refusal (a duplicate code, a stale local_rev): nothing changed
        await _assert_counts_exact(store)


async def test_counts_and_search_follow_a_bulk_rollback(store: DatasetStore) -> None:
    """A write that fails inside the writer's group changes neither counts nor the index."""
    await store.create("customers", {"code": "KH1", "name": "Cửa hàng Hoa Mai"})
    with pytest.raises(ProtocolError):
        await store.create("customers", {"code": "KH1", "name": "Trùng mã Hoa Đào"})
    assert await _search(store, "Hoa Đào") == []
    await _assert_counts_exact(store)


# -- upgrade --------------------------------------------------------------------------------


async def test_a_dataset_of_version_5_gets_its_index_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "datasets" / "cty-abc.db"
    path.parent.mkdir()
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=5)
    for i, (name, state) in enumerate([("Công ty Nguyễn Trãi", "synced"),
                                       ("Cửa hàng Bến Thành", "pending"),
                                       ("Đại lý Lê Lợi", "conflict")]):
        conn.execute(
            "INSERT INTO records (id, collection, key, data, deleted, version, local_rev, "
            "sync_state, updated_at) VALUES (?, 'customers', ?, ?, 0, 1, 1, ?, 'x')",
            (str(uuid.uuid4()), f"KH{i:03d}", f'{{"code":"KH{i:03d}","name":"{name}"}}',
             state))
    conn.close()
    mgr = StoreManager(tmp_path)
    await mgr.open(["cty-abc"])
    try:
        store = mgr.get("cty-abc")
        assert await _search(store, "Bến Thành") == ["KH001"]
        assert await _search(store, "H002") == ["KH002"]
        counts = await store.sync_counts()
        assert (counts["synced"], counts["pending"], counts["conflict"]) == (1, 1, 1)
        await store.create("customers", {"code": "KH9", "name": "Nhà sách Phương Nam"})
        assert await _search(store, "Phương Nam") == ["KH9"]
        assert (await store.sync_counts())["pending"] == 2
    finally:
        await mgr.close()


# -- the first download as a bulk load --------------------------------------------------------


def _feed(n: int) -> list[Change]:
    """A feed of ``n`` customers, some of them changed again and deleted later on."""
    ids = [str(uuid.UUID(int=i + 1, version=4)) for i in range(n)]
    changes = [_change(i + 1, ids[i], 1, {"code": f"KH{i:05d}", "name": f"Công ty Số {i}"})
               for i in range(n)]
    seq = n
    for i in range(0, n, 7):
        seq += 1
        changes.append(_change(seq, ids[i], 2, {"code": f"KH{i:05d}", "name": f"Đổi tên {i}"}))
    for i in range(3, n, 11):
        seq += 1
        changes.append(_change(seq, ids[i], 3, None, deleted=True))
    return changes


async def _download(store: DatasetStore, changes: list[Change], page: int,
                    more: bool = False) -> None:
    for start in range(0, len(changes), page):
        chunk = changes[start:start + page]
        await store.apply_changes(ChangesPage(
            changes=chunk, last_seq=chunk[-1].seq,
            has_more=more or start + page < len(changes)), "me")


def _snapshot(conn: sqlite3.Connection) -> dict[str, Any]:
    return {
        "records": [tuple(r) for r in conn.execute(
            "SELECT id, collection, key, data, deleted, version, local_rev, sync_state, "
            "date, base_data FROM records ORDER BY id")],
        "schema": [tuple(r) for r in conn.execute(
            "SELECT type, name, sql FROM sqlite_master ORDER BY name")],
        "meta": [tuple(r) for r in conn.execute(
            "SELECT key, value FROM meta WHERE key <> 'last_pull_at' ORDER BY key")],
    }


async def test_a_first_download_in_bulk_equals_the_ordinary_pull(tmp_path: Path) -> None:
    changes = _feed(400)
    bulk, plain = StoreManager(tmp_path / "bulk"), StoreManager(tmp_path / "plain")
    await bulk.open(["cty-abc"])
    await plain.open(["cty-abc"])
    try:
        a, b = bulk.get("cty-abc"), plain.get("cty-abc")
        dropped: list[bool] = []
        original = a.apply_changes

        async def watch(page: ChangesPage, node_id: str) -> int:
            n = await original(page, node_id)
            dropped.append(a.downloading)
            return n

        a.apply_changes = watch  # type: ignore[method-assign]
        await _download(a, changes, 100)  # the node holds nothing: a bulk load
        assert dropped == [True] * (len(dropped) - 1) + [False]  # indexes back at the end
        # the ordinary path: one page on its own first (the feed has no more: not bulk)
        await _download(b, changes[:1], 1)
        await _download(b, changes[1:], 100)
        assert not b.downloading
        await a.search_indexed()  # the records the download left to the search indexes
        snap_a = await a.readers.run(_snapshot)
        snap_b = await b.readers.run(_snapshot)
        assert snap_a == snap_b
        assert await a.sync_counts() == await b.sync_counts()
        for text in ("Số 12", "Đổi tên 7", "KH0039", "Công ty Số 3"):
            assert await _search(a, text) == await _search(b, text), text
        assert await _search(a, "Đổi tên 21") == ["KH00021", "KH00210", "KH00217"]
        assert "KH00014" not in await _search(a, "Đổi tên 14")  # renamed, then deleted
        plan = await a.readers.run(lambda conn: conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM records WHERE collection = 'customers' "
            "AND key = 'KH00001'").fetchall())
        plan = [tuple(r) for r in plan]
        assert "records_key" in str(plan)
        await _assert_counts_exact(a)
    finally:
        await bulk.close()
        await plain.close()


async def test_a_first_download_cut_short_gets_its_indexes_at_the_next_start(
        tmp_path: Path) -> None:
    changes = _feed(300)
    mgr = StoreManager(tmp_path)
    await mgr.open(["cty-abc"])
    store = mgr.get("cty-abc")
    await _download(store, changes[:200], 100, more=True)  # the node stops here
    assert store.downloading
    await store.create("customers", {"code": "KH-NEW", "name": "Cửa hàng mở trong lúc tải"})
    await mgr.close()

    mgr = StoreManager(tmp_path)
    await mgr.open(["cty-abc"])
    try:
        store = mgr.get("cty-abc")
        assert not store.downloading
        assert await _search(store, "mở trong lúc") == ["KH-NEW"]  # read without the index
        await store.search_indexed()
        assert await _uses_index(store, "mở trong lúc")
        assert await _search(store, "Công ty Số 150") == ["KH00150"]
        await _download(store, changes[200:], 100)  # the rest, as an ordinary pull
        assert await _search(store, "Công ty Số 299") == ["KH00299"]
        await _assert_counts_exact(store)
    finally:
        await mgr.close()


async def test_counts_stay_exact_page_by_page_through_a_bulk_load(tmp_path: Path) -> None:
    """While a first download loads, the pulled records are counted by each page and the
    workstations' new ones by the insert trigger: the status's counts equal a COUNT(*) after
    every page, through the feed's bulk load (later versions of records already held) and
    the snapshot's (a page resumed after a restart)."""
    changes = _feed(300)
    mgr = StoreManager(tmp_path)
    await mgr.open(["cty-abc"])
    store = mgr.get("cty-abc")
    try:
        for n, start in enumerate(range(0, len(changes), 60)):
            chunk = changes[start:start + 60]
            await store.apply_changes(ChangesPage(
                changes=chunk, last_seq=chunk[-1].seq,
                has_more=start + 60 < len(changes)), "me")
            if start + 60 < len(changes):
                assert store.downloading
                await store.create("customers", {"code": f"KH-WS{n}", "name": "Máy trạm"})
            await _assert_counts_exact(store)
        assert not store.downloading
    finally:
        await mgr.close()

    from protocol.models import SnapshotPage, SnapshotRecord
    ids = sorted(str(uuid.uuid4()) for _ in range(90))
    records = [SnapshotRecord(i + 1, "customers", rid, 1, i % 9 == 4,
                              None if i % 9 == 4 else {"code": f"KS{i:03d}", "name": "Hub"})
               for i, rid in enumerate(ids)]
    mgr = StoreManager(tmp_path / "snap")
    await mgr.open(["cty-abc"])
    store = mgr.get("cty-abc")
    try:
        for start in range(0, 90, 30):
            last = start + 30 >= 90
            await store.apply_snapshot(
                SnapshotPage(records=records[start:start + 30],
                             next=None if last else ids[start + 29], head_seq=90),
                "me", since=90, total=90)
            if not last:
                await store.create("customers", {"code": f"KS-WS{start}", "name": "Máy trạm"})
            await _assert_counts_exact(store)
        assert store.downloading  # until the feed after it catches up (the pull's)
        assert await store.finish_download()
        await _assert_counts_exact(store)
        assert (await store.sync_counts())["synced"] == 90  # tombstones count, as always
        assert not store.downloading
    finally:
        await mgr.close()


async def test_the_search_backlog_follows_every_write_and_survives_a_restart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a first download every record waits for the search indexes (the backlog), a
    slice per transaction. Records changed, deleted or added meanwhile, and a restart in the
    middle of it: the search finds what the LIKE scan finds, before, during and after."""
    from agent.store import dataset
    monkeypatch.setattr(dataset, "BACKLOG_SLICE", 40)
    monkeypatch.setattr(DatasetStore, "_index_backlog_soon", lambda self, left: None)
    changes = _feed(300)
    mgr = StoreManager(tmp_path)
    await mgr.open(["cty-abc"])
    store = mgr.get("cty-abc")
    texts = ("Công ty Số 1", "Đổi tên", "KH0025", "Sửa lúc chờ", "Mới lúc chờ", "Số 29")

    async def same_as_the_scan() -> None:
        for text in texts:
            like = await store.readers.run(lambda conn, t=text: _like(conn, "customers", t))
            assert await _search(store, text) == like, text

    await _download(store, changes, 100)
    assert store.search_backlog is None  # not begun (held back here)
    assert not await _uses_index(store, "Công ty Số 1")
    await same_as_the_scan()
    left = await store.writer.submit(lambda conn: dataset._index_slice(conn, 300),
                                     heavy=True)  # one slice of 40, out of the 300
    assert 0 < left < 300
    page = await store.query("customers", RecordQuery(q="Công ty Số 2", limit=500))
    for r in page.items[:5]:  # indexed or still waiting: both kinds are edited
        await store.update("customers", r.id, {"code": r.key, "name": "Sửa lúc chờ"},
                           if_match=r.local_rev)
    for r in page.items[5:8]:
        await store.delete("customers", r.id, if_match=r.local_rev)
    await store.create("customers", {"code": "KH-MOI", "name": "Mới lúc chờ"})
    await same_as_the_scan()
    await mgr.close()  # a restart in the middle of the backlog

    monkeypatch.undo()
    monkeypatch.setattr(dataset, "BACKLOG_SLICE", 40)
    mgr = StoreManager(tmp_path)
    await mgr.open(["cty-abc"])
    store = mgr.get("cty-abc")
    try:
        await store.search_indexed()  # it goes on by itself at the start
        assert store.search_backlog is None

        def fts_check(conn: sqlite3.Connection) -> int:  # FTS5: the indexes = the records
            for table in ("records_fts", "records_key_fts"):
                conn.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)")
            return int(conn.execute("SELECT count(*) FROM search_pending").fetchone()[0])

        assert await store.writer.submit(fts_check) == 0
        assert await _uses_index(store, "Sửa lúc chờ")
        await same_as_the_scan()
        assert await _search(store, "Sửa lúc chờ") == sorted(r.key for r in page.items[:5])
        await _assert_counts_exact(store)
    finally:
        await mgr.close()


async def test_a_download_that_ends_while_its_store_closes_leaves_the_backlog_to_the_next_open(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The last page is still in the writer when the store closes (the node stopping): the
    page commits, and its backlog waits in meta; no task starts on a closed store (it failed
    with "store is closed" and was restarted in a loop)."""
    import asyncio
    changes = _feed(120)
    mgr = StoreManager(tmp_path)
    await mgr.open(["cty-abc"])
    store = mgr.get("cty-abc")
    await _download(store, changes[:100], 50, more=True)
    last = asyncio.ensure_future(store.apply_changes(ChangesPage(
        changes=changes[100:], last_seq=changes[-1].seq, has_more=False), "me"))
    await asyncio.sleep(0)  # the page is queued to the writer
    await mgr.close()
    await last
    assert store.tasks.tasks == {}
    assert "failed" not in caplog.text
    mgr = StoreManager(tmp_path)
    await mgr.open(["cty-abc"])
    try:
        store = mgr.get("cty-abc")
        await store.search_indexed()
        assert await _uses_index(store, "Công ty Số 110")
        assert await _search(store, "Công ty Số 110") == ["KH00110"]
    finally:
        await mgr.close()


async def test_a_backlog_whose_records_were_all_purged_still_ends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every record the download left to the search indexes removed before it ran (a purge
    of the rows, not tombstones), then a restart: the backlog still ends (the search reads
    the indexes again, not the records)."""
    monkeypatch.setattr(DatasetStore, "_index_backlog_soon", lambda self, left: None)
    changes = _feed(60)
    mgr = StoreManager(tmp_path)
    await mgr.open(["cty-abc"])
    store = mgr.get("cty-abc")
    await _download(store, changes, 30)
    await store.writer.submit(lambda conn: conn.execute("DELETE FROM records"))
    await mgr.close()
    monkeypatch.undo()
    mgr = StoreManager(tmp_path)
    await mgr.open(["cty-abc"])
    try:
        store = mgr.get("cty-abc")
        await store.search_indexed()
        assert store.search_backlog is None
        await store.create("customers", {"code": "KH-SAU", "name": "Sau khi xóa hết"})
        assert await _uses_index(store, "Sau khi xóa")
        assert await _search(store, "Sau khi xóa") == ["KH-SAU"]
    finally:
        await mgr.close()
