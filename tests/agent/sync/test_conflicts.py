"""S9 at the store: two nodes on one in-process hub edit the same record. Disjoint edits merge
by themselves on both nodes; a same-field clash, a post against an edit and a delete against an
edit become conflicts showing base / local / cloud, settled by take_cloud, keep_local, merge
(data or per-field choices), restore and discard — and both nodes converge."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from agent.app import NodeContext
from agent.store import DatasetStore, conflicts
from protocol.errors import ErrorCode, ProtocolError
from protocol.models import Record
from protocol.query import RecordQuery
from tests.agent.conftest import DATASET, AppClient
from tests.agent.sync.conftest import Node, eventually, seed_catalog, voucher

CUSTOMER = {"code": "KH100", "name": "Công ty A", "phone": "0281", "address": "Q1"}


async def _pair(make_node: Callable[..., Awaitable[Node]], collection: str = "customers",
                data: dict[str, Any] | None = None) -> tuple[Node, Node, Record]:
    """A record made at A, on both nodes, with B offline afterwards."""
    a = await make_node("office-a")
    b = await make_node("office-b")
    created = await a.store.create(collection, dict(data or CUSTOMER))
    await _on(b, collection, created.id, lambda r: r.version == 1)
    await b.engine.set_online(False)
    return a, b, created


async def _on(node: Node, collection: str, record_id: str,
              check: Callable[[Record], bool]) -> Record:
    found: list[Record] = []

    async def holds() -> bool:
        try:
            record = await node.store.get(collection, record_id)
        except ProtocolError:
            return False
        found[:] = [record]
        return check(record)

    await eventually(holds)
    return found[0]


async def _edit(node: Node, collection: str, record_id: str, **changes: Any) -> Record:
    record = await node.store.get(collection, record_id)
    data = {**record.data, **changes}
    for name, value in changes.items():
        if value is None:
            del data[name]
    return await node.store.update(collection, record_id, data, if_match=record.local_rev)


async def _edited_at_a(a: Node, collection: str, record_id: str, **changes: Any) -> None:
    await _edit(a, collection, record_id, **changes)
    await _on(a, collection, record_id, lambda r: r.sync.state == "synced" and r.version == 2)


async def _clash(make_node: Callable[..., Awaitable[Node]]) -> tuple[Node, Node, str]:
    """Both offices change the phone; B also the address, A the name: B ends in conflict."""
    a, b, created = await _pair(make_node)
    await _edit(b, "customers", created.id, phone="0777", address="Q3")
    await _edited_at_a(a, "customers", created.id, phone="0999", name="Công ty A mới")
    await b.engine.set_online(True)
    await _on(b, "customers", created.id, lambda r: r.sync.state == "conflict")
    return a, b, created.id


async def _converged(a: Node, b: Node, collection: str, record_id: str,
                     expected: dict[str, Any] | None, deleted: bool = False) -> None:
    def same(record: Record) -> bool:
        return (record.sync.state == "synced" and record.deleted == deleted
                and (expected is None or record.data == expected))

    mine = await _on(b, collection, record_id, same)
    await _on(a, collection, record_id, lambda r: same(r) and r.version == mine.version)


async def test_disjoint_edits_are_merged_by_themselves_on_both_nodes(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    a, b, created = await _pair(make_node)
    await _edit(b, "customers", created.id, address="Q3, TP HCM")
    await _edited_at_a(a, "customers", created.id, phone="0999")
    await b.engine.set_online(True)
    merged = {**CUSTOMER, "address": "Q3, TP HCM", "phone": "0999"}
    await _converged(a, b, "customers", created.id, merged)
    on_b = await b.store.get("customers", created.id)
    assert on_b.version == 3 and on_b.sync.code is None
    note = (on_b.sync.details or {})["merged"]
    assert note["from_local"] == ["address"] and note["from_cloud"] == ["phone"]
    assert "Điện thoại" in note["message"]["vi"] and "Phone" in note["message"]["en"]


async def test_same_field_clash_shows_base_local_cloud_and_names_the_customer(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    _a, b, record_id = await _clash(make_node)
    record = await b.store.get("customers", record_id)
    assert record.sync.code is ErrorCode.STALE_VERSION
    details = record.sync.details or {}
    assert details["kind"] == "fields" and details["fields"] == ["phone"]
    assert details["base"] == CUSTOMER
    assert details["local"]["phone"] == "0777" and details["cloud"]["phone"] == "0999"
    assert record.sync.message is not None
    assert record.sync.message.startswith("Customer KH100 was modified")
    assert "Phone" in record.sync.message and "take_cloud" in record.sync.message
    vi = await b.store.get("customers", record_id, lang="vi")
    assert vi.sync.message is not None and vi.sync.message.startswith("Khách hàng KH100")
    assert "Chứng từ" not in vi.sync.message


async def test_a_conflict_follows_the_newest_cloud_copy(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    a, b, record_id = await _clash(make_node)
    await _edit(a, "customers", record_id, address="Q3")  # now the same as B's address
    await _on(a, "customers", record_id, lambda r: r.version == 3)
    record = await _on(b, "customers", record_id, lambda r: (
        (r.sync.details or {}).get("cloud", {}).get("address") == "Q3"))
    assert (record.sync.details or {})["fields"] == ["phone"]
    await b.store.resolve("customers", record_id, "take_cloud")
    await _converged(a, b, "customers", record_id,
                     {**CUSTOMER, "phone": "0999", "name": "Công ty A mới", "address": "Q3"})


async def test_take_cloud_converges(make_node: Callable[..., Awaitable[Node]]) -> None:
    a, b, record_id = await _clash(make_node)
    await b.store.resolve("customers", record_id, "take_cloud")
    await _converged(a, b, "customers", record_id,
                     {**CUSTOMER, "phone": "0999", "name": "Công ty A mới"})


async def test_keep_local_keeps_mine_on_the_clash_and_theirs_elsewhere(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    a, b, record_id = await _clash(make_node)
    resolved = await b.store.resolve("customers", record_id, "keep_local")
    assert resolved.sync.state == "pending"
    # The other office's new name is not dropped: only the clashing phone is mine.
    await _converged(a, b, "customers", record_id,
                     {**CUSTOMER, "phone": "0777", "address": "Q3", "name": "Công ty A mới"})


async def test_merge_with_choices_converges(make_node: Callable[..., Awaitable[Node]]) -> None:
    a, b, record_id = await _clash(make_node)
    with pytest.raises(ProtocolError) as err:
        await b.store.resolve("customers", record_id, _request(choices={}))
    assert err.value.code is ErrorCode.RESOLUTION_REFUSED
    assert err.value.details["fields"] == ["phone"]
    assert "Điện thoại" in err.value.params["reason"]["vi"]
    assert "KH100" in str(err.value)
    await b.store.resolve("customers", record_id, _request(choices={"phone": "cloud"}))
    await _converged(a, b, "customers", record_id,
                     {**CUSTOMER, "phone": "0999", "address": "Q3", "name": "Công ty A mới"})


async def test_merge_with_data_converges(make_node: Callable[..., Awaitable[Node]]) -> None:
    a, b, record_id = await _clash(make_node)
    with pytest.raises(ProtocolError) as err:  # invalid data changes nothing
        await b.store.resolve("customers", record_id, _request(data={"code": "KH100"}))
    assert err.value.code is ErrorCode.VALIDATION_FAILED
    assert (await b.store.get("customers", record_id)).sync.state == "conflict"
    chosen = {**CUSTOMER, "phone": "0281 / 0999", "name": "Công ty A mới"}
    await b.store.resolve("customers", record_id, _request(data=chosen))
    await _converged(a, b, "customers", record_id, chosen)


def _request(**fields: Any) -> Any:
    from protocol.models import ResolveRequest
    return ResolveRequest.model_validate({"action": "merge", **fields})


async def _deleted_at_a(make_node: Callable[..., Awaitable[Node]]) -> tuple[Node, Node, str]:
    a, b, created = await _pair(make_node)
    await _edit(b, "customers", created.id, phone="0777")
    await a.store.delete("customers", created.id, if_match=1)
    await _on(a, "customers", created.id, lambda r: r.sync.state == "synced" and r.version == 2)
    await b.engine.set_online(True)
    await _on(b, "customers", created.id, lambda r: r.sync.state == "conflict")
    return a, b, created.id


async def test_delete_against_edit_then_restore(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    a, b, record_id = await _deleted_at_a(make_node)
    record = await b.store.get("customers", record_id, lang="vi")
    assert record.sync.code is ErrorCode.RECORD_DELETED
    assert record.sync.message is not None
    assert record.sync.message.startswith("Khách hàng KH100 đã bị xóa")
    assert "restore" in record.sync.message
    details = record.sync.details or {}
    assert details["kind"] == "deleted" and details["deleted_on"] == "cloud"
    for action in ("keep_local", "merge"):
        with pytest.raises(ProtocolError) as err:
            await b.store.resolve("customers", record_id, action)
        assert err.value.code is ErrorCode.RESOLUTION_REFUSED
        assert "restore" in err.value.params["reason"]["en"]
    await b.store.resolve("customers", record_id, "restore")
    await _converged(a, b, "customers", record_id, {**CUSTOMER, "phone": "0777"})
    assert (await a.store.get("customers", record_id)).version == 3


async def test_delete_against_edit_then_discard(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    a, b, record_id = await _deleted_at_a(make_node)
    await b.store.resolve("customers", record_id, "discard")
    record = await b.store.get("customers", record_id)
    assert record.deleted and record.sync.state == "synced" and record.version == 2
    assert await b.store.outbox_size() == 0
    assert (await a.store.get("customers", record_id)).version == 2


async def _posted_clash(make_node: Callable[..., Awaitable[Node]],
                        ) -> tuple[Node, Node, Record]:
    """A voucher posted at A and edited at B (offline): B ends in a posted conflict."""
    a = await make_node("office-a")
    b = await make_node("office-b")
    ids = await seed_catalog(a.store)
    customer = await a.store.create("customers", dict(CUSTOMER))
    made = await a.store.create("vouchers", voucher(ids, customer.id, "PT000123"))
    await _on(b, "vouchers", made.id, lambda r: r.version == 1)
    await b.engine.set_online(False)
    await _edit(b, "vouchers", made.id, description="sửa ở B")
    posted = await a.store.post("vouchers", made.id, if_match=made.local_rev)
    assert posted.data["posted"] is True
    await _on(a, "vouchers", made.id, lambda r: r.sync.state == "synced" and r.version == 2)
    await b.engine.set_online(True)
    await _on(b, "vouchers", made.id, lambda r: r.sync.state == "conflict")
    return a, b, made


async def test_post_on_one_side_and_edit_on_the_other_is_a_posted_conflict(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    a, b, made = await _posted_clash(make_node)
    record = await b.store.get("vouchers", made.id)
    details = record.sync.details or {}
    assert details["kind"] == "posted"
    assert set(details["fields"]) == {"description", "posted"}
    vi = await b.store.get("vouchers", made.id, lang="vi")
    assert vi.sync.message is not None and "PT000123" in vi.sync.message
    assert "ghi sổ/bỏ ghi ở văn phòng khác" in vi.sync.message
    # Keep mine: the voucher is unposted on the cloud, then edited — the accounting way.
    await b.store.resolve("vouchers", made.id, "keep_local")
    expected = {**made.data, "description": "sửa ở B", "posted": False}
    await _converged(a, b, "vouchers", made.id, expected)


async def test_merge_of_a_posted_conflict_keeps_the_number_and_posts_as_asked(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    a, b, made = await _posted_clash(make_node)
    chosen = {k: v for k, v in made.data.items() if k != "number"}
    chosen.update(description="sửa ở B", posted=True)
    await b.store.resolve("vouchers", made.id, _request(data=chosen))
    await _converged(a, b, "vouchers", made.id, {**made.data, "description": "sửa ở B",
                                                 "posted": True})


async def test_receive_cloud_copy_merges_or_conflicts(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    a, b, created = await _pair(make_node)
    await _edit(b, "customers", created.id, address="Q3")
    await _edited_at_a(a, "customers", created.id, phone="0999")
    hub_copy = (await a.store.get("customers", created.id)).model_dump(mode="json")
    schema = b.store.schema("customers")

    def receive(conn: sqlite3.Connection) -> None:
        conflicts.receive_cloud_copy(conn, b.store.registry, schema, created.id, hub_copy)

    await b.store.writer.submit(receive)
    record = await b.store.get("customers", created.id)
    assert record.sync.state == "pending" and record.version == 2
    assert record.data == {**CUSTOMER, "address": "Q3", "phone": "0999"}
    await b.engine.set_online(True)
    await _converged(a, b, "customers", created.id, record.data)
    assert (await a.store.get("customers", created.id)).version == 3
    found = await b.store.query("customers", RecordQuery(key="KH100"))
    assert len(found.items) == 1


async def test_conflict_route_shows_kind_fields_and_the_three_copies(
    lan: AppClient, ctx: NodeContext, auth: dict[str, str],
) -> None:
    store = ctx.stores.get(DATASET)
    made = await store.create("customers", dict(CUSTOMER))
    other = await store.create("customers", {"code": "KH200", "name": "B"})

    def synced_at_version_1(conn: sqlite3.Connection) -> None:  # as a hub would leave it
        conn.execute("DELETE FROM outbox")
        conn.execute("UPDATE records SET version = 1, sync_state = 'synced', base_data = data")

    await store.writer.submit(synced_at_version_1)
    await _edit_store(store, made.id, phone="0777")
    cloud = {"id": made.id, "collection": "customers", "key": "KH100", "deleted": False,
             "data": {**CUSTOMER, "phone": "0999", "name": "Tên mới"}, "version": 2, "seq": 9}
    schema = store.schema("customers")
    await store.writer.submit(lambda conn: conflicts.receive_cloud_copy(
        conn, store.registry, schema, made.id, cloud))
    url = f"/api/v1/datasets/{DATASET}/records/customers/{made.id}/conflict"
    resp = await lan.get(url, headers={**auth, "Accept-Language": "vi"})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["kind"] == "fields" and body["fields"] == ["phone"]
    assert body["base"] == CUSTOMER and body["cloud"] == cloud["data"]
    assert body["local"] == {**CUSTOMER, "phone": "0777"}
    assert body["message"].startswith("Khách hàng KH100 đã được sửa")
    assert "Điện thoại" in body["message"]
    record = await (await lan.get(url.removesuffix("/conflict"), headers=auth)).json()
    assert record["sync"]["details"]["fields"] == ["phone"]
    missing = await lan.get(url.replace(made.id, other.id), headers=auth)
    assert missing.status == 404
    error = (await missing.json())["error"]
    assert error["code"] == "NOT_FOUND" and "KH200" in error["message"]
    assert error["details"]["reason"] == "not_in_conflict"


async def _edit_store(store: DatasetStore, record_id: str, **changes: Any) -> Record:
    record = await store.get("customers", record_id)
    return await store.update("customers", record_id, {**record.data, **changes},
                              if_match=record.local_rev)
