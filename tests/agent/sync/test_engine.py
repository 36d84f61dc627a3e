"""The sync engine against a real hub (in-process): offline queueing, automatic drain and
catch-up, dependency order, per-record states, the toggle, faults."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from agent.cloud.client import HubClient
from protocol.connectivity import Connectivity
from protocol.errors import ErrorCode, ProtocolError
from protocol.query import RecordQuery
from tests.agent.sync.conftest import DS, Hub, Node, eventually, seed_catalog, voucher


async def counts(node: Node) -> dict[str, int]:
    return await node.store.sync_counts()


async def online(node: Node) -> bool:
    return node.engine.connectivity is Connectivity.ONLINE


async def test_offline_writes_drain_on_toggle_and_reach_the_other_node(
    make_node: Callable[..., Awaitable[Node]], hub: Hub
) -> None:
    a = await make_node("office-a")
    b = await make_node("office-b")
    await eventually(lambda: online(a))
    await eventually(lambda: _has_series(a))
    await a.engine.set_online(False)
    assert a.engine.connectivity is Connectivity.OFFLINE_BY_USER
    ids = await seed_catalog(a.store)
    customers = [
        (await a.store.create("customers", {"code": f"KH{i:03d}", "name": f"Khách {i}"})).id
        for i in range(20)
    ]
    for i in range(60):
        await a.store.create("vouchers", voucher(ids, customers[i % 20]))
    assert (await counts(a))["pending"] == 82
    assert a.engine.workers[DS].pushed == 0  # nothing left while offline

    await a.engine.set_online(True)

    async def all_synced() -> bool:
        c = await counts(a)
        return c["synced"] == 82 and c["pending"] == c["syncing"] == 0

    await eventually(all_synced)
    assert await a.store.outbox_size() == 0

    async def b_has_all() -> bool:
        return len((await b.store.query("vouchers", RecordQuery(limit=1000))).items) == 60

    await eventually(b_has_all)
    page = await b.store.query("vouchers", RecordQuery(limit=1000))
    assert all(r.sync.state == "synced" and r.version == 1 for r in page.items)
    numbers = sorted(r.data["number"] for r in page.items)
    assert len(set(numbers)) == 60 and numbers[0].startswith("PT")


async def _has_series(node: Node) -> bool:
    return (await node.store.series_remaining()).get("PT", 0) > 0


async def test_duplicate_code_errors_and_dependents_are_blocked_then_flow_when_fixed(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    a = await make_node("office-a")
    b = await make_node("office-b")
    await eventually(lambda: online(a))
    await eventually(lambda: online(b))
    await eventually(lambda: _has_series(b))
    await b.engine.set_online(False)
    ids_b = await seed_catalog(b.store, "b")
    mine = await b.store.create("customers", {"code": "KH001", "name": "B's customer"})
    v = await b.store.create("vouchers", voucher(ids_b, mine.id))
    theirs = await a.store.create("customers", {"code": "KH001", "name": "A's customer"})

    async def a_synced() -> bool:
        return (await a.store.get("customers", theirs.id)).sync.state == "synced"

    await eventually(a_synced)
    await b.engine.set_online(True)

    async def b_settled() -> bool:
        rec = await b.store.get("customers", mine.id)
        return rec.sync.state == "error"

    await eventually(b_settled)
    rec = await b.store.get("customers", mine.id)
    assert rec.sync.code == "DUPLICATE_KEY"
    assert rec.sync.message and "KH001" in rec.sync.message
    assert rec.sync.details and rec.sync.details["existing"]["id"] == theirs.id

    async def voucher_blocked() -> bool:
        return (await b.store.get("vouchers", v.id)).sync.state == "blocked"

    await eventually(voucher_blocked)
    blocked = await b.store.get("vouchers", v.id)
    assert blocked.sync.blocked_by and blocked.sync.blocked_by.id == mine.id
    assert blocked.sync.message and "KH001" in blocked.sync.message
    issues = await b.store.sync_issues()
    assert {r.id for r in issues} == {mine.id, v.id}

    # The fix: rename the code. The customer and then the voucher flow by themselves.
    await b.store.update("customers", mine.id, {"code": "KH001-B", "name": "B's customer"},
                         if_match=rec.local_rev)

    async def both_synced() -> bool:
        c = await b.store.get("customers", mine.id)
        w = await b.store.get("vouchers", v.id)
        return c.sync.state == w.sync.state == "synced"

    await eventually(both_synced)
    assert await b.store.outbox_size() == 0

    async def a_has_voucher() -> bool:
        try:
            got = await a.store.get("vouchers", v.id)
        except Exception:
            return False
        return got.data["customer"] == mine.id

    await eventually(a_has_voucher)
    assert (await a.store.get("customers", mine.id)).key == "KH001-B"


async def test_edit_on_two_sides_is_a_conflict_and_nothing_is_overwritten(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    _a, b, record_id = await _conflict(make_node)
    rec = await b.store.get("customers", record_id)
    assert rec.sync.code == "STALE_VERSION"
    assert rec.data["name"] == "from B"  # the local edit is kept, not overwritten
    assert rec.sync.details and rec.sync.details["current"]["data"]["phone"] == "0999"


async def test_hub_down_queues_then_drains_when_it_returns(
    make_node: Callable[..., Awaitable[Node]], hub: Hub,
) -> None:
    a = await make_node("office-a")
    await eventually(lambda: online(a))
    await hub.stop()
    await a.store.create("customers", {"code": "KH100", "name": "x"})

    async def offline() -> bool:
        return a.engine.connectivity is Connectivity.CLOUD_UNAVAILABLE

    await eventually(offline)
    for i in range(30):
        await a.store.create("customers", {"code": f"KH2{i:02d}", "name": "y"})
    assert (await counts(a))["synced"] == 0
    await hub.start()

    async def drained() -> bool:
        return (await counts(a))["synced"] == 31

    await eventually(drained)
    assert a.engine.connectivity is Connectivity.ONLINE


async def test_lost_push_answer_is_replayed_without_applying_twice(
    make_node: Callable[..., Awaitable[Node]], hub: Hub,
) -> None:
    a = await make_node("office-a", online=False)
    for i in range(10):
        await a.store.create("customers", {"code": f"KH{i}", "name": "x"})
    # Send the ops but "lose" the answer: take a batch, push it directly, then requeue it
    # as a crashed node would find it after restart.
    batch, versions = await a.store.take_batch(100)
    from agent.sync.ordering import assign_base_versions
    from agent.sync.worker import to_wire
    assign_base_versions(batch, versions)
    assert a.engine.client is not None
    token = a.engine.client.token
    direct = HubClient(hub.url, token)
    first = await direct.push(DS, [to_wire(op) for op in batch])
    await direct.close()
    assert all(r.status == "applied" for r in first)
    await a.store.reset_syncing()
    await a.engine.set_online(True)

    async def synced() -> bool:
        return (await counts(a))["synced"] == 10

    await eventually(synced)
    check = HubClient(hub.url, token)
    page = await check.changes(DS, since=0, limit=100)
    await check.close()
    assert len(page.changes) == 10  # each applied exactly once
    assert all(c.version == 1 for c in page.changes)


async def test_toggle_off_means_no_hub_traffic(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    a = await make_node("office-a")
    await eventually(lambda: online(a))
    await a.engine.set_online(False)
    assert not any(w.running for w in a.engine.workers.values())
    assert await a.node_db.get_setting("online") is False
    record = await a.store.create("customers", {"code": "KH9", "name": "x"})
    with pytest.raises(ProtocolError) as refused:  # "sync now" says why it cannot (defect 12)
        await a.engine.sync_now()
    assert refused.value.code is ErrorCode.OFFLINE_BY_USER and refused.value.status == 409
    rec: Any = await a.store.get("customers", record.id)
    assert rec.sync.state == "pending"
    assert a.engine.connectivity is Connectivity.OFFLINE_BY_USER


async def test_pulled_change_applies_while_other_records_are_pending(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    a = await make_node("office-a")
    b = await make_node("office-b")
    shared = await a.store.create("customers", {"code": "KH500", "name": "v1"})

    async def b_has_it() -> bool:
        return bool((await b.store.query("customers", RecordQuery(key="KH500"))).items)

    await eventually(b_has_it)
    await b.engine.set_online(False)  # B's own op stays queued; we pull for it by hand
    await b.store.create("customers", {"code": "KH501", "name": "queued at B"})
    worker = b.engine.workers[DS]
    await a.store.update("customers", shared.id, {"code": "KH500", "name": "v2"}, if_match=1)

    async def a_synced() -> bool:
        return (await a.store.get("customers", shared.id)).version == 2

    await eventually(a_synced)
    page = await worker.client.changes(DS, since=await b.store.cursor(), limit=100)
    await b.store.apply_changes(page, worker.node_id)
    got = await b.store.get("customers", shared.id)
    assert got.data["name"] == "v2" and got.version == 2 and got.sync.state == "synced"
    assert (await b.store.sync_counts())["pending"] == 1


async def test_own_changes_come_back_after_restoring_an_older_backup(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    a = await make_node("office-a")
    created = [await a.store.create("customers", {"code": f"R{i}", "name": "x"})
               for i in range(5)]

    async def synced() -> bool:
        return (await counts(a))["synced"] == 5

    await eventually(synced)
    # A fresh store stands for a data dir restored from a backup taken before those writes:
    # the node's own changes in the feed must be inserted, not taken for echoes.
    from agent.store import StoreManager
    restored = StoreManager(a.stores.data_dir / "restored", language="en")
    await restored.open([DS])
    try:
        worker = a.engine.workers[DS]
        page = await worker.client.changes(DS, since=0, limit=100)
        await restored.get(DS).apply_changes(page, worker.node_id)
        for record in created:
            got = await restored.get(DS).get("customers", record.id)
            assert got.version == 1 and got.sync.state == "synced"
    finally:
        await restored.close()


async def _conflict(make_node: Callable[..., Awaitable[Node]]) -> tuple[Node, Node, str]:
    """A customer's phone edited at A (synced) and at B (offline): B ends in conflict (a
    change of different fields would merge by itself, tests/agent/sync/test_conflicts.py)."""
    a = await make_node("office-a")
    b = await make_node("office-b")
    created = await a.store.create("customers", {"code": "KH900", "name": "v1",
                                                 "phone": "0281"})

    async def b_has_it() -> bool:
        return bool((await b.store.query("customers", RecordQuery(key="KH900"))).items)

    await eventually(b_has_it)
    await b.engine.set_online(False)
    on_b = await b.store.get("customers", created.id)
    await b.store.update("customers", created.id,
                         {"code": "KH900", "name": "from B", "phone": "0777"},
                         if_match=on_b.local_rev)
    await a.store.update("customers", created.id,
                         {"code": "KH900", "name": "v1", "phone": "0999"}, if_match=1)

    async def a_synced() -> bool:
        return (await a.store.get("customers", created.id)).version == 2

    await eventually(a_synced)
    await b.engine.set_online(True)

    async def b_conflict() -> bool:
        return (await b.store.get("customers", created.id)).sync.state == "conflict"

    await eventually(b_conflict)
    return a, b, created.id


async def test_keep_local_sends_my_version_on_top_of_the_cloud(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    a, b, record_id = await _conflict(make_node)
    resolved = await b.store.resolve("customers", record_id, "keep_local")
    assert resolved.sync.state == "pending" and resolved.data["name"] == "from B"

    async def everywhere() -> bool:
        mine = await b.store.get("customers", record_id)
        theirs = await a.store.get("customers", record_id)
        return (mine.sync.state == "synced" and mine.version == 3
                and theirs.data["name"] == "from B")

    await eventually(everywhere)


async def test_take_cloud_drops_my_queued_change(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    _a, b, record_id = await _conflict(make_node)
    resolved = await b.store.resolve("customers", record_id, "take_cloud")
    assert resolved.sync.state == "synced" and resolved.version == 2
    assert resolved.data == {"code": "KH900", "name": "v1", "phone": "0999"}
    assert await b.store.outbox_size() == 0
    with pytest.raises(ProtocolError) as err:  # nothing left to resolve
        await b.store.resolve("customers", record_id, "keep_local")
    assert err.value.code is ErrorCode.VALIDATION_FAILED


async def test_discard_drops_a_duplicate_that_never_reached_the_cloud(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    a = await make_node("office-a")
    b = await make_node("office-b")
    await b.engine.set_online(False)
    dup = await b.store.create("customers", {"code": "KH950", "name": "B's"})
    await a.store.create("customers", {"code": "KH950", "name": "A's"})

    async def a_synced() -> bool:
        return (await counts(a))["synced"] == 1

    await eventually(a_synced)
    await b.engine.set_online(True)

    async def b_error() -> bool:
        return (await b.store.get("customers", dup.id)).sync.state == "error"

    await eventually(b_error)
    gone = await b.store.resolve("customers", dup.id, "discard")
    assert gone.deleted and gone.sync.state == "synced"
    assert await b.store.outbox_size() == 0
    keys = [r.key for r in (await b.store.query("customers", RecordQuery(limit=10))).items]
    assert "KH950" in keys  # A's record, pulled from the cloud, is the one left
