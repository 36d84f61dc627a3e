"""The push loop's pipeline (agent/sync/worker.py, ``drain``): the answer to one batch is
stored and the batch after the one in flight taken in one transaction; a batch the store
takes while the drain is cancelled goes back to pending with the others."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from agent.cloud.client import HubClient, HubUnreachable
from protocol.connectivity import Connectivity
from tests.agent.sync.conftest import DS, Hub, Node, eventually

MakeNode = Callable[..., Awaitable[Node]]


async def test_many_batches_drain_in_order_each_applied_once(
    make_node: MakeNode, hub: Hub,
) -> None:
    """23 creates and then an edit of each of the first 5, in batches of 5: every record
    ends synced at version 2 and the hub's feed holds each op once, each record's in outbox
    order (two batches of creates only may reach the hub in either order)."""
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
    feed = await _feed(hub, node)
    assert sorted(feed) == sorted([(rid, 1) for rid in ids] + [(rid, 2) for rid in ids[:5]])
    for record_id in ids[:5]:
        assert feed.index((record_id, 1)) < feed.index((record_id, 2))


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


class Overlap:
    """Wraps a client's ``push``: how many were in flight at once, at most; ``fail_first``:
    the first push gets no answer (the hub unreachable) after the second one's came."""

    def __init__(self, push: Callable[..., Awaitable[Any]], fail_first: bool = False) -> None:
        self.push, self.fail_first = push, fail_first
        self.now = self.most = self.calls = 0
        self.answered = asyncio.Event()

    async def __call__(self, dataset: str, ops: Any) -> Any:
        self.calls += 1
        call = self.calls
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            if call == 1:
                await asyncio.sleep(0)  # the next batch is taken and, when it may, sent
            if call == 1 and self.fail_first:
                await asyncio.wait_for(self.answered.wait(), 5)
                raise HubUnreachable(Connectivity.CLOUD_UNAVAILABLE, "test: no answer")
            answer = await self.push(dataset, ops)
            if call == 2:
                self.answered.set()
            return answer
        finally:
            self.now -= 1


async def _feed(hub: Hub, node: Node) -> list[tuple[str, int]]:
    assert node.engine.client is not None
    direct = HubClient(hub.url, node.engine.client.token)
    try:
        page = await direct.changes(DS, since=0, limit=1000)
    finally:
        await direct.close()
    return [(c.id, c.version) for c in page.changes]


async def test_two_batches_of_creates_go_to_the_hub_at_once(
    make_node: MakeNode, hub: Hub, monkeypatch: pytest.MonkeyPatch,
) -> None:
    node = await make_node("office-a", online=False, batch_size=5)
    ids = [(await node.store.create("customers", {"code": f"KH{i:03d}", "name": "x"})).id
           for i in range(20)]
    worker = node.engine.workers[DS]
    overlap = Overlap(worker.client.push)
    monkeypatch.setattr(worker.client, "push", overlap)
    assert await worker.drain() == 20
    assert overlap.most == 2
    assert sorted(await _feed(hub, node)) == sorted((rid, 1) for rid in ids)
    assert (await node.store.sync_counts())["synced"] == 20


async def test_a_batch_referencing_the_one_in_flight_waits_for_its_answer(
    make_node: MakeNode, hub: Hub, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five accounts, then five under them: the second batch would be refused (its parents
    missing) if the hub took it first, so it goes only after the first one's answer."""
    node = await make_node("office-a", online=False, batch_size=5)
    parents = [(await node.store.create("accounts", {"number": f"11{i}", "name": "x"})).id
               for i in range(5)]
    for i, parent in enumerate(parents):
        await node.store.create("accounts", {"number": f"11{i}1", "name": "y", "parent": parent})
    worker = node.engine.workers[DS]
    overlap = Overlap(worker.client.push)
    monkeypatch.setattr(worker.client, "push", overlap)
    assert await worker.drain() == 10
    assert overlap.most == 1
    counts = await node.store.sync_counts()
    assert {state: n for state, n in counts.items() if n} == {"synced": 10}
    assert [rid for rid, _ in (await _feed(hub, node))[:5]] == parents


async def test_an_answer_after_an_earlier_push_failed_is_sent_again_not_lost(
    make_node: MakeNode, hub: Hub, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first of two batches in flight gets no answer, the second is applied: the drain
    fails, both batches are pending again, and the next drain answers the second by replay
    (applied once in the hub's feed) and applies the first."""
    node = await make_node("office-a", online=False, batch_size=5)
    ids = [(await node.store.create("customers", {"code": f"KH{i:03d}", "name": "x"})).id
           for i in range(10)]
    worker = node.engine.workers[DS]
    real = worker.client.push
    monkeypatch.setattr(worker.client, "push", Overlap(real, fail_first=True))
    with pytest.raises(HubUnreachable):
        await worker.drain()
    counts = await node.store.sync_counts()
    assert (counts["syncing"], counts["pending"], counts["synced"]) == (0, 10, 0)
    assert await node.store.outbox_size() == 10
    assert len(await _feed(hub, node)) == 5  # the second batch, applied
    monkeypatch.setattr(worker.client, "push", real)
    assert await worker.drain() == 10
    assert sorted(await _feed(hub, node)) == sorted((rid, 1) for rid in ids)
    assert (await node.store.sync_counts())["synced"] == 10
