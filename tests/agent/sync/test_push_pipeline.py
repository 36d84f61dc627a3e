"""The push loop's pipeline (agent/sync/worker.py, ``drain``): the answer to one batch is
stored and the batch after the one in flight taken in one transaction; a batch the store
takes while the drain is cancelled goes back to pending with the others."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from agent.cloud.client import HubClient
from tests.agent.sync.conftest import DS, Hub, Node, eventually

MakeNode = Callable[..., Awaitable[Node]]


async def test_many_batches_drain_in_order_each_applied_once(
    make_node: MakeNode, hub: Hub,
) -> None:
    """23 creates and then an edit of each of the first 5, in batches of 5: every record
    ends synced at version 2 and the hub's feed holds each op once, in outbox order."""
    node = await make_node("office-a", online=False, batch_size=5)
    ids = [(await node.store.create("customers", {"code": f"KH{i:03d}", "name": "x"})).id
           for i in range(23)]
    for i, record_id in enumerate(ids[:5]):
        await node.store.update("customers", record_id, {"code": f"KH{i:03d}", "name": "y"},
                                if_match=1)
    await node.engine.set_online(True)

    async def synced() -> bool:
        return (await node.store.sync_counts())["synced"] == 23

    await eventually(synced)
    assert await node.store.outbox_size() == 0
    for record_id in ids[:5]:
        record = await node.store.get("customers", record_id)
        assert (record.version, record.data["name"]) == (2, "y")
    assert node.engine.client is not None
    direct = HubClient(hub.url, node.engine.client.token)
    try:
        page = await direct.changes(DS, since=0, limit=100)
    finally:
        await direct.close()
    assert [(c.id, c.version) for c in page.changes] == (
        [(rid, 1) for rid in ids] + [(rid, 2) for rid in ids[:5]])


async def test_a_batch_taken_while_the_drain_is_cancelled_goes_back_to_pending(
    make_node: MakeNode, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The drain is cancelled (the user turns "work online" off) while the store takes the
    next batch and the first one is in flight: both batches' records are pending again, none
    is left ``syncing``."""
    node = await make_node("office-a", online=False, batch_size=5)
    for i in range(10):
        await node.store.create("customers", {"code": f"KH{i:03d}", "name": "x"})
    worker = node.engine.workers[DS]
    store = node.store
    real_take = store.take_batch
    taking, gate = asyncio.Event(), threading.Event()
    calls = 0

    async def slow_take(limit: int, in_flight: frozenset[str] = frozenset()) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:  # the batch after the one in flight: the writer is busy meanwhile
            busy = asyncio.ensure_future(store.writer.submit(lambda conn: gate.wait(5),
                                                             heavy=True))
            await asyncio.sleep(0)
            taking.set()
            taken = await real_take(limit, in_flight)
            await busy
            return taken
        return await real_take(limit, in_flight)

    class NoAnswer:
        async def push(self, dataset: str, ops: Any) -> Any:
            await asyncio.Event().wait()

    monkeypatch.setattr(store, "take_batch", slow_take)
    monkeypatch.setattr(worker, "client", NoAnswer())
    drain = asyncio.create_task(worker.drain())
    await asyncio.wait_for(taking.wait(), 5)
    drain.cancel()
    await asyncio.sleep(0.05)
    gate.set()  # the writer goes on to the take, which runs whether the drain waits or not
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(drain, 5)
    counts = await store.sync_counts()
    assert (counts["syncing"], counts["pending"]) == (0, 10)
    assert await store.outbox_size() == 10
