"""The default accounting pack, field by field as DESIGN §3."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from protocol.models import Uuid
from protocol.schema import CollectionSchema, Reference, SchemaRegistry, Series

Code = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^\S(.*\S)?$")]
Name = Annotated[str, Field(min_length=1, max_length=500)]
Text = Annotated[str, Field(max_length=2000)]


def _positive_amount(value: int | str) -> int | str:
    if isinstance(value, bool):
        raise ValueError("amount must be a number")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError("must be an integer or a decimal string") from None
    if not number.is_finite() or number <= 0:
        raise ValueError("must be greater than 0")
    return value


def _non_negative(value: int | str) -> int | str:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError("must be an integer or a decimal string") from None
    if not number.is_finite() or number < 0:
        raise ValueError("must not be negative")
    return value


Amount = Annotated[int | str, AfterValidator(_positive_amount)]
Quantity = Annotated[int | str, AfterValidator(_non_negative)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Account(_Strict):
    number: Code
    name: Name
    parent: Uuid | None = None


class Party(_Strict):
    code: Code
    name: Name
    tax_code: Annotated[str, Field(max_length=20)] | None = None
    address: Text | None = None
    phone: Annotated[str, Field(max_length=50)] | None = None


class Item(_Strict):
    code: Code
    name: Name
    unit: Annotated[str, Field(max_length=50)] | None = None
    price: Quantity | None = None


class OrderLine(_Strict):
    item: Uuid
    quantity: Quantity
    price: Quantity


class SalesOrder(_Strict):
    number: Code
    date: dt.date
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
    date: dt.date
    posted: bool = False
    customer: Uuid | None = None
    vendor: Uuid | None = None
    sales_order: Uuid | None = None
    description: Text | None = None
    lines: list[VoucherLine] = Field(min_length=1, max_length=1000)


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
        ),
        CollectionSchema("customers", Party, ("code",), "Khách hàng", "Customer"),
        CollectionSchema("vendors", Party, ("code",), "Nhà cung cấp", "Vendor"),
        CollectionSchema("items", Item, ("code",), "Vật tư hàng hóa", "Item"),
        CollectionSchema(
            "sales_orders", SalesOrder, ("number",), "Đơn đặt hàng", "Sales order",
            references=(
                Reference("customer", "customers"),
                Reference("lines[].item", "items"),
            ),
            date_field="date",
        ),
        CollectionSchema(
            "vouchers", Voucher, ("type", "number"), "Chứng từ", "Voucher",
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
