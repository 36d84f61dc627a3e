"""A workstation may send a reference as the target's code (``"customer": "KH001"``, a line's
``"debit": "131"``): the node writes the id of the record with that code, or refuses naming
the code and what it should be. Ids keep working unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from agent.store import DatasetStore
from protocol.errors import ErrorCode, ProtocolError, render


async def _catalog(store: DatasetStore) -> dict[str, str]:
    made = {
        "cash": await store.create("accounts", {"number": "111", "name": "Tiền mặt"}),
        "recv": await store.create("accounts", {"number": "131", "name": "Phải thu"}),
        "customer": await store.create("customers", {"code": "KH001", "name": "Cong ty A"}),
        "vendor": await store.create("vendors", {"code": "NCC01", "name": "Nha cung cap"}),
        "item": await store.create("items", {"code": "VT01", "name": "Vat tu"}),
    }
    return {name: record.id for name, record in made.items()}


def _voucher(**refs: Any) -> dict[str, Any]:
    line = {"debit": refs.pop("debit"), "credit": refs.pop("credit"), "amount": 100_000}
    if "item" in refs:
        line["item"] = refs.pop("item")
        line["quantity"] = 2
    return {"type": "receipt", "number": "PT000001", "date": "2026-11-20",
            "lines": [line], **refs}


async def test_codes_on_create_are_written_as_the_ids_of_their_records(
    store: DatasetStore,
) -> None:
    ids = await _catalog(store)
    order = await store.create("sales_orders", {
        "number": "DH0001", "date": "2026-11-20", "customer": "kh001",
        "lines": [{"item": "VT01", "quantity": 1, "price": 5}]})
    assert order.data["customer"] == ids["customer"]
    assert order.data["lines"][0]["item"] == ids["item"]
    voucher = await store.create("vouchers", _voucher(
        customer="KH001", vendor="ncc01", sales_order="DH0001", debit="111", credit="131",
        item="VT01"))
    assert voucher.data["customer"] == ids["customer"]
    assert voucher.data["vendor"] == ids["vendor"]
    assert voucher.data["sales_order"] == order.id
    line = voucher.data["lines"][0]
    assert (line["debit"], line["credit"], line["item"]) == (ids["cash"], ids["recv"],
                                                             ids["item"])
    # What is stored (and queued for the hub) holds ids, never codes.
    stored = await store.get("vouchers", voucher.id)
    assert stored.data == voucher.data


async def test_ids_keep_working_and_mix_with_codes(store: DatasetStore) -> None:
    ids = await _catalog(store)
    voucher = await store.create("vouchers", _voucher(
        customer=ids["customer"], debit=ids["cash"], credit="131"))
    assert voucher.data["customer"] == ids["customer"]
    assert voucher.data["lines"][0]["credit"] == ids["recv"]


async def test_codes_on_update_are_resolved(store: DatasetStore) -> None:
    ids = await _catalog(store)
    other = await store.create("customers", {"code": "KH002", "name": "Cong ty B"})
    voucher = await store.create("vouchers", _voucher(
        customer="KH001", debit="111", credit="131"))
    data = {**voucher.data, "customer": "KH002"}
    updated = await store.update("vouchers", voucher.id, data, if_match=voucher.local_rev)
    assert updated.data["customer"] == other.id
    assert updated.data["lines"][0]["debit"] == ids["cash"]


async def test_an_unknown_code_is_refused_naming_it_and_nothing_is_written(
    store: DatasetStore,
) -> None:
    await _catalog(store)
    with pytest.raises(ProtocolError) as err:
        await store.create("vouchers", _voucher(customer="KH999", debit="111", credit="131"))
    assert err.value.code is ErrorCode.MISSING_REFERENCE
    assert render(err.value.code, "vi", err.value.params) == (
        "Không tìm thấy Khách hàng KH999 (Khách hàng). Hãy tạo hoặc đồng bộ Khách hàng đó "
        "trước, hoặc chọn mã khác")
    assert render(err.value.code, "en", err.value.params) == (
        "Customer KH999 was not found (Customer). Create or sync it first, or choose another "
        "code.")
    assert err.value.details == {"collection": "vouchers", "field": "customer", "ref": "KH999",
                                 "target": "customers", "key": "KH999",
                                 "reason": "unknown_code"}
    with pytest.raises(ProtocolError) as line_err:
        await store.create("vouchers", _voucher(debit="111", credit="999"))
    assert render(line_err.value.code, "en", line_err.value.params).startswith(
        "Account 999 was not found (Credit account)")
    assert (await store.sync_counts()).get("pending") == 5  # the catalog only
    assert await store.outbox_size() == 5


async def test_a_deleted_record_s_code_is_not_resolved(store: DatasetStore) -> None:
    await _catalog(store)
    gone = await store.create("customers", {"code": "KH050", "name": "Old"})
    await store.delete("customers", gone.id, if_match=gone.local_rev)
    with pytest.raises(ProtocolError) as err:
        await store.create("vouchers", _voucher(customer="KH050", debit="111", credit="131"))
    assert err.value.code is ErrorCode.MISSING_REFERENCE
    assert err.value.details["key"] == "KH050"
