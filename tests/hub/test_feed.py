"""Contract: the change feed — paging, long-poll, gap-free order, several hub instances."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub import keys, nodes
from hub.app import create_app
from tests.hub.conftest import ClientFactory, enroll
from tests.hub.helpers import DS, Node, admin, customer, make_code, new_id, op


async def wait_until_waiting(client: TestClient[Any, Any], deadline: float = 5.0) -> None:
    notifier = client.app[keys.NOTIFIER]
    end = time.monotonic() + deadline
    while not notifier.waiting(DS):
        assert time.monotonic() < end, "the long-poll never started waiting"
        await asyncio.sleep(0.01)


async def test_changes_page_in_order(node: Node) -> None:
    await node.push(*[op("create", "customers", new_id(), customer(f"K{i}")) for i in range(25)])
    seen, since, pages = [], 0, 0
    while True:
        page = await node.changes(since, limit=10)
        seen += [c["seq"] for c in page["changes"]]
        since, pages = page["last_seq"], pages + 1
        if not page["has_more"]:
            break
    assert seen == list(range(1, 26)) and pages == 3
    assert await node.changes(25) == {"changes": [], "last_seq": 25, "has_more": False}


async def test_long_poll_wakes_on_push(node: Node) -> None:
    poll = asyncio.create_task(node.changes(0, wait=20))
    await wait_until_waiting(node.client)
    started = time.monotonic()
    await node.push(op("create", "customers", new_id(), customer("K1")))
    page = await asyncio.wait_for(poll, 5)
    assert time.monotonic() - started < 1.0
    assert [c["seq"] for c in page["changes"]] == [1]


async def test_long_poll_ends_empty_when_wait_elapses(node: Node) -> None:
    started = time.monotonic()
    page = await node.changes(0, wait=0.3)
    assert page == {"changes": [], "last_seq": 0, "has_more": False}
    assert 0.25 < time.monotonic() - started < 3


async def test_feed_is_gap_free_under_concurrent_pushes(node: Node, node_b: Node) -> None:
    writers, batches, per_batch = 4, 8, 15
    total = writers * batches * per_batch

    async def writer(who: Node, w: int) -> None:
        for b in range(batches):
            ops = [op("create", "customers", new_id(), customer(f"W{w}-{b}-{i}"))
                   for i in range(per_batch)]
            results = await who.push(*ops)
            assert all(r["status"] == "applied" for r in results)

    async def reader() -> list[int]:
        seen: list[int] = []
        end = time.monotonic() + 60
        while len(seen) < total and time.monotonic() < end:
            page = await node.changes(seen[-1] if seen else 0, limit=7)
            seqs = [c["seq"] for c in page["changes"]]
            start = (seen[-1] if seen else 0) + 1
            assert seqs == list(range(start, start + len(seqs))), "the feed skipped a seq"
            seen += seqs
        return seen

    read = asyncio.create_task(reader())
    await asyncio.gather(*(writer(node if w % 2 else node_b, w) for w in range(writers)))
    assert await asyncio.wait_for(read, 60) == list(range(1, total + 1))


async def test_instances_on_one_postgres_wake_each_other(
    aiohttp_client: ClientFactory, pg_url: str
) -> None:
    admin(pg_url, nodes.create_dataset, DS)
    first = await aiohttp_client(create_app(pg_url))
    second = await aiohttp_client(create_app(pg_url))
    answer = await enroll(first, make_code(pg_url, DS), "office-a")
    via_first = Node(first, answer["token"], answer["node_id"])
    via_second = Node(second, answer["token"], answer["node_id"])

    poll = asyncio.create_task(via_second.changes(0, wait=20))
    await wait_until_waiting(second)
    started = time.monotonic()
    await via_first.push(op("create", "customers", new_id(), customer("K1")))
    page = await asyncio.wait_for(poll, 5)
    assert time.monotonic() - started < 1.0, "NOTIFY did not reach the other instance"
    assert [c["seq"] for c in page["changes"]] == [1]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_shutdown_ends_long_polls(node: Node) -> None:
    poll = asyncio.create_task(node.changes(0, wait=30))
    await wait_until_waiting(node.client)
    node.client.app[keys.NOTIFIER].close()
    page = await asyncio.wait_for(poll, 5)
    assert page["changes"] == []
