"""Interleavings of push, pull and resolve that once let a node and the hub disagree after
every conflict was resolved (found by tests/reliability/test_convergence.py).

Each test drives one node's store by hand against the real hub (take a batch, push it, store
the answer, apply a page of the feed) in the order that went wrong, so it is deterministic.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from agent.cloud.client import HubClient
from agent.sync.ordering import assign_base_versions, order_batch
from agent.sync.worker import to_wire
from protocol.models import OpResult
from protocol.query import RecordQuery
from tests.agent.sync.conftest import DS, Hub, Node, eventually, seed_catalog, voucher

MakeNode = Callable[..., Awaitable[Node]]


async def _shared_customer(a: Node, b: Node, name: str = "v1") -> str:
    """A customer created at A (version 1) that B has pulled; B is then offline."""
    created = await a.store.create("customers", {"code": "KH700", "name": name})

    async def b_has_it() -> bool:
        page = await b.store.query("customers", RecordQuery(key="KH700"))
        return bool(page.items) and page.items[0].version == 1

    await eventually(b_has_it)
    await b.engine.set_online(False)
    return created.id


async def _edit(node: Node, record_id: str, name: str) -> None:
    record = await node.store.get("customers", record_id)
    await node.store.update("customers", record_id, {"code": "KH700", "name": name},
                            if_match=record.local_rev)


async def _synced_at(node: Node, record_id: str, version: int) -> None:
    async def synced() -> bool:
        record = await node.store.get("customers", record_id)
        return record.version == version and record.sync.state == "synced"

    await eventually(synced)


async def _push_by_hand(node: Node, direct: HubClient) -> tuple[list[Any], list[OpResult]]:
    batch, versions = await node.store.take_batch(100)
    ordered = order_batch(batch)
    assign_base_versions(ordered, versions)
    results = await direct.push(DS, [to_wire(op) for op in ordered])
    return ordered, results


async def _hub_record(direct: HubClient, record_id: str) -> Any:
    record = await direct.get_record(DS, "customers", record_id)
    assert record is not None
    return record


async def test_a_later_op_of_a_refused_record_is_not_applied_on_top_of_another_office(
    make_node: MakeNode, hub: Hub,
) -> None:
    """B edits a record twice offline while A edits it once. B's first op is refused as
    stale; its second op was based on the first one's result (version 2), which happens to be
    A's version number: the hub must not apply it over A's write, or A's edit is lost without a
    conflict and a later keep_local at B leaves B and the hub with different data."""
    a = await make_node("office-a")
    b = await make_node("office-b")
    record_id = await _shared_customer(a, b)
    await _edit(b, record_id, "b1")
    await _edit(b, record_id, "b2")
    await _edit(a, record_id, "a1")
    await _synced_at(a, record_id, 2)
    assert b.engine.client is not None
    direct = HubClient(hub.url, b.engine.client.token)
    try:
        ordered, results = await _push_by_hand(b, direct)
        assert [op.base_version for op in ordered] == [1, 2]
        assert [r.status for r in results] == ["rejected", "rejected"]
        on_hub = await _hub_record(direct, record_id)
        assert (on_hub.version, on_hub.data["name"]) == (2, "a1")  # A's edit is still there
        await b.store.store_results(ordered, results)
        record = await b.store.get("customers", record_id)
        assert record.sync.state == "conflict" and record.version == 1
        resolved = await b.store.resolve("customers", record_id, "keep_local")
        assert resolved.version == 2 and resolved.data["name"] == "b2"
        ordered, results = await _push_by_hand(b, direct)
        assert [r.status for r in results] == ["applied"] * len(ordered)
        await b.store.store_results(ordered, results)
        on_hub = await _hub_record(direct, record_id)
        record = await b.store.get("customers", record_id)
        assert record.sync.state == "synced"
        assert (record.version, record.data) == (on_hub.version, on_hub.data)
        assert on_hub.data["name"] == "b2"
    finally:
        await direct.close()


async def test_a_refusal_older_than_the_pulled_feed_does_not_hide_the_newer_cloud_copy(
    make_node: MakeNode, hub: Hub,
) -> None:
    """B's edit is refused as stale while A edits again, and B's pull brings A's newer
    version before B stores the refusal (or the refusal is replayed after a lost answer):
    the pull left the record alone (its op was queued) and moved the cursor on, so the
    refusal's copy of the cloud is the only one B has. take_cloud must install the hub's
    newest version, not the one the refusal saw."""
    a = await make_node("office-a")
    b = await make_node("office-b")
    record_id = await _shared_customer(a, b)
    await _edit(b, record_id, "b1")
    await _edit(a, record_id, "a1")
    await _synced_at(a, record_id, 2)
    assert b.engine.client is not None
    direct = HubClient(hub.url, b.engine.client.token)
    try:
        ordered, results = await _push_by_hand(b, direct)
        assert [r.status for r in results] == ["rejected"]
        assert results[0].error is not None and results[0].error.current is not None
        assert results[0].error.current["version"] == 2
        await _edit(a, record_id, "a2")
        await _synced_at(a, record_id, 3)
        page = await direct.changes(DS, since=await b.store.cursor(), limit=100)
        await b.store.apply_changes(page, b.engine.hub_node_id)  # before the answer
        await b.store.store_results(ordered, results)
        resolved = await b.store.resolve("customers", record_id, "take_cloud")
        on_hub = await _hub_record(direct, record_id)
        assert (on_hub.version, on_hub.data["name"]) == (3, "a2")
        assert (resolved.version, resolved.data) == (3, on_hub.data)
    finally:
        await direct.close()


async def test_a_push_answer_stored_after_the_pull_does_not_lower_the_version(
    make_node: MakeNode, hub: Hub,
) -> None:
    """B's edit is applied (version 2) and A edits on top (version 3); B's pull brings both
    before B stores the push answer. The answer must not take B's record back to version 2
    under A's data: B's next edit would then be refused as stale for nothing."""
    a = await make_node("office-a")
    b = await make_node("office-b")
    record_id = await _shared_customer(a, b)
    await _edit(b, record_id, "b1")
    assert b.engine.client is not None
    direct = HubClient(hub.url, b.engine.client.token)
    try:
        ordered, results = await _push_by_hand(b, direct)
        assert [(r.status, r.version) for r in results] == [("applied", 2)]
        await _synced_at(a, record_id, 2)
        await _edit(a, record_id, "a1")
        await _synced_at(a, record_id, 3)
        page = await direct.changes(DS, since=await b.store.cursor(), limit=100)
        await b.store.apply_changes(page, b.engine.hub_node_id)  # before the answer
        await b.store.store_results(ordered, results)
        record = await b.store.get("customers", record_id)
        assert (record.version, record.data["name"], record.sync.state) == (3, "a1", "synced")
    finally:
        await direct.close()


async def test_an_edit_while_a_once_blocked_op_is_in_flight_is_not_lost(
    make_node: MakeNode, hub: Hub,
) -> None:
    """A voucher blocked by its customer's refused create goes once the customer is fixed.
    The office edits the voucher while that push is in flight: the edit must be queued and
    sent, not folded into the op being sent (whose answer then removed it from the outbox, so
    the node showed the edit as synced while the hub never had it)."""
    b = await make_node("office-b")

    async def has_series() -> bool:
        return (await b.store.series_remaining()).get("PT", 0) > 0

    await eventually(has_series)
    await b.engine.set_online(False)
    ids = await seed_catalog(b.store, "b")
    assert b.engine.client is not None
    direct = HubClient(hub.url, b.engine.client.token)
    try:
        taken = await direct.push(DS, [to_wire(_op("customers", {"code": "KH800",
                                                                 "name": "elsewhere"}))])
        assert taken[0].status == "applied"
        customer = await b.store.create("customers", {"code": "KH800", "name": "mine"})
        made = await b.store.create("vouchers", voucher(ids, customer.id))
        ordered, results = await _push_by_hand(b, direct)
        await b.store.store_results(ordered, results)
        assert (await b.store.get("vouchers", made.id)).sync.state == "blocked"
        fixed = await b.store.get("customers", customer.id)
        await b.store.update("customers", customer.id, {"code": "KH801", "name": "mine"},
                             if_match=fixed.local_rev)
        batch, versions = await b.store.take_batch(100)
        ordered = order_batch(batch)
        assign_base_versions(ordered, versions)
        assert {op.record_id for op in ordered} == {customer.id, made.id}
        results = await direct.push(DS, [to_wire(op) for op in ordered])
        assert all(r.status == "applied" for r in results)
        sent = await b.store.get("vouchers", made.id)
        edited = {**sent.data, "description": "edited while in flight"}
        await b.store.update("vouchers", made.id, edited, if_match=sent.local_rev)
        await b.store.store_results(ordered, results)  # the answer of the push in flight
        ordered, results = await _push_by_hand(b, direct)
        await b.store.store_results(ordered, results)
        on_hub = await direct.get_record(DS, "vouchers", made.id)
        assert on_hub is not None and on_hub.data is not None
        assert on_hub.data.get("description") == "edited while in flight"
        record = await b.store.get("vouchers", made.id)
        assert record.sync.state == "synced" and record.version == on_hub.version
    finally:
        await direct.close()


def _op(collection: str, data: dict[str, Any]) -> Any:
    """An op of another office's create, sent straight to the hub."""
    from agent.store.syncing import PendingOp
    from protocol.models import Action
    return PendingOp(0, str(uuid.uuid4()), str(uuid.uuid4()), collection, Action.CREATE, data)
