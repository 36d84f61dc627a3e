"""S6 and S5 against a real hub (in-process) and two nodes: the same customer code created
offline at two offices, with a voucher on it at the second; the second office settles its
duplicate by ``link_existing``, ``rename`` or ``discard`` and the voucher follows by itself."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from agent.events import EventType, RecordEvent
from agent.store import DatasetStore
from protocol.connectivity import Connectivity
from protocol.errors import ErrorCode, ProtocolError, render
from protocol.models import Record, ResolveRequest
from protocol.query import RecordQuery
from tests.agent.sync.conftest import Node, eventually, seed_catalog, voucher


@dataclass
class Story:
    a: Node
    b: Node
    theirs: Record  # KH100 made at A, on the cloud
    mine: Record  # KH100 made offline at B, refused as a duplicate
    voucher: Record  # B's receipt on B's KH100, blocked


async def _online(node: Node) -> bool:
    return node.engine.connectivity is Connectivity.ONLINE


async def _state(store: DatasetStore, collection: str, record_id: str) -> str:
    return (await store.get(collection, record_id)).sync.state


async def _duplicate_story(make_node: Callable[..., Awaitable[Node]]) -> Story:
    a = await make_node("office-a")
    b = await make_node("office-b")
    await eventually(lambda: _online(a))
    await eventually(lambda: _online(b))

    async def b_has_series() -> bool:
        return (await b.store.series_remaining()).get("PT", 0) > 0

    await eventually(b_has_series)
    await b.engine.set_online(False)
    ids_b = await seed_catalog(b.store, "b")
    mine = await b.store.create("customers", {"code": "KH100", "name": "Cong ty Binh",
                                              "phone": "0901"})
    v = await b.store.create("vouchers", voucher(ids_b, mine.id))
    theirs = await a.store.create("customers", {"code": "KH100", "name": "Cong ty Binh An",
                                                "address": "1 Le Loi"})

    async def a_synced() -> bool:
        return await _state(a.store, "customers", theirs.id) == "synced"

    await eventually(a_synced)
    await b.engine.set_online(True)

    async def b_refused() -> bool:
        return (await _state(b.store, "customers", mine.id) == "error"
                and await _state(b.store, "vouchers", v.id) == "blocked")

    await eventually(b_refused)
    return Story(a, b, theirs, mine, await b.store.get("vouchers", v.id))


async def _customers(store: DatasetStore, code: str) -> list[Record]:
    page = await store.query("customers", RecordQuery(limit=100))
    return [r for r in page.items if r.key == code and not r.deleted]


async def test_a_refused_duplicate_shows_both_sides_and_its_voucher_names_its_blocker(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    s = await _duplicate_story(make_node)
    rec = await s.b.store.get("customers", s.mine.id)
    assert rec.sync.code is ErrorCode.DUPLICATE_KEY
    assert rec.data["name"] == "Cong ty Binh"  # the local one
    assert rec.sync.details is not None
    existing = rec.sync.details["existing"]  # the cloud one, beside it
    assert existing["id"] == s.theirs.id and existing["data"]["name"] == "Cong ty Binh An"
    assert rec.sync.message == (
        "Customer KH100 already exists. Please check again. The cloud has this code already: "
        "link to the cloud's record (link_existing), change the code (rename) or discard this "
        "one (discard).")
    blocked = s.voucher.sync
    assert blocked.code is ErrorCode.BLOCKED and blocked.blocked_by is not None
    assert blocked.blocked_by.model_dump() == {
        "id": s.mine.id, "collection": "customers", "label": "Customer", "key": "KH100",
        "name": "Customer KH100"}
    assert blocked.message and blocked.message.startswith("Waiting for Customer KH100 to sync")
    vi = await s.b.store.get("vouchers", s.voucher.id, lang="vi")
    assert vi.sync.message and vi.sync.message.startswith(
        "Đang chờ Khách hàng KH100 đồng bộ thành công")


async def test_keep_local_on_a_duplicate_gives_the_three_choices(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    s = await _duplicate_story(make_node)
    for action in ("keep_local", "take_cloud"):
        with pytest.raises(ProtocolError) as err:
            await s.b.store.resolve("customers", s.mine.id, action)
        assert err.value.code is ErrorCode.RESOLUTION_REFUSED
        assert err.value.details["choices"] == ["link_existing", "rename", "discard"]
        assert "link_existing" in render(err.value.code, "vi", err.value.params)
    assert (await s.b.store.get("customers", s.mine.id)).sync.code is ErrorCode.DUPLICATE_KEY


async def test_link_existing_makes_the_voucher_point_at_the_cloud_customer(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    s = await _duplicate_story(make_node)
    events = s.b.bus.subscribe(types={EventType.RECORD})
    gone = await s.b.store.resolve("customers", s.mine.id, "link_existing")
    assert gone.deleted and gone.sync.details == {"linked_to": {"id": s.theirs.id,
                                                                "key": "KH100"}}
    # Workstations hear of the voucher repointed, not only of the record resolved (an event
    # of the voucher's sync state may come first: the engine keeps working meanwhile).
    seen: dict[str, Record] = {}
    while s.voucher.id not in seen or seen[s.voucher.id].data["customer"] != s.theirs.id:
        event = await asyncio.wait_for(events.get(), 5)
        assert isinstance(event, RecordEvent)
        seen[event.record.id] = event.record
    events.close()

    async def voucher_synced() -> bool:
        return await _state(s.b.store, "vouchers", s.voucher.id) == "synced"

    await eventually(voucher_synced)
    assert (await s.b.store.get("vouchers", s.voucher.id)).data["customer"] == s.theirs.id
    assert await s.b.store.outbox_size() == 0

    async def a_has_it() -> bool:
        try:
            return (await s.a.store.get("vouchers", s.voucher.id)).sync.state == "synced"
        except ProtocolError:
            return False

    await eventually(a_has_it)
    assert (await s.a.store.get("vouchers", s.voucher.id)).data["customer"] == s.theirs.id
    for node in (s.a, s.b):  # one KH100 everywhere
        assert [r.id for r in await _customers(node.store, "KH100")] == [s.theirs.id]

    # B's differing fields are offered as an edit of the cloud's record, not applied.
    cloud = await s.b.store.get("customers", s.theirs.id)
    assert cloud.sync.state == "synced"
    assert cloud.data == {"code": "KH100", "name": "Cong ty Binh An", "address": "1 Le Loi"}
    assert cloud.sync.details is not None
    offered = cloud.sync.details["offered"]
    assert offered["from"] == s.mine.id
    assert offered["fields"] == {"name": "Cong ty Binh", "phone": "0901"}
    assert offered["cloud"] == {"name": "Cong ty Binh An", "phone": None}
    # The office takes B's phone (not its name) with an ordinary edit; it reaches A.
    edit = {**cloud.data, "phone": offered["fields"]["phone"]}
    await s.b.store.update("customers", s.theirs.id, edit, if_match=cloud.local_rev)

    async def a_has_phone() -> bool:
        return (await s.a.store.get("customers", s.theirs.id)).data.get("phone") == "0901"

    await eventually(a_has_phone)
    assert (await s.b.store.get("customers", s.theirs.id)).sync.details is None


async def test_rename_sends_the_customer_again_and_the_voucher_follows(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    s = await _duplicate_story(make_node)
    renamed = await s.b.store.resolve(
        "customers", s.mine.id, ResolveRequest(action="rename", new_key="kh100-b"))
    assert renamed.key == "KH100-B" and renamed.data["code"] == "KH100-B"

    async def both_synced() -> bool:
        return (await _state(s.b.store, "customers", s.mine.id) == "synced"
                and await _state(s.b.store, "vouchers", s.voucher.id) == "synced")

    await eventually(both_synced)

    async def a_has_both() -> bool:
        try:
            got = await s.a.store.get("vouchers", s.voucher.id)
        except ProtocolError:
            return False
        return got.data["customer"] == s.mine.id

    await eventually(a_has_both)
    assert (await s.a.store.get("customers", s.mine.id)).key == "KH100-B"
    assert [r.id for r in await _customers(s.a.store, "KH100")] == [s.theirs.id]


async def test_rename_refuses_a_code_taken_locally_and_changes_nothing(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    s = await _duplicate_story(make_node)
    await s.b.store.create("customers", {"code": "KH200", "name": "Other"})
    with pytest.raises(ProtocolError) as err:
        await s.b.store.resolve("customers", s.mine.id,
                                ResolveRequest(action="rename", new_key="KH200"))
    assert err.value.code is ErrorCode.DUPLICATE_KEY
    with pytest.raises(ProtocolError) as none:
        await s.b.store.resolve("customers", s.mine.id, "rename")
    assert none.value.code is ErrorCode.RESOLUTION_REFUSED
    assert none.value.details["reason"] == "new_key_needed"
    still = await s.b.store.get("customers", s.mine.id)
    assert still.key == "KH100" and still.sync.code is ErrorCode.DUPLICATE_KEY


async def test_rename_renumbers_a_duplicate_voucher_from_the_leased_series(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    a = await make_node("office-a")
    b = await make_node("office-b")
    await eventually(lambda: _online(a))
    await eventually(lambda: _online(b))

    async def b_has_series() -> bool:
        return (await b.store.series_remaining()).get("PT", 0) > 0

    await eventually(b_has_series)
    await b.engine.set_online(False)
    ids_b = await seed_catalog(b.store, "b")
    cust_b = await b.store.create("customers", {"code": "KH300", "name": "B"})
    mine = await b.store.create("vouchers", voucher(ids_b, cust_b.id, number="PT900001"))
    ids_a = await seed_catalog(a.store, "a")
    cust_a = await a.store.create("customers", {"code": "KH301", "name": "A"})
    theirs = await a.store.create("vouchers", voucher(ids_a, cust_a.id, number="PT900001"))

    async def a_synced() -> bool:
        return await _state(a.store, "vouchers", theirs.id) == "synced"

    await eventually(a_synced)
    await b.engine.set_online(True)

    async def b_refused() -> bool:
        return await _state(b.store, "vouchers", mine.id) == "error"

    await eventually(b_refused)
    refused = await b.store.get("vouchers", mine.id)
    assert refused.sync.message and refused.sync.message.startswith(
        "Receipt PT900001 already exists. Please check again.")
    with pytest.raises(ProtocolError) as same:  # the key as lists show it is understood
        await b.store.resolve("vouchers", mine.id,
                              ResolveRequest(action="rename", new_key="receipt/PT900001"))
    assert same.value.details["reason"] == "same_key"
    renumbered = await b.store.resolve("vouchers", mine.id,
                                       ResolveRequest(action="rename", renumber=True))
    number = renumbered.data["number"]
    assert number.startswith("PT") and number != "PT900001"

    async def b_synced() -> bool:
        return await _state(b.store, "vouchers", mine.id) == "synced"

    await eventually(b_synced)

    async def a_has_it() -> bool:
        try:
            return (await a.store.get("vouchers", mine.id)).data["number"] == number
        except ProtocolError:
            return False

    await eventually(a_has_it)


async def test_discard_is_refused_while_a_voucher_depends_then_cascades(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    s = await _duplicate_story(make_node)
    number = s.voucher.data["number"]
    with pytest.raises(ProtocolError) as err:
        await s.b.store.resolve("customers", s.mine.id, "discard")
    assert err.value.code is ErrorCode.HAS_DEPENDENTS
    assert render(err.value.code, "vi", err.value.params) == (
        f"Không thể bỏ Khách hàng KH100: 1 bản ghi khác đang dùng đến nó (Phiếu thu {number})"
        ". Hãy liên kết với bản trên Cloud (link_existing) hoặc đổi mã (rename) trước, hoặc "
        "bỏ luôn các bản ghi đó (cascade)")
    details: dict[str, Any] = err.value.details
    assert [d["id"] for d in details["dependents"]] == [s.voucher.id]
    assert details["dependents"][0]["name"] == {"vi": f"Phiếu thu {number}",
                                                "en": f"Receipt {number}"}
    assert details["choices"] == ["link_existing", "rename", "cascade"]
    # Refused: nothing changed.
    assert (await s.b.store.get("customers", s.mine.id)).sync.code is ErrorCode.DUPLICATE_KEY
    assert await _state(s.b.store, "vouchers", s.voucher.id) == "blocked"

    gone = await s.b.store.resolve("customers", s.mine.id,
                                   ResolveRequest(action="discard", cascade=True))
    assert gone.deleted and gone.sync.state == "synced"
    v = await s.b.store.get("vouchers", s.voucher.id)
    assert v.deleted and v.sync.state == "synced" and v.sync.code is None  # never stranded
    assert v.sync.details and v.sync.details["discarded_with"]["id"] == s.mine.id
    assert not await s.b.store.sync_issues()

    async def drained() -> bool:
        return await s.b.store.outbox_size() == 0

    await eventually(drained)  # the accounts B made still reach the hub
    assert [r.id for r in await _customers(s.b.store, "KH100")] == [s.theirs.id]


async def test_a_voucher_on_a_customer_deleted_at_the_other_office_names_it_by_code(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    a = await make_node("office-a")
    b = await make_node("office-b")
    await eventually(lambda: _online(b))

    async def b_has_series() -> bool:
        return (await b.store.series_remaining()).get("PT", 0) > 0

    await eventually(b_has_series)
    customer = await a.store.create("customers", {"code": "KH500", "name": "Old client"})

    async def b_has_customer() -> bool:
        try:
            return (await b.store.get("customers", customer.id)).sync.state == "synced"
        except ProtocolError:
            return False

    await eventually(b_has_customer)
    await b.engine.set_online(False)
    ids_b = await seed_catalog(b.store, "b")
    v = await b.store.create("vouchers", voucher(ids_b, "KH500"))  # by its code
    assert v.data["customer"] == customer.id
    synced = await a.store.get("customers", customer.id)
    await a.store.delete("customers", customer.id, if_match=synced.local_rev)

    async def a_synced() -> bool:
        return await a.store.outbox_size() == 0

    await eventually(a_synced)
    await b.engine.set_online(True)

    async def b_refused() -> bool:
        return await _state(b.store, "vouchers", v.id) == "error"

    await eventually(b_refused)
    refused = await b.store.get("vouchers", v.id, lang="vi")
    assert refused.sync.code is ErrorCode.MISSING_REFERENCE
    assert refused.sync.message == (
        "Không tìm thấy Khách hàng KH500 (Khách hàng). Hãy tạo hoặc đồng bộ Khách hàng đó "
        "trước, hoặc chọn mã khác. Bản ghi đó đã bị người dùng khác xóa trên Cloud: hãy sửa "
        "bản ghi này để chọn bản ghi khác, hoặc bỏ nó")
    assert customer.id not in refused.sync.message


async def test_link_existing_to_a_record_deleted_meanwhile_is_refused(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    s = await _duplicate_story(make_node)
    theirs = await s.a.store.get("customers", s.theirs.id)
    await s.a.store.delete("customers", s.theirs.id, if_match=theirs.local_rev)

    async def b_saw_it() -> bool:
        return (await s.b.store.get("customers", s.theirs.id)).deleted

    await eventually(b_saw_it)
    with pytest.raises(ProtocolError) as err:
        await s.b.store.resolve("customers", s.mine.id, "link_existing")
    assert err.value.code is ErrorCode.RESOLUTION_REFUSED
    assert err.value.details["reason"] == "existing_deleted"
    # Nothing changed: the voucher still waits on mine, which still says what it is.
    assert (await s.b.store.get("vouchers", s.voucher.id)).data["customer"] == s.mine.id
    assert (await s.b.store.get("customers", s.mine.id)).sync.code is ErrorCode.DUPLICATE_KEY
