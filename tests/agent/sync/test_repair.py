"""S11 at the store: the node's per-day digest is the hub's, the per-record decision, and the
repair tools (maintenance, download, refresh) against an in-process hub, with the node's copy
damaged behind its back by direct SQLite writes."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from agent.repair import (
    CONFLICT,
    FETCHED,
    MERGED,
    PENDING,
    REMOVED,
    REPLACED,
    REQUEUED,
    TOMBSTONED,
    UNCHANGED,
    Local,
    Repair,
    decide,
    differing_days,
    local_digest,
)
from protocol.models import HubRecord
from tests.agent.sync.conftest import DS, Node, eventually, seed_catalog, voucher

ID = "11111111-1111-4111-8111-111111111111"
DAY = "2026-11-20"


def _local(**kw: Any) -> Local:
    base = {"id": ID, "collection": "customers", "key": "KH1", "data": {"code": "KH1"},
            "deleted": False, "version": 2, "base_data": {"code": "KH1"}, "queued": False}
    return Local(**{**base, **kw})


def _cloud(**kw: Any) -> HubRecord:
    base = {"id": ID, "collection": "customers", "key": "KH1", "data": {"code": "KH1"},
            "deleted": False, "version": 2, "seq": 9}
    return HubRecord(**{**base, **kw})


@pytest.mark.parametrize(("local", "cloud", "outcome"), [
    (_local(), _cloud(), UNCHANGED),
    (None, _cloud(), FETCHED),
    (None, _cloud(deleted=True), UNCHANGED),
    (_local(version=1), _cloud(), REPLACED),                       # stale copy
    (_local(data={"code": "KH1", "name": "x"}, base_data={"code": "KH1", "name": "x"}),
     _cloud(), REPLACED),                                           # corrupt copy, base too
    (_local(data={"code": "KH1", "name": "new"}), _cloud(), REQUEUED),  # change, op lost
    (_local(), _cloud(deleted=True, version=3), TOMBSTONED),
    (_local(), None, REMOVED),                                      # synced once, hub lost it
    (_local(version=None, base_data=None), None, REQUEUED),         # never pushed, op lost
    (_local(queued=True), _cloud(version=3), "cloud_copy"),         # queued: never overwritten
    (_local(queued=True), _cloud(), PENDING),
    (_local(queued=True, version=None), None, PENDING),             # unpushed local work stays
])
def test_decide_one_record(local: Local | None, cloud: HubRecord | None, outcome: str) -> None:
    assert decide(local, cloud) == outcome


def test_differing_days() -> None:
    from protocol.digest import digest_buckets
    mine = digest_buckets([("2026-01-01", "a", 1), ("2026-01-02", "b", 1)])
    theirs = digest_buckets([("2026-01-01", "a", 1), ("2026-01-02", "b", 2),
                             ("2026-01-03", "c", 1)])
    assert differing_days(mine, theirs) == ["2026-01-02", "2026-01-03"]
    assert differing_days(mine, mine) == []


async def _synced(node: Node) -> None:
    async def drained() -> bool:
        counts = await node.store.sync_counts()
        return await node.store.outbox_size() == 0 and counts.get("syncing", 0) == 0

    await eventually(drained)


async def _seeded(make_node: Callable[..., Awaitable[Node]]) -> tuple[Node, dict[str, Any],
                                                                      list[str], str]:
    node = await make_node("office-a")
    ids = await seed_catalog(node.store)
    customer = await node.store.create("customers", {"code": "KH1", "name": "Công ty A"})
    vouchers = [(await node.store.create("vouchers", voucher(ids, customer.id,
                                                             f"PT{n:06d}"))).id
                for n in range(1, 7)]
    await _synced(node)
    return node, ids, vouchers, customer.id


def _sql(node: Node, sql: str, *params: Any) -> None:
    conn = sqlite3.connect(node.store.path)
    try:
        with conn:
            conn.execute(sql, params)
    finally:
        conn.close()


async def test_node_digest_is_the_hubs_and_maintenance_repairs_drift(
        make_node: Callable[..., Awaitable[Node]]) -> None:
    node, _ids, vouchers, customer = await _seeded(make_node)
    client = node.engine.client
    assert client is not None
    cloud = await client.digest(DS, "vouchers", DAY, DAY)
    mine = await node.store.readers.run(lambda c: local_digest(c, "vouchers", DAY, DAY))
    assert [b.model_dump() for b in mine] == [b.model_dump() for b in cloud.buckets]

    # behind the node's back: a stale copy, a corrupt copy, two rows lost, a change without op
    stale, corrupt, gone1, gone2, unsent = vouchers[:5]
    _sql(node, "UPDATE records SET version = 0 WHERE id = ?", stale)
    _sql(node, "UPDATE records SET data = json_set(data, '$.description', 'hỏng'), "
         "base_data = json_set(data, '$.description', 'hỏng') WHERE id = ?", corrupt)
    _sql(node, "DELETE FROM records WHERE id IN (?, ?)", gone1, gone2)
    _sql(node, "UPDATE records SET data = json_set(data, '$.description', 'sửa'), "
         "local_rev = local_rev + 1 WHERE id = ?", unsent)
    _sql(node, "DELETE FROM records WHERE id = ?", customer)  # a catalog row lost

    repair = Repair(node.store, client)
    await repair.maintain(DAY, DAY)
    report = repair.tally.report()
    outcomes = {i["id"]: i["outcome"] for i in report["items"]}
    assert outcomes == {stale: REPLACED, corrupt: REPLACED, gone1: FETCHED, gone2: FETCHED,
                        unsent: REQUEUED, customer: FETCHED}
    assert report["days"] == [f"vouchers:{DAY}"] and report["needs_person"] == 0
    assert report["counts"][FETCHED] == 3 and report["fixed"] == 6

    await node.engine.sync_now(DS)
    await _synced(node)
    hub_copy = await client.get_record(DS, "vouchers", unsent)
    assert hub_copy is not None and hub_copy.data is not None
    assert hub_copy.data.get("description") == "sửa"  # the change the hub never got reached it
    again = Repair(node.store, client)
    await again.maintain(DAY, DAY)
    assert again.tally.fixed == 0 and again.tally.report()["days"] == []  # all matches now
    for rid in (stale, corrupt, gone1):
        record = await node.store.get("vouchers", rid)
        assert record.sync.state == "synced" and "description" not in record.data


async def test_download_keeps_unpushed_work_and_removes_what_the_hub_lost(
        make_node: Callable[..., Awaitable[Node]]) -> None:
    node, _ids, vouchers, _customer = await _seeded(make_node)
    client = node.engine.client
    assert client is not None
    await node.engine.set_online(False)
    local = await node.store.create("customers", {"code": "KH9", "name": "chưa gửi"})
    # a record the hub never heard of, marked synced once (as a restored backup could hold)
    ghost = "22222222-2222-4222-8222-222222222222"
    _sql(node, "INSERT INTO records (id, collection, key, data, deleted, version, local_rev, "
         "sync_state, updated_at, base_data) VALUES (?, 'customers', 'KH8', "
         "'{\"code\":\"KH8\",\"name\":\"ma\"}', 0, 3, 1, 'synced', '2026-01-01', "
         "'{\"code\":\"KH8\",\"name\":\"ma\"}')", ghost)
    _sql(node, "DELETE FROM records WHERE id = ?", vouchers[0])
    repair = Repair(node.store, client)
    await repair.download(["customers", "vouchers"])
    outcomes = {i["id"]: i["outcome"] for i in repair.tally.report()["items"]}
    assert outcomes == {local.id: PENDING, ghost: REMOVED, vouchers[0]: FETCHED}
    kept = await node.store.get("customers", local.id)
    assert kept.sync.state == "pending" and kept.data["name"] == "chưa gửi"
    assert (await node.store.get("customers", ghost)).deleted


async def test_refresh_replaces_a_clean_copy_and_merges_or_conflicts_with_pending_changes(
        make_node: Callable[..., Awaitable[Node]]) -> None:
    a = await make_node("office-a")
    b = await make_node("office-b")
    created = await a.store.create("customers", {"code": "KH1", "name": "A", "phone": "1"})
    await _synced(a)

    async def at_b() -> bool:
        try:
            return (await b.store.get("customers", created.id)).version == 1
        except Exception:
            return False

    await eventually(at_b)
    await b.engine.set_online(False)
    record = await a.store.get("customers", created.id)
    await a.store.update("customers", created.id, {**record.data, "name": "A mới"},
                         if_match=record.local_rev)
    await _synced(a)
    client_b = b.engine.client
    assert client_b is not None
    # B holds an outdated clean copy: refresh takes the cloud's
    assert await Repair(b.store, client_b).refresh("customers", created.id) == REPLACED
    assert (await b.store.get("customers", created.id)).data["name"] == "A mới"
    # B edits another field, A the same field: refresh merges / becomes a conflict
    mine = await b.store.get("customers", created.id)
    await b.store.update("customers", created.id, {**mine.data, "phone": "2"},
                         if_match=mine.local_rev)
    theirs = await a.store.get("customers", created.id)
    await a.store.update("customers", created.id, {**theirs.data, "address": "Q1"},
                         if_match=theirs.local_rev)
    await _synced(a)
    assert await Repair(b.store, client_b).refresh("customers", created.id) == MERGED
    merged = await b.store.get("customers", created.id)
    assert merged.data["phone"] == "2" and merged.data["address"] == "Q1"
    theirs = await a.store.get("customers", created.id)
    await a.store.update("customers", created.id, {**theirs.data, "name": "A của A"},
                         if_match=theirs.local_rev)
    mine = await b.store.get("customers", created.id)
    await b.store.update("customers", created.id, {**mine.data, "name": "A của B"},
                         if_match=mine.local_rev)
    await _synced(a)
    assert await Repair(b.store, client_b).refresh("customers", created.id) == CONFLICT
    clash = await b.store.get("customers", created.id)
    assert clash.sync.state == "conflict" and clash.data["name"] == "A của B"
