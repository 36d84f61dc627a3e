"""A record in conflict keeps the hub's newest version as "the cloud's" while it waits
(found by tests/reliability/test_convergence.py): the pull leaves a record with a queued op
alone, so without this, changes the hub made after the refusal were skipped for good and
``take_cloud`` installed an outdated copy as ``synced``, never to be corrected."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tests.agent.sync.conftest import Node, eventually
from tests.agent.sync.test_engine import _conflict


async def _edited_again_at_a(a: Node, b: Node, record_id: str, data: dict[str, str],
                             deleted: bool = False) -> None:
    record = await a.store.get("customers", record_id)
    if deleted:
        await a.store.delete("customers", record_id, if_match=record.local_rev)
    else:
        await a.store.update("customers", record_id, data, if_match=record.local_rev)

    async def a_synced() -> bool:
        return (await a.store.sync_counts()).get("synced", 0) >= 1 and not (
            await a.store.outbox_size())

    await eventually(a_synced)
    worker = a.engine.workers["cty-abc"]
    last = (await worker.client.changes("cty-abc", since=0, limit=1000)).last_seq

    async def b_pulled_past_it() -> bool:
        return await b.store.cursor() >= last

    await eventually(b_pulled_past_it)


async def test_take_cloud_takes_the_newest_cloud_version(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    a, b, record_id = await _conflict(make_node)
    newest = {"code": "KH900", "name": "v3 at A", "phone": "0999"}
    await _edited_again_at_a(a, b, record_id, newest)
    resolved = await b.store.resolve("customers", record_id, "take_cloud")
    assert resolved.version == 3 and resolved.data == newest
    assert resolved.sync.state == "synced"


async def test_take_cloud_after_a_delete_at_the_hub_deletes(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    a, b, record_id = await _conflict(make_node)
    await _edited_again_at_a(a, b, record_id, {}, deleted=True)
    resolved = await b.store.resolve("customers", record_id, "take_cloud")
    assert resolved.deleted and resolved.version == 3
