"""The default accounting pack, field by field as docs/protocol.md lists it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
)

from protocol.i18n import Text as Label
from protocol.models import Uuid
from protocol.schema import REF_CODES, CollectionSchema, Reference, SchemaRegistry, Series
from protocol.text import (
    MAX_NUMBER,
    amount_value,
    code_value,
    date_value,
    line_value,
    quantity_value,
    text_value,
)

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


MAX_CODE = 50


def _ref_value(value: object, handler: ValidatorFunctionWrapHandler,
               info: ValidationInfo) -> str:
    """A reference: the target's id; on a node (validation context ``REF_CODES``) also its
    code, e.g. ``"KH001"`` for a customer, which the node resolves to the id when it writes
    (agent/store/writes.py). The hub takes ids only."""
    try:
        result: str = handler(value)
        return result
    except ValidationError:
        if not (isinstance(info.context, dict) and info.context.get(REF_CODES)):
            raise
        if not isinstance(value, str):
            raise
        code = code_value(value)
        if not isinstance(code, str) or not 0 < len(code) <= MAX_CODE:
            raise
        return code


# A reference field: an id (a UUID) or, written through a node, the target's code.
Ref = Annotated[Uuid, WrapValidator(_ref_value), WithJsonSchema({
    "type": "string", "minLength": 1, "maxLength": MAX_CODE,
    "description": "the referenced record's id (a UUID); a node also takes the record's code "
                   "(e.g. KH001) and stores its id; the hub takes ids only"})]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Account(_Strict):
    """An account of the chart of accounts (``accounts``); ``parent`` is the account above it."""

    number: Code
    name: Name
    parent: Ref | None = None


class Party(_Strict):
    """A customer or vendor (``parties``), keyed by its code."""

    code: Code
    name: Name
    tax_code: ShortText20 | None = None
    address: Text | None = None
    phone: ShortText50 | None = None


class Item(_Strict):
    """A stock item or service (``items``), keyed by its code."""

    code: Code
    name: Name
    unit: ShortText50 | None = None
    price: Quantity | None = None


class OrderLine(_Strict):
    """One line of a sales order: an item, its quantity and unit price."""

    item: Ref
    quantity: Quantity
    price: Quantity


class SalesOrder(_Strict):
    """A sales order (``sales_orders``): number, date, customer and lines."""

    number: Code
    date: IsoDate
    customer: Ref
    lines: list[OrderLine] = Field(default_factory=list, max_length=1000)


class VoucherType(StrEnum):
    """The kinds of accounting voucher; each has its own number series."""

    RECEIPT = "receipt"
    PAYMENT = "payment"
    SALES_INVOICE = "sales_invoice"
    PURCHASE_INVOICE = "purchase_invoice"
    JOURNAL = "journal"


class VoucherLine(_Strict):
    """One debit/credit posting of a voucher, optionally for an item and quantity."""

    debit: Ref
    credit: Ref
    amount: Amount
    item: Ref | None = None
    quantity: Quantity | None = None


class Voucher(_Strict):
    """An accounting voucher (``vouchers``): at least one line; ``posted`` once booked."""

    type: VoucherType
    number: Code | None = None
    date: IsoDate
    posted: StrictBool = False
    customer: Ref | None = None
    vendor: Ref | None = None
    sales_order: Ref | None = None
    description: Text | None = None
    lines: list[VoucherLine] = Field(min_length=1, max_length=1000)


# Field labels shared by the collections; each collection overrides a few below.
_COMMON: dict[str, Label] = {
    "name": Label("Tên", "Name"),
    "tax_code": Label("Mã số thuế", "Tax code"),
    "address": Label("Địa chỉ", "Address"),
    "phone": Label("Điện thoại", "Phone"),
    "unit": Label("Đơn vị tính", "Unit"),
    "price": Label("Đơn giá", "Unit price"),
    "customer": Label("Khách hàng", "Customer"),
    "vendor": Label("Nhà cung cấp", "Vendor"),
    "sales_order": Label("Đơn đặt hàng", "Sales order"),
    "description": Label("Diễn giải", "Description"),
    "lines": Label("Chi tiết", "Lines"),
    "lines[].item": Label("Vật tư hàng hóa", "Item"),
    "lines[].quantity": Label("Số lượng", "Quantity"),
    "lines[].price": Label("Đơn giá", "Unit price"),
    "lines[].debit": Label("Tài khoản nợ", "Debit account"),
    "lines[].credit": Label("Tài khoản có", "Credit account"),
    "lines[].amount": Label("Số tiền", "Amount"),
}


def _labels(**own: Label) -> dict[str, Label]:
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
            "accounts", Account, ("number",), Label("Tài khoản", "Account"),
            references=(Reference("parent", "accounts"),),
            fields=_labels(number=Label("Số tài khoản", "Account number"),
                           name=Label("Tên tài khoản", "Account name"),
                           parent=Label("Tài khoản cha", "Parent account")),
        ),
        CollectionSchema("customers", Party, ("code",), Label("Khách hàng", "Customer"),
                         fields=_labels(code=Label("Mã khách hàng", "Customer code"),
                                        name=Label("Tên khách hàng", "Customer name"))),
        CollectionSchema("vendors", Party, ("code",), Label("Nhà cung cấp", "Vendor"),
                         fields=_labels(code=Label("Mã nhà cung cấp", "Vendor code"),
                                        name=Label("Tên nhà cung cấp", "Vendor name"))),
        CollectionSchema("items", Item, ("code",), Label("Vật tư hàng hóa", "Item"),
                         fields=_labels(code=Label("Mã vật tư hàng hóa", "Item code"),
                                        name=Label("Tên vật tư hàng hóa", "Item name"))),
        CollectionSchema(
            "sales_orders", SalesOrder, ("number",), Label("Đơn đặt hàng", "Sales order"),
            fields=_labels(number=Label("Số đơn hàng", "Order number"),
                           date=Label("Ngày đơn hàng", "Order date")),
            references=(
                Reference("customer", "customers"),
                Reference("lines[].item", "items"),
            ),
            date_field="date",
        ),
        CollectionSchema(
            "vouchers", Voucher, ("type", "number"), Label("Chứng từ", "Voucher"),
            fields=_labels(type=Label("Loại chứng từ", "Voucher type"),
                           number=Label("Số chứng từ", "Voucher number"),
                           date=Label("Ngày chứng từ", "Voucher date"),
                           posted=Label("Ghi sổ", "Posted")),
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
            kind_labels={
                "receipt": Label("Phiếu thu", "Receipt"),
                "payment": Label("Phiếu chi", "Payment"),
                "sales_invoice": Label("Hóa đơn bán hàng", "Sales invoice"),
                "purchase_invoice": Label("Hóa đơn mua hàng", "Purchase invoice"),
                "journal": Label("Chứng từ nghiệp vụ khác", "Journal voucher"),
            },
        ),
    ]
)
