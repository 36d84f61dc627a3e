"""Validation errors in words, field labels, and the strict values of the accounting pack."""

from __future__ import annotations

import typing
import uuid
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from protocol.accounting import ACCOUNTING_PACK
from protocol.errors import ProtocolError
from protocol.models import EnrollRequest, LeaseRequest, PairRequest, RecordWrite, ResolveRequest
from protocol.text import MAX_NUMBER, fold_code
from protocol.wording import GENERIC, TEMPLATES, FieldErrors, model_error, problems_of

LIBRARY = ("Input should", "String should", "Field required", "Value error", "validation error",
           "pydantic", "Extra inputs", "should match pattern", "[0-9a-f]", "^")
A, B = str(uuid.uuid4()), str(uuid.uuid4())


def _paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    found: list[str] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        found.append(path)
        for arg in typing.get_args(info.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                found += _paths(arg, f"{path}[].")
    return found


def test_every_field_of_every_collection_has_a_label_in_both_languages() -> None:
    for schema in ACCOUNTING_PACK:
        for path in _paths(schema.model):
            vi, en = schema.fields[path]  # KeyError names the unlabelled field
            assert (vi and en and vi != en) or path == "lines", (schema.name, path)


def test_every_template_fills_in_both_languages() -> None:
    ctx = {"max_length": 5, "min_length": 2, "gt": 0, "ge": 0, "lt": 9, "le": 9, "places": 6,
           "max": MAX_NUMBER, "chars": "U+200B", "input": "x"}
    for kind, (vi, en) in {**TEMPLATES, "?": GENERIC}.items():
        for text in (vi.format_map({**ctx, "label": "Nhãn"}),
                     en.format_map({**ctx, "label": "Label"})):
            assert "?" not in text.replace("{…}", ""), (kind, text)


def _reason(collection: str, data: Any) -> dict[str, str]:
    with pytest.raises(FieldErrors) as err:
        ACCOUNTING_PACK.get(collection).validate(data)
    reason: dict[str, str] = err.value.params["reason"]
    for text in reason.values():
        for phrase in LIBRARY:
            assert phrase not in text, (phrase, text)
    return reason


def voucher(**changes: Any) -> dict[str, Any]:
    line = {"debit": A, "credit": B, "amount": 1000, **changes.pop("line", {})}
    return {"type": "receipt", "number": "PT1", "date": "2026-01-05", "lines": [line],
            **changes}


@pytest.mark.parametrize(("collection", "data", "vi", "en"), [
    ("sales_orders", {"number": "D1", "date": "2026-01-05", "customer": "KH001"},
     "Khách hàng phải là mã định danh (id) của một khách hàng",
     "Customer must be the id of a customer"),
    ("vouchers", voucher(date="01/12/2026"),
     "Ngày chứng từ phải có dạng YYYY-MM-DD, ví dụ 2026-12-01",
     "Voucher date must be a date YYYY-MM-DD, e.g. 2026-12-01"),
    ("vouchers", voucher(line={"amount": True}), "Số tiền (dòng 1) phải là số, không phải",
     "Amount (line 1) must be a number, not true/false"),
    ("vouchers", voucher(type="gift"), "Loại chứng từ phải là một trong: receipt, payment",
     "Voucher type must be one of: receipt, payment"),
    ("vouchers", voucher(lines=[]), "Chi tiết phải có ít nhất 1 phần tử",
     "Lines must have at least 1 item"),
    ("customers", {"code": "KH1"}, "Tên khách hàng là bắt buộc", "Customer name is required"),
    ("customers", {"code": "KH1", "name": "A", "fax": 1}, "Trường 'fax' không có ở đây",
     "'fax' is not a field here"),
    ("customers", {"code": "K" * 51, "name": "A"}, "Mã khách hàng dài tối đa 50 ký tự",
     "Customer code must be at most 50 characters long"),
    ("customers", {"code": "  ", "name": "A"}, "Mã khách hàng không được để trống",
     "Customer code must not be empty"),
    ("customers", {"code": 7, "name": "A"}, "Mã khách hàng phải là văn bản",
     "Customer code must be text"),
    ("customers", "KH1", "Dữ liệu của khách hàng phải là một đối tượng JSON",
     "The data of a customer must be a JSON object"),
])
def test_errors_name_the_field_and_what_is_expected(
    collection: str, data: Any, vi: str, en: str
) -> None:
    reason = _reason(collection, data)
    assert vi in reason["vi"] and en in reason["en"], reason


def test_an_error_type_without_template_still_gets_words() -> None:
    class _Future:  # a pydantic release may add error types: only .errors() is read
        def errors(self, **_: Any) -> list[dict[str, Any]]:
            return [{"type": "some_future_type", "loc": ("n",), "input": 1,
                     "msg": "Input should be something new"}]

    [problem] = problems_of(typing.cast(ValidationError, _Future()))
    assert problem.vi == "Trường 'n' có giá trị không hợp lệ"
    assert problem.en == "Field 'n' has a value that is not valid"


@pytest.mark.parametrize(("model", "body"), [
    (RecordWrite, {"data": 1, "id": "KH1", "x": 1}),
    (ResolveRequest, {"action": "merge", "choices": {"phone": "both"}}),
    (PairRequest, {"code": 1}),
    (EnrollRequest, []),
    (LeaseRequest, {"count": 0}),
    (LeaseRequest, {"count": "many"}),
])
def test_wire_models_are_worded(model: type[BaseModel], body: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    err = model_error(caught.value, model)
    for lang in ("vi", "en"):
        text = err.body(lang)["error"]["message"]  # type: ignore[arg-type]
        assert not any(p in text for p in LIBRARY), text
    assert all(set(e) == {"field", "type"} for e in err.details["errors"])


@pytest.mark.parametrize("typed", ["kh001", "KH001", " KH001 ", "ＫＨ００１", "Kh001"])
def test_look_alike_codes_have_one_key(typed: str) -> None:
    schema = ACCOUNTING_PACK.get("customers")
    clean = schema.validate({"code": typed, "name": "A"})
    assert clean["code"] == "KH001" and schema.key_of(clean) == "KH001"
    assert schema.normalise_key(typed) == "KH001"


@pytest.mark.parametrize("typed", ["KH001\u200b", "KH\x00001", "\ufeffKH001", "KH\u2028001",
                                   "KH\u00ad001", "KH\u202e001"])
def test_invisible_and_control_characters_are_refused(typed: str) -> None:
    reason = _reason("customers", {"code": typed, "name": "A"})
    assert "ký tự vô hình" in reason["vi"] and "invisible" in reason["en"]
    assert fold_code(typed) == "KH001"  # what the key of such a value stored earlier becomes


def test_voucher_keys_fold_only_the_number() -> None:
    schema = ACCOUNTING_PACK.get("vouchers")
    assert schema.validate(voucher(number="pt1"))["number"] == "PT1"
    assert schema.normalise_key("receipt/pt000001") == "receipt/PT000001"


@pytest.mark.parametrize("amount", [1, "1", "0.5", "1250.50", MAX_NUMBER, str(MAX_NUMBER),
                                    "1.123456"])
def test_good_amounts(amount: Any) -> None:
    clean = ACCOUNTING_PACK.get("vouchers").validate(voucher(line={"amount": amount}))
    assert clean["lines"][0]["amount"] == amount


@pytest.mark.parametrize("amount", [True, False, 0, -1, "-1", "0", 1.5, 100.0, "1e3",
                                    "1e999999999", "１２３", "12,5", " ", "", "NaN", "Infinity",
                                    MAX_NUMBER + 1, 2**63, str(2**63), "1.1234567", None,
                                    [1], {"v": 1}, "0x10", "+5", "1_000"])
def test_bad_amounts(amount: Any) -> None:
    reason = _reason("vouchers", voucher(line={"amount": amount}))
    assert "Số tiền (dòng 1)" in reason["vi"] and "Amount (line 1)" in reason["en"]


@pytest.mark.parametrize("quantity", [True, -1, "-0.5", 2**53, "１", "1e2", 0.5])
def test_bad_quantities_and_prices(quantity: Any) -> None:
    _reason("vouchers", voucher(line={"quantity": quantity}))
    _reason("items", {"code": "VT1", "name": "x", "price": quantity})


@pytest.mark.parametrize("date", ["2026-01-01T00:00", "01/12/2026", "2026-1-5", "20260105",
                                  "2026-02-30", "２０２６-01-05", 20260105, "2026-W01-1", ""])
def test_dates_are_strict(date: Any) -> None:
    reason = _reason("vouchers", voucher(date=date))
    assert "Ngày chứng từ" in reason["vi"] and "Voucher date" in reason["en"]


def test_posted_is_a_real_boolean() -> None:
    for posted in ("yes", "true", 1, 0):
        _reason("vouchers", voucher(posted=posted))


def test_names_are_nfc_and_refuse_invisible_characters() -> None:
    schema = ACCOUNTING_PACK.get("customers")
    decomposed = "Cong ty Vie\u0323\u0302t"  # e + combining dot below + circumflex
    assert schema.validate({"code": "K", "name": decomposed})["name"] == "Cong ty Việt"
    _reason("customers", {"code": "K", "name": "A\u200bB"})
    address = schema.validate({"code": "K", "name": "A", "address": "Line 1\nLine 2"})
    assert address["address"] == "Line 1\nLine 2"


def test_unknown_collection_lists_the_valid_ones() -> None:
    with pytest.raises(ProtocolError) as err:
        ACCOUNTING_PACK.get("customer")
    body_vi = err.value.body("vi")["error"]["message"]
    body_en = err.value.body("en")["error"]["message"]
    assert "customers, vendors" in body_vi and "Có phải ý bạn là customers?" in body_vi
    assert body_en.startswith("Collection 'customer' not found.")
    assert "Did you mean customers?" in body_en
