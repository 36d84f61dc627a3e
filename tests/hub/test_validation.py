"""The hub applies the node's rules (protocol.text): one key per look-alike code, strict
amounts and dates, refusals worded in both languages. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from hub.db import meta, records
from hub.records import upgrade_key_form
from hub.store import HubStore
from tests.hub.helpers import DS, Node, account, admin, customer, new_id, op, voucher

LIBRARY = ("Input should", "String should", "Field required", "validation error", "pydantic",
           "Extra inputs", "[0-9a-f]", "line 1 column", "unexpected character")


async def refused(node: Node, *ops: dict[str, Any]) -> list[dict[str, Any]]:
    results = await node.push(*ops)
    assert [r["status"] for r in results] == ["rejected"] * len(ops), results
    for result in results:
        assert not any(p in str(result) for p in LIBRARY), result
    return [r["error"] for r in results]


@pytest.mark.parametrize("typed", ["kh001", "ＫＨ００１", "Kh001 "])
async def test_look_alike_codes_are_one_key(node: Node, node_b: Node, typed: str) -> None:
    first = await node.create("customers", customer("KH001", "A"))
    [error] = await refused(node_b, op("create", "customers", new_id(), customer(typed)))
    assert error["code"] == "DUPLICATE_KEY"
    assert error["details"]["existing"]["id"] == first
    assert error["message"] == "Customer KH001 already exists. Please check again."


@pytest.mark.parametrize("typed", ["KH001\u200b", "KH\x00001", "\ufeffKH001"])
async def test_invisible_characters_are_refused(node: Node, typed: str) -> None:
    [error] = await refused(node, op("create", "customers", new_id(), customer(typed)))
    assert error["code"] == "VALIDATION_FAILED"
    assert "invisible or control characters" in error["message"]
    assert error["details"]["params"]["reason"]["vi"].startswith(
        "Mã khách hàng chứa ký tự vô hình")


async def test_codes_are_stored_normalised_and_listed_by_any_spelling(node: Node) -> None:
    rid = await node.create("customers", customer("ｋｈ００７"))
    page = await node.changes()
    assert page["changes"][-1]["data"]["code"] == "KH007"
    for typed in ("kh007", "ＫＨ００７"):
        status, body = await node.call("GET", f"/v1/datasets/{DS}/records/customers",
                                       key=typed)
        assert status == 200 and [r["id"] for r in body["items"]] == [rid], (typed, body)


AMOUNTS: list[tuple[Any, str]] = [
    (True, "must be a number, not true/false"),
    ("1e999999999", "must be a whole number or a decimal in a string"),
    ("１２３", "must be a whole number or a decimal in a string"),
    (2**63, "must be at most 9007199254740991"),
    (2**53, "must be at most 9007199254740991"),
    (0, "must be greater than 0"),
    (12.5, "must be a whole number or a decimal in a string"),
]
DATES = ["2026-01-01T00:00", "01/12/2026", "2026-02-30", 20260101]


async def test_amounts_and_dates_are_strict(node: Node) -> None:
    a, b = await node.create("accounts", account("111")), await node.create("accounts",
                                                                           account("131"))
    errors = await refused(node, *[op("create", "vouchers", new_id(),
                                      voucher(a, b, amount=amount)) for amount, _ in AMOUNTS])
    for (amount, expected), error in zip(AMOUNTS, errors, strict=True):
        assert error["code"] == "VALIDATION_FAILED"
        assert f"Amount (line 1) {expected}" in error["message"], (amount, error["message"])
        assert error["details"]["errors"][0]["field"] == "lines.0.amount"
    errors = await refused(node, *[op("create", "vouchers", new_id(), voucher(a, b, date=d))
                                   for d in DATES])
    assert all(e["message"].startswith("Invalid data: Voucher date") for e in errors), errors


async def test_refusals_follow_the_push_language(node: Node) -> None:
    node.lang = "vi"
    [error] = await refused(node, op("create", "sales_orders", new_id(),
                                     {"number": "DH1", "date": "01/12/2026",
                                      "customer": "KH001"}))
    assert error["message"] == (
        "Dữ liệu không hợp lệ: Ngày đơn hàng phải có dạng YYYY-MM-DD, ví dụ 2026-12-01; "
        "Khách hàng phải là mã định danh (id) của một khách hàng, dạng "
        "3f2b8c1e-9a4d-4f6b-8e2a-1c5d7e9f0a3b")
    assert error["details"]["errors"] == [{"field": "date", "type": "date_format"},
                                          {"field": "customer", "type": "id_expected"}]


async def test_bad_query_parameters_are_worded(node: Node) -> None:
    node.lang = "vi"
    for params in ({"since": "１"}, {"limit": "0"}, {"wait": "-1"}):
        status, body = await node.call("GET", f"/v1/datasets/{DS}/changes", **params)
        assert status == 422 and "phải là" in body["error"]["message"], body
    status, body = await node.call("GET", f"/v1/datasets/{DS}/records/customer")
    assert status == 404 and "Có phải ý bạn là customers?" in body["error"]["message"]
    status, body = await node.call("GET", f"/v1/datasets/{DS}/records/vouchers",
                                   date_from="2026-01-01T00:00")
    assert status == 422 and "YYYY-MM-DD" in body["error"]["message"], body


async def test_keys_stored_by_an_older_hub_are_upgraded_once(node: Node, db_url: str) -> None:
    old_id = new_id()

    def older_hub_rows(conn: sa.Connection) -> None:
        conn.execute(sa.insert(records).values(
            dataset=DS, id=old_id, collection="customers", key="ｋｈ００９", date=None,
            data='{"code":"ｋｈ００９","name":"Old"}', deleted=False, version=1, seq=0))
        conn.execute(sa.delete(meta))

    admin(db_url, older_hub_rows)  # admin() runs create_schema first, then this
    store = HubStore(db_url)
    try:
        assert upgrade_key_form(store.engine) == 1
        assert upgrade_key_form(store.engine) == 0  # once
    finally:
        store.engine.dispose()
    [error] = await refused(node, op("create", "customers", new_id(), customer("KH009")))
    assert error["code"] == "DUPLICATE_KEY" and error["details"]["existing"]["id"] == old_id
