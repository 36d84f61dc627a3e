"""The local store as workstations use it: checks on write, ETags, outbox, events."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest

from agent.events import EventBus
from agent.store import DatasetStore, StoreManager
from protocol.errors import ErrorCode, ProtocolError, render
from protocol.query import RecordQuery


async def seed(store: DatasetStore) -> dict[str, Any]:
    cash = await store.create("accounts", {"number": "111", "name": "Tiền mặt"})
    receivable = await store.create("accounts", {"number": "131", "name": "Phải thu"})
    customer = await store.create("customers", {"code": "KH001", "name": "Công ty A"})
    return {"cash": cash.id, "receivable": receivable.id, "customer": customer.id}


def voucher(ids: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "receipt",
        "date": "2026-11-20",
        "customer": ids["customer"],
        "lines": [{"debit": ids["cash"], "credit": ids["receivable"], "amount": 1_500_000}],
        **extra,
    }


def outbox(store: DatasetStore) -> list[sqlite3.Row]:
    conn = sqlite3.connect(store.path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM outbox ORDER BY seq").fetchall()
    finally:
        conn.close()


async def test_create_returns_pending_record_and_queues_op(store: DatasetStore) -> None:
    record = await store.create("customers", {"code": "KH009", "name": " Công ty B "})
    assert record.key == "KH009"
    assert record.data["name"] == "Công ty B"
    assert record.local_rev == 1 and record.version is None
    assert record.sync.state == "pending"
    ops = outbox(store)
    assert [(o["record_id"], o["action"], o["base_version"]) for o in ops] == [
        (record.id, "create", None)
    ]
    fetched = await store.get("customers", record.id)
    assert fetched.data == record.data


async def test_duplicate_customer_code_is_refused_at_once(store: DatasetStore) -> None:
    first = await store.create("customers", {"code": "KH001", "name": "A"})
    with pytest.raises(ProtocolError) as err:
        await store.create("customers", {"code": "KH001", "name": "B"})
    assert err.value.code is ErrorCode.DUPLICATE_KEY
    assert err.value.details["existing"]["id"] == first.id
    assert "KH001" in err.value.body("vi")["error"]["message"]
    assert "đã tồn tại" in err.value.body("vi")["error"]["message"]
    assert len(outbox(store)) == 1  # the refused write queued nothing


async def test_voucher_pointing_at_missing_account_is_refused(store: DatasetStore) -> None:
    ids = await seed(store)
    ids["cash"] = "00000000-0000-4000-8000-000000000000"
    before = len(outbox(store))
    with pytest.raises(ProtocolError) as err:
        await store.create("vouchers", voucher(ids))
    assert err.value.code is ErrorCode.MISSING_REFERENCE
    assert err.value.details["target"] == "accounts"
    assert err.value.details["field"] == "lines[].debit"
    assert len(outbox(store)) == before


async def test_reference_to_wrong_collection_is_missing(store: DatasetStore) -> None:
    ids = await seed(store)
    ids["customer"] = ids["cash"]  # an account id where a customer is expected
    with pytest.raises(ProtocolError) as err:
        await store.create("vouchers", voucher(ids))
    assert err.value.code is ErrorCode.MISSING_REFERENCE


async def test_voucher_numbers_come_from_the_series(store: DatasetStore) -> None:
    ids = await seed(store)
    first = await store.create("vouchers", voucher(ids))
    second = await store.create("vouchers", voucher(ids))
    typed = await store.create("vouchers", voucher(ids, number="PT000003"))
    fourth = await store.create("vouchers", voucher(ids))
    assert first.data["number"] == "PT000001"
    assert second.data["number"] == "PT000002"
    assert typed.key == "receipt/PT000003"
    assert fourth.data["number"] == "PT000004"  # skips the number typed by hand
    payment = await store.create("vouchers", voucher(ids, type="payment"))
    assert payment.data["number"] == "PC000001"


async def test_leased_block_is_used_when_not_standalone(tmp_path: Any) -> None:
    mgr = StoreManager(tmp_path, local_numbering=False)
    await mgr.open(["cty-abc"])
    store = mgr.get("cty-abc")
    try:
        ids = await seed(store)
        with pytest.raises(ProtocolError) as err:
            await store.create("vouchers", voucher(ids))
        assert err.value.code is ErrorCode.VALIDATION_FAILED
        await store.writer.submit(
            lambda c: c.execute(
                "INSERT INTO series (name, start, \"end\", next) VALUES ('PT', 501, 502, 501)"
            )
        )
        a = await store.create("vouchers", voucher(ids))
        b = await store.create("vouchers", voucher(ids))
        assert (a.data["number"], b.data["number"]) == ("PT000501", "PT000502")
        with pytest.raises(ProtocolError):
            await store.create("vouchers", voucher(ids))  # block used up
    finally:
        await mgr.close()


async def test_stale_etag_gets_stale_local_copy_with_current(store: DatasetStore) -> None:
    record = await store.create("customers", {"code": "KH001", "name": "A"})
    updated = await store.update("customers", record.id, {"code": "KH001", "name": "B"},
                                 if_match=1)
    assert updated.local_rev == 2
    with pytest.raises(ProtocolError) as err:
        await store.update("customers", record.id, {"code": "KH001", "name": "C"}, if_match=1)
    assert err.value.code is ErrorCode.STALE_LOCAL_COPY
    assert err.value.details["current"]["data"]["name"] == "B"
    assert err.value.details["current"]["local_rev"] == 2
    assert (await store.get("customers", record.id)).data["name"] == "B"
    ops = outbox(store)
    assert [o["action"] for o in ops] == ["create", "update"]


async def test_update_to_existing_code_is_duplicate(store: DatasetStore) -> None:
    await store.create("customers", {"code": "KH001", "name": "A"})
    b = await store.create("customers", {"code": "KH002", "name": "B"})
    with pytest.raises(ProtocolError) as err:
        await store.update("customers", b.id, {"code": "KH001", "name": "B"}, if_match=1)
    assert err.value.code is ErrorCode.DUPLICATE_KEY
    # renaming to itself is fine
    await store.update("customers", b.id, {"code": "KH002", "name": "B2"}, if_match=1)


async def test_post_unpost_and_posted_voucher_is_locked(store: DatasetStore) -> None:
    ids = await seed(store)
    v = await store.create("vouchers", voucher(ids))
    posted = await store.post("vouchers", v.id, if_match=v.local_rev)
    assert posted.data["posted"] is True
    with pytest.raises(ProtocolError) as err:
        await store.update("vouchers", v.id, voucher(ids, posted=True),
                           if_match=posted.local_rev)
    assert err.value.code is ErrorCode.VALIDATION_FAILED
    with pytest.raises(ProtocolError) as locked:
        await store.delete("vouchers", v.id, if_match=posted.local_rev)
    number = v.data["number"]  # the refusal names the voucher as the office knows it
    assert render(locked.value.code, "vi", locked.value.params) == (
        f"Dữ liệu không hợp lệ: Phiếu thu {number} đã ghi sổ: hãy Bỏ ghi trước khi sửa "
        "hoặc xóa")
    with pytest.raises(ProtocolError) as again:
        await store.post("vouchers", v.id, if_match=posted.local_rev)  # already posted
    assert render(again.value.code, "en", again.value.params) == (
        f"Invalid data: Receipt {number} is posted already: nothing to do")
    unposted = await store.unpost("vouchers", v.id, if_match=posted.local_rev)
    assert unposted.data["posted"] is False
    with pytest.raises(ProtocolError):
        await store.post("customers", ids["customer"], if_match=1)  # not postable
    deleted = await store.delete("vouchers", v.id, if_match=unposted.local_rev)
    assert deleted.deleted
    actions = [o["action"] for o in outbox(store) if o["record_id"] == v.id]
    assert actions == ["create", "post", "unpost", "delete"]


async def test_deleted_record_frees_its_code_and_is_hidden(store: DatasetStore) -> None:
    a = await store.create("customers", {"code": "KH001", "name": "A"})
    await store.delete("customers", a.id, if_match=1)
    page = await store.query("customers")
    assert page.items == []
    again = await store.create("customers", {"code": "KH001", "name": "A again"})
    assert again.id != a.id
    with pytest.raises(ProtocolError) as err:
        await store.update("customers", a.id, {"code": "KH003", "name": "x"}, if_match=2)
    assert err.value.code is ErrorCode.RECORD_DELETED


async def test_invalid_data_changes_nothing(store: DatasetStore) -> None:
    cases: list[tuple[str, Any]] = [
        ("customers", {"code": "", "name": "A"}),
        ("customers", {"code": "KH1"}),
        ("customers", {"code": "KH1", "name": "A", "surprise": 1}),
        ("customers", ["not", "an", "object"]),
        ("vouchers", {"type": "gift", "date": "2026-01-01", "lines": []}),
    ]
    for collection, data in cases:
        with pytest.raises(ProtocolError) as err:
            await store.create(collection, data)
        assert err.value.code is ErrorCode.VALIDATION_FAILED
    with pytest.raises(ProtocolError) as err:
        await store.create("planets", {"code": "x"})
    assert err.value.code is ErrorCode.NOT_FOUND
    assert outbox(store) == []


async def test_list_filters_and_pages(store: DatasetStore) -> None:
    ids = await seed(store)
    for day in ("2026-11-01", "2026-11-15", "2026-12-01"):
        await store.create("vouchers", voucher(ids, date=day))
    page = await store.query("vouchers", RecordQuery(date_from="2026-11-10", date_to="2026-11-30"))
    assert [r.data["date"] for r in page.items] == ["2026-11-15"]
    for i in range(5):
        await store.create("customers", {"code": f"KH1{i:02d}", "name": f"Khách {i}"})
    seen: list[str] = []
    cursor = None
    while True:
        page = await store.query("customers", RecordQuery(limit=2, after=cursor))
        seen += [r.key for r in page.items]
        cursor = page.next
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == 6
    found = await store.query("customers", RecordQuery(q="Khách 3"))
    assert [r.key for r in found.items] == ["KH103"]
    assert len((await store.query("customers", RecordQuery(sync_state="pending"))).items) == 6
    assert (await store.query("customers", RecordQuery(key="KH001"))).items[0].id == ids["customer"]
    with pytest.raises(ProtocolError):
        await store.query("customers", RecordQuery(sync_state="bogus"))
    with pytest.raises(ProtocolError):
        await store.query("customers", RecordQuery(after="!!notacursor"))


async def test_counts_and_events(store: DatasetStore, bus: EventBus) -> None:
    with bus.subscribe() as sub:
        record = await store.create("customers", {"code": "KH001", "name": "A"})
        event = await asyncio.wait_for(sub.get(), 1)
    assert event is not None
    assert event["type"] == "record" and event["record"]["id"] == record.id
    assert event["dataset"] == "cty-abc" and event["action"] == "create"
    counts = await store.sync_counts()
    assert counts["pending"] == 1 and counts["synced"] == 0


async def test_concurrent_writes_are_group_committed(store: DatasetStore) -> None:
    results = await asyncio.gather(
        *(store.create("customers", {"code": f"C{i:04d}", "name": "x"}) for i in range(300)),
        store.create("customers", {"code": "C0000", "name": "dup"}),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1 and isinstance(failures[0], ProtocolError)
    assert failures[0].code is ErrorCode.DUPLICATE_KEY
    assert len(outbox(store)) == 300
    assert store.writer.commits < 300  # several writes shared a commit


async def test_disconnected_dataset_keeps_pending_and_says_so(manager: StoreManager) -> None:
    store = manager.get("cty-abc")
    await store.create("customers", {"code": "KH001", "name": "A"})
    await manager.disconnect("cty-abc")
    with pytest.raises(ProtocolError) as err:
        manager.get("cty-abc")
    assert err.value.code is ErrorCode.DATASET_NOT_CONNECTED
    with pytest.raises(ProtocolError) as err:
        manager.get("cty-xyz")
    assert err.value.code is ErrorCode.DATASET_NOT_FOUND
    assert manager.hosted() == [("cty-abc", False)]
    again = await manager.connect("cty-abc")
    assert (await again.sync_counts())["pending"] == 1
