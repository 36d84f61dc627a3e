"""A fresh node's first download reads the hub's snapshot (records in id order at their latest
versions), then the feed from the first page's ``head_seq``: against a real in-process hub,
with changes on the hub during the snapshot, a restart in the middle of it, a workstation
writing meanwhile, and an older hub without the route."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web

import agent.sync.worker as worker_module
from agent.cloud.client import HubClient
from agent.store.dataset import BULK_META, SNAPSHOT_META
from hub import records as hub_pages
from hub import routes
from hub.db import records as hub_records
from protocol.models import Action, ChangesPage, Op, SnapshotPage
from protocol.query import RecordQuery
from tests.agent.sync.conftest import (
    DS,
    Hub,
    Node,
    enrolled_node,
    eventually,
    serve_hub,
    start_node,
)
from tests.hub.helpers import admin, make_code

PAGE = 5  # the snapshot's page in these tests (BULK_PAGE), so 20 records make 4 pages
Hook = Callable[[int, SnapshotPage | None], Awaitable[None]]


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "BULK_PAGE", PAGE)


class Seeder:
    """Another office writing on the hub straight through its API."""

    def __init__(self, client: HubClient) -> None:
        self.client = client

    async def push(self, action: Action, record_id: str, data: dict[str, Any] | None = None,
                   base: int | None = None) -> None:
        [result] = await self.client.push(DS, [Op(
            op_id=str(uuid.uuid4()), collection="customers", id=record_id, action=action,
            base_version=base, data=data)])
        assert result.status == "applied", result

    async def create_many(self, ids: list[str]) -> None:
        await self.client.push(DS, [Op(
            op_id=str(uuid.uuid4()), collection="customers", id=rid, action=Action.CREATE,
            data={"code": f"KH{i:03d}", "name": f"Khách {i}"}) for i, rid in enumerate(ids)])


@pytest.fixture
async def seeder(hub: Hub) -> AsyncIterator[Seeder]:
    client = HubClient(hub.url)
    enroll = await client.enroll(make_code(hub.db_url, DS), "seeder")
    await client.close()
    client = HubClient(hub.url, enroll.token)
    try:
        yield Seeder(client)
    finally:
        await client.close()


class Calls:
    """Wraps the node's ``snapshot`` and ``changes`` calls: what was asked, in order; a hook
    runs after the n-th snapshot page came back and before the worker gets it."""

    def __init__(self, client: HubClient, hook: Hook | None = None) -> None:
        self.snapshots: list[str | None] = []
        self.feed: list[int] = []
        self._snapshot, self._changes = client.snapshot, client.changes
        self.hook = hook

    async def snapshot(self, dataset: str, after: str | None = None,
                       limit: int = 1000) -> SnapshotPage | None:
        self.snapshots.append(after)
        page = await self._snapshot(dataset, after, limit)
        if self.hook is not None:
            await self.hook(len(self.snapshots), page)
        return page

    async def changes(self, dataset: str, since: int, limit: int = 1000,
                      wait: float = 0) -> ChangesPage:
        self.feed.append(since)
        return await self._changes(dataset, since, limit, wait)


def watch(node: Node, monkeypatch: pytest.MonkeyPatch, hook: Hook | None = None) -> Calls:
    calls = Calls(node.engine.client, hook)  # type: ignore[arg-type]
    monkeypatch.setattr(node.engine.client, "snapshot", calls.snapshot)
    monkeypatch.setattr(node.engine.client, "changes", calls.changes)
    return calls


def hub_state(hub: Hub) -> dict[str, tuple[int, bool]]:
    """The hub's records: id → (version, deleted)."""
    def run(conn: sa.Connection) -> dict[str, tuple[int, bool]]:
        return {r.id: (r.version, bool(r.deleted)) for r in conn.execute(
            sa.select(hub_records.c.id, hub_records.c.version, hub_records.c.deleted))}
    return dict(admin(hub.db_url, run))


def hub_head(hub: Hub) -> int:
    return int(admin(hub.db_url, lambda c: c.exec_driver_sql(
        "SELECT last_seq FROM hub_datasets WHERE id = ?", (DS,)).scalar()))


async def node_state(node: Node) -> dict[str, tuple[int, bool, int]]:
    """The node's records: id → (version, deleted, local_rev)."""
    found = await node.store.readers.run(lambda conn: conn.execute(
        "SELECT id, version, deleted, local_rev FROM records").fetchall())
    return {r[0]: (r[1], bool(r[2]), r[3]) for r in found}


async def download_done(node: Node, hub: Hub) -> bool:
    held = {k: v[:2] for k, v in (await node_state(node)).items()}
    return (held == hub_state(hub) and not node.store.downloading
            and await node.store.cursor() == hub_head(hub))


async def fresh_node(tmp: Path, hub: Hub, name: str = "office-a") -> tuple[Node, str]:
    """An enrolled node holding nothing, not yet online (its calls can be watched first)."""
    return await enrolled_node(tmp, name, hub.url, hub.db_url, online=False)


async def test_a_fresh_node_downloads_through_the_snapshot(
    tmp_path: Path, hub: Hub, seeder: Seeder, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [str(uuid.uuid4()) for _ in range(22)]
    await seeder.create_many(ids)
    await seeder.push(Action.UPDATE, ids[3], {"code": "KH003", "name": "Sửa lần 1"}, 1)
    await seeder.push(Action.UPDATE, ids[3], {"code": "KH003", "name": "Sửa lần 2"}, 2)
    await seeder.push(Action.DELETE, ids[4], None, 1)
    node, _ = await fresh_node(tmp_path, hub)
    try:
        calls = watch(node, monkeypatch)
        await node.engine.set_online(True)
        await eventually(lambda: download_done(node, hub))
        ordered = sorted(ids)
        # five pages in id order (22 records), then the feed from the first page's head
        assert calls.snapshots == [None, ordered[4], ordered[9], ordered[14], ordered[19]]
        assert calls.feed[0] == 25 and 0 not in calls.feed
        held = await node_state(node)
        assert held[ids[3]] == (3, False, 1) and held[ids[4]] == (2, True, 1)
        assert all(v == (1, False, 1) for k, v in held.items() if k not in ids[3:5])
        meta = await node.store.meta(SNAPSHOT_META)
        assert meta is None and await node.store.meta(BULK_META) is None
        found = await node.store.query("customers", RecordQuery(q="Sửa lần 2"))
        assert [r.id for r in found.items] == [ids[3]]  # the search indexes were built
        assert (await node.store.get("customers", ids[7])).sync.state == "synced"
    finally:
        await node.close()


async def test_changes_on_the_hub_during_the_snapshot_are_all_there_at_the_end(
    tmp_path: Path, hub: Hub, seeder: Seeder, monkeypatch: pytest.MonkeyPatch
) -> None:
    ordered = sorted(str(uuid.uuid4()) for _ in range(20))
    await seeder.create_many(ordered)
    first_id = "00000000-0000-4000-8000-000000000001"  # before every page

    async def meanwhile(n: int, page: SnapshotPage | None) -> None:
        if n == 1:  # the first page was read; the others not yet
            assert page is not None and page.next == ordered[4] and page.head_seq == 20
            await seeder.push(Action.UPDATE, ordered[1], {"code": "KH901", "name": "Đã đọc"}, 1)
            await seeder.push(Action.UPDATE, ordered[12], {"code": "KH912", "name": "Chưa"}, 1)
            await seeder.push(Action.DELETE, ordered[17], None, 1)
            await seeder.push(Action.DELETE, ordered[2], None, 1)
            await seeder.push(Action.CREATE, first_id, {"code": "KH999", "name": "Mới"})

    node, _ = await fresh_node(tmp_path, hub)
    try:
        calls = watch(node, monkeypatch, meanwhile)
        await node.engine.set_online(True)
        await eventually(lambda: download_done(node, hub))
        held = await node_state(node)
        assert held[ordered[1]][:2] == (2, False) and held[ordered[12]][:2] == (2, False)
        assert held[ordered[17]][:2] == (2, True) and held[ordered[2]][:2] == (2, True)
        assert held[first_id][:2] == (1, False)
        assert calls.feed[0] == 20  # the first page's head, not a later one
        assert await node.store.cursor() == 25
        assert (await node.store.get("customers", ordered[1])).data["name"] == "Đã đọc"
    finally:
        await node.close()


async def test_a_restart_in_the_middle_resumes_the_snapshot(
    tmp_path: Path, hub: Hub, seeder: Seeder, monkeypatch: pytest.MonkeyPatch
) -> None:
    ordered = sorted(str(uuid.uuid4()) for _ in range(20))
    await seeder.create_many(ordered)
    stuck = asyncio.Event()

    async def hang_at_the_third_page(n: int, page: SnapshotPage | None) -> None:
        if n == 3:
            stuck.set()
            await asyncio.Event().wait()  # until the node stops

    node, token = await fresh_node(tmp_path, hub)
    node_id = node.engine.hub_node_id
    try:
        watch(node, monkeypatch, hang_at_the_third_page)
        await node.engine.set_online(True)
        await asyncio.wait_for(stuck.wait(), 15)

        async def two_pages_held() -> bool:
            saved = await node.store.meta(SNAPSHOT_META)
            return saved is not None and saved["after"] == ordered[9]

        await eventually(two_pages_held)
        assert await node.store.meta(SNAPSHOT_META) == {
            "since": 20, "after": ordered[9], "total": 20}
        assert await node.store.cursor() == 0 and node.store.downloading
        assert len(await node_state(node)) == 10
    finally:
        await node.close()
    # meanwhile on the hub: a record already held and one not yet
    await seeder.push(Action.UPDATE, ordered[3], {"code": "KH903", "name": "Sau"}, 1)
    await seeder.push(Action.UPDATE, ordered[15], {"code": "KH915", "name": "Sau"}, 1)
    again = await start_node(tmp_path, "office-a", hub.url, token, node_id, online=False)
    try:
        calls = watch(again, monkeypatch)
        await again.engine.set_online(True)
        await eventually(lambda: download_done(again, hub))
        assert calls.snapshots == [ordered[9], ordered[14]]  # resumed, not begun again
        assert calls.feed[0] == 20
        held = await node_state(again)
        assert held[ordered[3]] == (2, False, 2)  # held v1, then the feed's v2
        assert held[ordered[15]] == (2, False, 1)  # read at v2 from the resumed snapshot
        assert all(v == (1, False, 1) for k, v in held.items()
                   if k not in (ordered[3], ordered[15]))
        assert await again.store.meta(SNAPSHOT_META) is None
    finally:
        await again.close()


async def test_a_workstation_write_during_the_snapshot_survives_and_is_pushed(
    tmp_path: Path, hub: Hub, seeder: Seeder, monkeypatch: pytest.MonkeyPatch
) -> None:
    ordered = sorted(str(uuid.uuid4()) for _ in range(20))
    await seeder.create_many(ordered)
    node, _ = await fresh_node(tmp_path, hub)
    written: dict[str, str] = {}

    async def workstation_writes(n: int, page: SnapshotPage | None) -> None:
        if n == 2:  # the first page is held (applied while the second was fetched)
            async def first_held() -> bool:
                return ordered[0] in await node_state(node)
            await eventually(first_held)
            made = await node.store.create("customers", {"code": "KH777", "name": "Local"})
            held = await node.store.get("customers", ordered[0])
            edited = await node.store.update("customers", ordered[0],
                                             {"code": "KH000", "name": "Edited here"},
                                             if_match=held.local_rev)
            written.update(made=made.id, edited=edited.id)

    try:
        watch(node, monkeypatch, workstation_writes)
        await node.engine.set_online(True)
        await eventually(lambda: download_done(node, hub))

        async def pushed() -> bool:
            return await node.store.outbox_size() == 0 and await download_done(node, hub)

        await eventually(pushed)
        assert hub_state(hub)[written["made"]] == (1, False)
        assert hub_state(hub)[ordered[0]] == (2, False)
        for rid, name in ((written["made"], "Local"), (ordered[0], "Edited here")):
            record = await node.store.get("customers", rid)
            assert record.sync.state == "synced" and record.data["name"] == name
        assert len(await node_state(node)) == 21
    finally:
        await node.close()


async def test_an_older_hub_without_the_snapshot_downloads_through_the_feed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_such_route(request: web.Request) -> web.Response:
        raise web.HTTPNotFound()  # what an older hub's router answers

    monkeypatch.setattr(routes, "snapshot", no_such_route)
    async for hub in serve_hub(tmp_path):
        await _download_from(hub, tmp_path, monkeypatch)


async def _download_from(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = HubClient(hub.url)
    enroll = await client.enroll(make_code(hub.db_url, DS), "seeder")
    await client.close()
    seeder = Seeder(HubClient(hub.url, enroll.token))
    try:
        ordered = sorted(str(uuid.uuid4()) for _ in range(12))
        await seeder.create_many(ordered)
        await seeder.push(Action.DELETE, ordered[5], None, 1)
        node, _ = await fresh_node(tmp_path, hub)
        try:
            calls = watch(node, monkeypatch)
            await node.engine.set_online(True)
            await eventually(lambda: download_done(node, hub))
            assert calls.snapshots == [None] and calls.feed[0] == 0
            assert (await node_state(node))[ordered[5]][:2] == (2, True)
            assert await node.store.meta(SNAPSHOT_META) is None
        finally:
            await node.close()
    finally:
        await seeder.client.close()


async def test_the_rows_form_stores_what_the_object_form_stores(
    tmp_path: Path, hub: Hub, seeder: Seeder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node asks for the rows form (each record's data as the hub's JSON text, with the
    hub's key and date); what it holds after is exactly what a download of the object form
    (an older hub's) leaves: keys folded the same, dates, data text, tombstones."""
    ids = [str(uuid.uuid4()) for _ in range(7)]
    await seeder.client.push(DS, [
        Op(op_id=str(uuid.uuid4()), collection="customers", id=ids[0], action=Action.CREATE,
           data={"code": " kh-\uff56\uff49ệt ", "name": "Công ty \"Sài Gòn\" \\ số 1"}),
        Op(op_id=str(uuid.uuid4()), collection="accounts", id=ids[1], action=Action.CREATE,
           data={"number": "1111", "name": "Tiền mặt"}),
        Op(op_id=str(uuid.uuid4()), collection="accounts", id=ids[2], action=Action.CREATE,
           data={"number": "131", "name": "Phải thu"}),
        Op(op_id=str(uuid.uuid4()), collection="vouchers", id=ids[3], action=Action.CREATE,
           data={"type": "receipt", "date": "2024-03-05", "number": "PT000001",
                 "customer": ids[0],
                 "lines": [{"debit": ids[1], "credit": ids[2], "amount": 1500000}]}),
        *[Op(op_id=str(uuid.uuid4()), collection="customers", id=rid, action=Action.CREATE,
             data={"code": f"KH{i}", "name": f"Khách {i}"}) for i, rid in enumerate(ids[4:])],
    ])
    await seeder.push(Action.DELETE, ids[5], None, 1)

    async def held(node: Node) -> list[tuple[Any, ...]]:
        return list(await node.store.readers.run(lambda conn: conn.execute(
            "SELECT id, collection, key, data, deleted, version, sync_state, date, base_data"
            " FROM records ORDER BY id").fetchall()))

    forms: list[str] = []
    real = hub_pages.snapshot_page

    def older(conn: sa.Connection, dataset: str, after: str | None, limit: int,
              form: str | None = None) -> bytes:
        forms.append(str(form))
        return bytes(real(conn, dataset, after, limit))  # the form asked for is ignored

    stored = []
    for name in ("rows", "objects"):
        if name == "objects":
            monkeypatch.setattr(hub_pages, "snapshot_page", older)
        node, _ = await fresh_node(tmp_path / name, hub, name)
        try:
            await node.engine.set_online(True)
            await eventually(functools.partial(download_done, node, hub))
            stored.append(await held(node))
        finally:
            await node.close()
    assert forms and set(forms) == {"rows"}  # asked for, answered with objects
    rows, objects = stored
    assert rows == objects and len(rows) == 7
    by_id = {r[0]: r for r in rows}
    assert by_id[ids[0]][2] == "KH-VIỆT" and by_id[ids[3]][7] == "2024-03-05"
    assert by_id[ids[5]][4] == 1 and by_id[ids[3]][3] == by_id[ids[3]][8]
