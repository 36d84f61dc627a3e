"""The default accounting pack, field by field as DESIGN §3."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from protocol.models import Uuid
from protocol.schema import CollectionSchema, Reference, SchemaRegistry, Series
from protocol.text import (
    MAX_NUMBER,
    amount_value,
    code_value,
    date_value,
    line_value,
    quantity_value,
    text_value,
)
from protocol.wording import Pair

# Codes: NFKC, trimmed, upper-cased, no invisible characters (protocol.text).
Code = Annotated[str, BeforeValidator(code_value), Field(min_length=1, max_length=50)]
Name = Annotated[str, BeforeValidator(line_value), Field(min_length=1, max_length=500)]
Text = Annotated[str, BeforeValidator(text_value), Field(max_length=2000)]


Amount = Annotated[
    int | str, BeforeValidator(amount_value),
    Field(description=f"> 0 and ≤ {MAX_NUMBER}: an integer or a decimal string"),
]
Quantity = Annotated[
    int | str, BeforeValidator(quantity_value),
    Field(description=f"≥ 0 and ≤ {MAX_NUMBER}: an integer or a decimal string"),
]
IsoDate = Annotated[str, BeforeValidator(date_value),
                    Field(json_schema_extra={"format": "date"})]
ShortText20 = Annotated[str, BeforeValidator(line_value), Field(max_length=20)]
ShortText50 = Annotated[str, BeforeValidator(line_value), Field(max_length=50)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Account(_Strict):
    number: Code
    name: Name
    parent: Uuid | None = None


class Party(_Strict):
    code: Code
    name: Name
    tax_code: ShortText20 | None = None
    address: Text | None = None
    phone: ShortText50 | None = None


class Item(_Strict):
    code: Code
    name: Name
    unit: ShortText50 | None = None
    price: Quantity | None = None


class OrderLine(_Strict):
    item: Uuid
    quantity: Quantity
    price: Quantity


class SalesOrder(_Strict):
    number: Code
    date: IsoDate
    customer: Uuid
    lines: list[OrderLine] = Field(default_factory=list, max_length=1000)


class VoucherType(StrEnum):
    RECEIPT = "receipt"
    PAYMENT = "payment"
    SALES_INVOICE = "sales_invoice"
    PURCHASE_INVOICE = "purchase_invoice"
    JOURNAL = "journal"


class VoucherLine(_Strict):
    debit: Uuid
    credit: Uuid
    amount: Amount
    item: Uuid | None = None
    quantity: Quantity | None = None


class Voucher(_Strict):
    type: VoucherType
    number: Code | None = None
    date: IsoDate
    posted: StrictBool = False
    customer: Uuid | None = None
    vendor: Uuid | None = None
    sales_order: Uuid | None = None
    description: Text | None = None
    lines: list[VoucherLine] = Field(min_length=1, max_length=1000)


# Field labels (vi, en) shared by the collections; each collection overrides a few below.
_COMMON: dict[str, Pair] = {
    "name": ("Tên", "Name"),
    "tax_code": ("Mã số thuế", "Tax code"),
    "address": ("Địa chỉ", "Address"),
    "phone": ("Điện thoại", "Phone"),
    "unit": ("Đơn vị tính", "Unit"),
    "price": ("Đơn giá", "Unit price"),
    "customer": ("Khách hàng", "Customer"),
    "vendor": ("Nhà cung cấp", "Vendor"),
    "sales_order": ("Đơn đặt hàng", "Sales order"),
    "description": ("Diễn giải", "Description"),
    "lines": ("Chi tiết", "Lines"),
    "lines[].item": ("Vật tư hàng hóa", "Item"),
    "lines[].quantity": ("Số lượng", "Quantity"),
    "lines[].price": ("Đơn giá", "Unit price"),
    "lines[].debit": ("Tài khoản nợ", "Debit account"),
    "lines[].credit": ("Tài khoản có", "Credit account"),
    "lines[].amount": ("Số tiền", "Amount"),
}


def _labels(**own: Pair) -> dict[str, Pair]:
    return {**_COMMON, **own}


VOUCHER_SERIES = Series(
    by_field="type",
    number_field="number",
    prefixes={
        "receipt": "PT",
        "payment": "PC",
        "sales_invoice": "BH",
        "purchase_invoice": "MH",
        "journal": "NVK",
    },
)

ACCOUNTING_PACK = SchemaRegistry(
    [
        CollectionSchema(
            "accounts", Account, ("number",), "Tài khoản", "Account",
            references=(Reference("parent", "accounts"),),
            fields=_labels(number=("Số tài khoản", "Account number"),
                           name=("Tên tài khoản", "Account name"),
                           parent=("Tài khoản cha", "Parent account")),
        ),
        CollectionSchema("customers", Party, ("code",), "Khách hàng", "Customer",
                         fields=_labels(code=("Mã khách hàng", "Customer code"),
                                        name=("Tên khách hàng", "Customer name"))),
        CollectionSchema("vendors", Party, ("code",), "Nhà cung cấp", "Vendor",
                         fields=_labels(code=("Mã nhà cung cấp", "Vendor code"),
                                        name=("Tên nhà cung cấp", "Vendor name"))),
        CollectionSchema("items", Item, ("code",), "Vật tư hàng hóa", "Item",
                         fields=_labels(code=("Mã vật tư hàng hóa", "Item code"),
                                        name=("Tên vật tư hàng hóa", "Item name"))),
        CollectionSchema(
            "sales_orders", SalesOrder, ("number",), "Đơn đặt hàng", "Sales order",
            fields=_labels(number=("Số đơn hàng", "Order number"),
                           date=("Ngày đơn hàng", "Order date")),
            references=(
                Reference("customer", "customers"),
                Reference("lines[].item", "items"),
            ),
            date_field="date",
        ),
        CollectionSchema(
            "vouchers", Voucher, ("type", "number"), "Chứng từ", "Voucher",
            fields=_labels(type=("Loại chứng từ", "Voucher type"),
                           number=("Số chứng từ", "Voucher number"),
                           date=("Ngày chứng từ", "Voucher date"),
                           posted=("Ghi sổ", "Posted")),
            code_fields=("number",),
            references=(
                Reference("customer", "customers"),
                Reference("vendor", "vendors"),
                Reference("sales_order", "sales_orders"),
                Reference("lines[].debit", "accounts"),
                Reference("lines[].credit", "accounts"),
                Reference("lines[].item", "items"),
            ),
            date_field="date",
            series=VOUCHER_SERIES,
            postable=True,
        ),
    ]
)
