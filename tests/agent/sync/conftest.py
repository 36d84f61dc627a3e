"""A hub in-process and nodes made of the real store + sync engine, for the sync tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from agent.cloud.client import HubClient
from agent.config import CloudSection
from agent.events import EventBus
from agent.store import DatasetStore, StoreManager
from agent.store.node import NodeDB
from agent.sync.engine import SyncEngine
from hub import nodes
from hub.app import create_app
from tests.hub.helpers import admin, make_code

DS = "cty-abc"


async def eventually(check: Callable[[], Awaitable[bool]], limit: float = 15.0) -> None:
    """Wait until ``check`` holds, polling; fail with the deadline, never pass by luck."""
    deadline = time.monotonic() + limit
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {limit} s")
        await asyncio.sleep(0.02)


@dataclass
class Hub:
    db_url: str
    server: TestServer | None
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None

    async def start(self) -> None:
        self.server = TestServer(create_app(self.db_url), host="127.0.0.1", port=self.port)
        await self.server.start_server()


@dataclass
class Node:
    name: str
    stores: StoreManager
    engine: SyncEngine
    node_db: NodeDB
    bus: EventBus

    @property
    def store(self) -> DatasetStore:
        return self.stores.get(DS)

    async def close(self) -> None:
        await self.engine.stop()
        await self.stores.close()
        await self.node_db.close()


async def serve_hub(tmp: Path) -> AsyncIterator[Hub]:
    """An in-process SQLite hub holding dataset ``DS`` on a free port, stopped at the end: the
    body of a ``hub`` fixture (``async for handle in serve_hub(tmp_path): yield handle``)."""
    db_url = f"sqlite:///{tmp}/hub.db"
    admin(db_url, nodes.create_dataset, DS)
    server = TestServer(create_app(db_url), host="127.0.0.1", port=0)
    await server.start_server()
    handle = Hub(db_url, server, server.port or 0)
    try:
        yield handle
    finally:
        await handle.stop()


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async for handle in serve_hub(tmp_path):
        yield handle


async def enrolled_node(
    tmp: Path, name: str, hub_url: str, db_url: str, *, via: str | None = None,
    online: bool = True, batch_size: int = 100, long_poll: float = 1.0, client_timeout: float = 5,
) -> tuple[Node, str]:
    """A node of real store + sync engine in this process, enrolled with the hub at
    ``hub_url`` (database ``db_url``) and syncing through ``via`` (a proxy) or straight to
    the hub; started. Returns the node and its hub token."""
    enroller = HubClient(hub_url)
    try:
        enroll = await enroller.enroll(make_code(db_url, DS), name)
    finally:
        await enroller.close()
    node = await start_node(tmp, name, via or hub_url, enroll.token, enroll.node_id,
                            online=online, batch_size=batch_size, long_poll=long_poll,
                            client_timeout=client_timeout)
    return node, enroll.token


async def start_node(
    tmp: Path, name: str, url: str, token: str, node_id: str, *, online: bool = True,
    batch_size: int = 100, long_poll: float = 1.0, client_timeout: float = 5,
) -> Node:
    """The node ``name`` (an enrolled one: its hub token and node id) on its data folder
    under ``tmp``, as it was left, syncing with the hub at ``url``; started (a restart)."""
    bus = EventBus()
    node_db = NodeDB(tmp / name / "node.db")
    await node_db.open()
    stores = StoreManager(tmp / name, bus=bus, language="en", local_numbering=False)
    await stores.open([DS])
    engine = SyncEngine(
        stores, node_db, bus, HubClient(url, token, timeout=client_timeout),
        CloudSection(probe_interval_s=0.1, probe_timeout_s=1.0, batch_size=batch_size,
                     long_poll_s=long_poll, max_backoff_s=0.3),
        hub_node_id=node_id, online=online,
    )
    await engine.start()
    return Node(name, stores, engine, node_db, bus)


@pytest.fixture
async def make_node(tmp_path: Path, hub: Hub) -> AsyncIterator[Callable[..., Awaitable[Node]]]:
    made: list[Node] = []

    async def make(name: str, *, online: bool = True, batch_size: int = 100) -> Node:
        node, _token = await enrolled_node(tmp_path, name, hub.url, hub.db_url,
                                           online=online, batch_size=batch_size)
        made.append(node)
        return node

    yield make
    for node in made:
        await node.close()


async def seed_catalog(store: DatasetStore, prefix: str = "") -> dict[str, Any]:
    cash = await store.create("accounts", {"number": f"{prefix}111", "name": "Tiền mặt"})
    recv = await store.create("accounts", {"number": f"{prefix}131", "name": "Phải thu"})
    return {"cash": cash.id, "recv": recv.id}


def voucher(ids: dict[str, Any], customer: str, number: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "receipt", "date": "2026-11-20", "customer": customer,
        "lines": [{"debit": ids["cash"], "credit": ids["recv"], "amount": 250_000}],
    }
    if number:
        data["number"] = number
    return data
