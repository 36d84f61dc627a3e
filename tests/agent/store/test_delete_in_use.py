"""A workstation's delete of a catalog entry that live records use is refused, naming them
(a customer with vouchers): deleting it would strand the vouchers at the hub
(``MISSING_REFERENCE``) and on screen. Once the vouchers no longer use it, the delete goes."""

from __future__ import annotations

import pytest

from agent.store import DatasetStore
from protocol.errors import ErrorCode, ProtocolError, render

VOUCHER = {"type": "receipt", "number": "PT000001", "date": "2026-12-01",
           "lines": [{"debit": "111", "credit": "131", "amount": 1000}]}


async def test_delete_of_a_customer_with_vouchers_is_refused_naming_them(
        store: DatasetStore) -> None:
    for number in ("111", "131"):
        await store.create("accounts", {"number": number, "name": number})
    customer = await store.create("customers", {"code": "KH001", "name": "Công ty A"})
    other = await store.create("customers", {"code": "KH002", "name": "Công ty B"})
    voucher = await store.create("vouchers", {**VOUCHER, "customer": "KH001"})
    with pytest.raises(ProtocolError) as refused:
        await store.delete("customers", customer.id, if_match=customer.local_rev)
    err = refused.value
    assert err.code is ErrorCode.HAS_DEPENDENTS
    assert render(err.code, "vi", err.params).startswith(
        "Không thể xóa Khách hàng KH001: 1 bản ghi khác đang dùng đến nó (Phiếu thu PT000001)")
    assert "cannot be deleted" in render(err.code, "en", err.params)
    assert [d["id"] for d in err.details["dependents"]] == [voucher.id]
    assert not (await store.get("customers", customer.id)).deleted  # nothing changed

    moved = await store.update("vouchers", voucher.id, {**VOUCHER, "customer": other.id},
                               if_match=voucher.local_rev)
    assert moved.data["customer"] == other.id
    gone = await store.delete("customers", customer.id, if_match=customer.local_rev)
    assert gone.deleted
