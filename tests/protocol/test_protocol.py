"""The wire contract: error catalogue, connectivity messages, schema pack, models."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from protocol.accounting import ACCOUNTING_PACK
from protocol.connectivity import Connectivity
from protocol.errors import MESSAGES, ErrorCode, ProtocolError, changed_words, messages, render
from protocol.i18n import pick_language
from protocol.models import Op, PushRequest


def test_every_code_has_status_and_both_languages() -> None:
    for code in ErrorCode:
        assert 100 <= code.http_status < 600
        vi, en = MESSAGES[code]
        assert vi and en and vi != en


def test_design_statuses() -> None:
    assert ErrorCode.DUPLICATE_KEY.http_status == 409
    assert ErrorCode.VALIDATION_FAILED.http_status == 422
    assert ErrorCode.UPGRADE_REQUIRED.http_status == 426
    assert ErrorCode.PAYLOAD_TOO_LARGE.http_status == 413
    assert ErrorCode.RATE_LIMITED.http_status == 429
    assert ErrorCode.INTERNAL.http_status == 500


def test_seed_messages_are_used() -> None:
    assert "đã tồn tại. Vui lòng kiểm tra lại" in render(
        ErrorCode.DUPLICATE_KEY, "vi", {"label": "Khách hàng", "key": "KH001"}
    )
    assert render(ErrorCode.STALE_LOCAL_COPY, "vi") == (
        "Dữ liệu đã bị thay đổi, vui lòng thực hiện đồng bộ dữ liệu với máy chủ"
    )
    assert "sửa/bỏ ghi/xóa bởi người dùng khác" in render(ErrorCode.STALE_VERSION, "vi")
    # a catalog entry is only modified: never "bỏ ghi" (unposted) for a customer
    customer = {"record": "Khách hàng KH100", "changed": changed_words(postable=False)}
    assert render(ErrorCode.STALE_VERSION, "vi", customer).startswith(
        "Khách hàng KH100 đã được sửa bởi người dùng khác")
    assert render(ErrorCode.STALE_VERSION, "en", customer).startswith(
        "Khách hàng KH100 was modified by another user.")
    assert Connectivity.NO_NETWORK.messages()["vi"].startswith(
        "Không có kết nối mạng, hoặc làm việc ở chế độ offline"
    )


def test_bilingual_params_and_missing_params() -> None:
    label = {"vi": "Khách hàng", "en": "Customer"}
    both = messages(ErrorCode.DUPLICATE_KEY, {"label": label, "key": "KH1"})
    assert both["vi"].startswith("Khách hàng KH1")
    assert both["en"].startswith("Customer KH1")
    assert "?" in render(ErrorCode.DUPLICATE_KEY, "en")  # no KeyError when params are missing
    err = ProtocolError(ErrorCode.NOT_FOUND, {"what": "x"}, {"id": 1})
    assert err.body("en") == {
        "error": {"code": "NOT_FOUND", "message": "x not found.", "details": {"id": 1}}
    }


def test_every_connectivity_state_tells_what_to_do() -> None:
    for state in Connectivity:
        text = state.messages()
        assert text["vi"] and text["en"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, "vi"), ("en", "en"), ("en-US,en;q=0.9", "en"), ("fr, vi;q=0.5", "vi"),
     ("vi;q=0.2, en;q=0.8", "en"), ("de", "vi"), ("en;q=0", "vi")],
)
def test_pick_language(header: str | None, expected: str) -> None:
    assert pick_language(header, "vi") == expected


def test_pack_matches_design() -> None:
    assert ACCOUNTING_PACK.order.index("vouchers") > ACCOUNTING_PACK.order.index("customers")
    assert ACCOUNTING_PACK.get("vouchers").key_fields == ("type", "number")
    assert ACCOUNTING_PACK.get("items").key_fields == ("code",)
    assert ACCOUNTING_PACK.get("accounts").key_fields == ("number",)
    assert ACCOUNTING_PACK.get("sales_orders").date_field == "date"
    targets = {r.path: r.target for r in ACCOUNTING_PACK.get("vouchers").references}
    assert targets == {
        "customer": "customers", "vendor": "vendors", "sales_order": "sales_orders",
        "lines[].debit": "accounts", "lines[].credit": "accounts", "lines[].item": "items",
    }
    with pytest.raises(ProtocolError):
        ACCOUNTING_PACK.get("nope")


def test_voucher_validation() -> None:
    schema = ACCOUNTING_PACK.get("vouchers")
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    ok = schema.validate(
        {"type": "journal", "date": "2026-02-28",
         "lines": [{"debit": a, "credit": b, "amount": "1250.50"}]}
    )
    assert ok["posted"] is False and ok["lines"][0]["amount"] == "1250.50"
    for bad in (
        {"type": "journal", "date": "2026-02-30", "lines": [{"debit": a, "credit": b,
                                                             "amount": 1}]},
        {"type": "journal", "date": "2026-02-28", "lines": [{"debit": a, "credit": b,
                                                             "amount": 0}]},
        {"type": "journal", "date": "2026-02-28", "lines": [{"debit": a, "credit": b,
                                                             "amount": "abc"}]},
        {"type": "journal", "date": "2026-02-28", "lines": [{"debit": "x", "credit": b,
                                                             "amount": 1}]},
        {"type": "journal", "date": "2026-02-28", "lines": []},
    ):
        with pytest.raises(ProtocolError) as err:
            schema.validate(bad)
        assert err.value.code is ErrorCode.VALIDATION_FAILED
        assert err.value.details["errors"]


def test_keys_and_refs() -> None:
    schema = ACCOUNTING_PACK.get("vouchers")
    a = str(uuid.uuid4())
    data = {"type": "receipt", "number": "PT000001", "lines": [{"debit": a, "credit": a}]}
    assert schema.key_of(data) == "receipt/PT000001"
    assert schema.key_data("receipt/PT000001") == {"type": "receipt", "number": "PT000001"}
    assert [v for _, v in schema.refs_of(data)] == [a, a]


def test_push_request_limits_and_uuid_shape() -> None:
    op = {"op_id": str(uuid.uuid4()), "collection": "customers", "id": str(uuid.uuid4()),
          "action": "create", "data": {}}
    assert len(PushRequest.model_validate({"ops": [op] * 1000}).ops) == 1000
    with pytest.raises(ValidationError):
        PushRequest.model_validate({"ops": [op] * 1001})
    with pytest.raises(ValidationError):
        Op.model_validate({**op, "id": "not-a-uuid"})
