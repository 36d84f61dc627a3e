"""Validation errors in words: every pydantic error a request can meet becomes a sentence in
Vietnamese and in English, naming the field by its label and saying what is expected.

No library text ever reaches a user: an error type without a template of its own gets a
generic sentence with the field's label. ``details.errors`` keeps the machine-readable part
(``field`` path and ``type``) for programs.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from protocol.errors import ErrorCode, ProtocolError
from protocol.i18n import Lang, Text

Loc = tuple[str | int, ...]
Labeller = Callable[[Loc], Text]
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ID_EXAMPLE = "3f2b8c1e-9a4d-4f6b-8e2a-1c5d7e9f0a3b"
DATE_EXAMPLE = "2026-12-01"
MAX_IN_MESSAGE = 5
MAX_IN_DETAILS = 50

# Labels of the fields of the wire models (request bodies other than record data).
WIRE_LABELS: dict[str, Text] = {
    "id": Text("Mã định danh (id)", "Id"),
    "data": Text("Dữ liệu (data)", "Data"),
    "action": Text("Cách xử lý (action)", "Resolution (action)"),
    "code": Text("Mã", "Code"),
    "name": Text("Tên", "Name"),
    "ops": Text("Danh sách thao tác (ops)", "Operations (ops)"),
    "op_id": Text("Mã thao tác (op_id)", "Operation id (op_id)"),
    "collection": Text("Loại bản ghi (collection)", "Collection"),
    "base_version": Text("Phiên bản gốc (base_version)", "Base version"),
    "node_name": Text("Tên máy chủ (node_name)", "Node name"),
    "count": Text("Số lượng (count)", "Count"),
    "date_from": Text("Từ ngày (date_from)", "From date (date_from)"),
    "date_to": Text("Đến ngày (date_to)", "To date (date_to)"),
    "online": Text("Trực tuyến (online)", "Online"),
    "limit": Text("Số bản ghi mỗi trang (limit)", "Page size (limit)"),
    "sync_state": Text("Trạng thái đồng bộ (sync_state)", "Sync state (sync_state)"),
    "after": Text("Con trỏ trang (after)", "Page cursor (after)"),
    "form": Text("Dạng trang (form)", "Page form (form)"),
    "key": Text("Mã (key)", "Key"),
}


@dataclass
class Problem:
    """One field's problem, worded in both languages."""

    field: str
    type: str
    message: Text
    target: str | None = None  # the referenced collection, for an id that is not an id
    input: str | None = None  # the value typed, for an id that is not an id

    @property
    def vi(self) -> str:
        """The message in Vietnamese."""
        return self.message.vi

    @property
    def en(self) -> str:
        """The message in English."""
        return self.message.en

    def text(self, lang: Lang) -> str:
        """The message in ``lang``."""
        return self.message.get(lang)

    def add(self, more: Text) -> None:
        """Append ``more`` to the message, after a colon (a hint found later)."""
        self.message = self.message + Text(": ", ": ") + more


def field_path(loc: Loc) -> str:
    return ".".join(str(p) for p in loc) or "(body)"


def lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def with_article(text: str) -> str:
    word = lower_first(text)
    return ("an " if word[:1] in "aeiou" else "a ") + word


def wire_labeller(loc: Loc) -> Text:
    """The label of the wire field at ``loc``: a known name's label (else the name), with
    the item numbers of its lists."""
    names = [p for p in loc if isinstance(p, str)]
    if not names:
        return Text("Nội dung gửi lên", "The request body")
    name = names[-1]
    label = WIRE_LABELS.get(name, Text(f"Trường '{name}'", f"Field '{name}'"))
    for part in loc:
        if isinstance(part, int):
            label += Text(f" (phần tử {part + 1})", f" (item {part + 1})")
    return label


# -- templates -------------------------------------------------------------------------------

_OBJECT = Text("{label} phải là một đối tượng JSON {{…}}", "{label} must be a JSON object {{…}}")
_ID = Text("{label} phải là mã định danh (id) dạng " + ID_EXAMPLE,
           "{label} must be an id such as " + ID_EXAMPLE)
_DATE = Text("{label} phải có dạng YYYY-MM-DD, ví dụ " + DATE_EXAMPLE,
             "{label} must be a date YYYY-MM-DD, e.g. " + DATE_EXAMPLE)
_INT = Text("{label} phải là số nguyên", "{label} must be a whole number")
_NUMBER = Text("{label} phải là số nguyên hoặc số thập phân viết trong chuỗi, ví dụ 1250 hoặc "
               "\"1250.50\" (chữ số 0-9, dấu chấm thập phân, tối đa {places} chữ số lẻ)",
               "{label} must be a whole number or a decimal in a string, e.g. 1250 or \"1250.50\" "
               "(digits 0-9, a decimal point, at most {places} decimals)")
_BOOL = Text("{label} phải là true hoặc false", "{label} must be true or false")
_TEXT = Text("{label} phải là văn bản (chuỗi ký tự)", "{label} must be text (a string)")
_LIST = Text("{label} phải là một danh sách (mảng JSON [...])",
             "{label} must be a list (a JSON array [...])")

TEMPLATES: dict[str, Text] = {
    "missing": Text("{label} là bắt buộc, chưa được nhập", "{label} is required"),
    "string_type": _TEXT,
    "string_unicode": _TEXT,
    "string_sub_type": _TEXT,
    "string_too_long": Text("{label} dài tối đa {max_length} ký tự",
                            "{label} must be at most {max_length} characters long"),
    "string_too_short": Text("{label} phải có ít nhất {min_length} ký tự",
                             "{label} must be at least {min_length} characters long"),
    "string_pattern_mismatch": Text("{label} có dạng không hợp lệ", "{label} has an invalid form"),
    "uuid_parsing": _ID, "uuid_type": _ID, "uuid_version": _ID,
    "int_type": _INT, "int_parsing": _INT, "int_from_float": _INT, "int_parsing_size": _INT,
    "float_type": Text("{label} phải là một số", "{label} must be a number"),
    "float_parsing": Text("{label} phải là một số", "{label} must be a number"),
    "finite_number": Text("{label} phải là một số hữu hạn", "{label} must be a finite number"),
    "decimal_type": _NUMBER, "decimal_parsing": _NUMBER,
    "bool_type": _BOOL, "bool_parsing": _BOOL,
    "date_type": _DATE, "date_parsing": _DATE, "date_from_datetime_parsing": _DATE,
    "date_from_datetime_inexact": _DATE, "datetime_type": _DATE, "datetime_parsing": _DATE,
    "datetime_from_date_parsing": _DATE,
    "greater_than": Text("{label} phải lớn hơn {gt}", "{label} must be greater than {gt}"),
    "greater_than_equal": Text("{label} phải lớn hơn hoặc bằng {ge}",
                               "{label} must be at least {ge}"),
    "less_than": Text("{label} phải nhỏ hơn {lt}", "{label} must be less than {lt}"),
    "less_than_equal": Text("{label} tối đa là {le}", "{label} must be at most {le}"),
    "too_short": Text("{label} phải có ít nhất {min_length} phần tử",
                      "{label} must have at least {min_length} item(s)"),
    "too_long": Text("{label} có tối đa {max_length} phần tử",
                     "{label} must have at most {max_length} items"),
    "list_type": _LIST, "tuple_type": _LIST, "set_type": _LIST,
    "dict_type": _OBJECT, "model_type": _OBJECT, "model_attributes_type": _OBJECT,
    "dataclass_type": _OBJECT,
    "json_invalid": Text("{label} không phải JSON hợp lệ", "{label} is not valid JSON"),
    "json_type": Text("{label} không phải JSON hợp lệ", "{label} is not valid JSON"),
    "none_required": Text("{label} phải để trống (null)", "{label} must be null"),
    # ours (protocol.text)
    "text_invisible": Text("{label} chứa ký tự vô hình hoặc ký tự điều khiển ({chars}); hãy gõ lại "
                           "giá trị", "{label} contains invisible or control characters ({chars}); "
                           "type the value again"),
    "number_format": _NUMBER,
    "number_decimals": Text("{label} có tối đa {places} chữ số lẻ",
                            "{label} may have at most {places} decimals"),
    "number_bool": Text("{label} phải là số, không phải true/false",
                        "{label} must be a number, not true/false"),
    "number_not_positive": Text("{label} phải lớn hơn 0", "{label} must be greater than 0"),
    "number_negative": Text("{label} không được là số âm", "{label} must not be negative"),
    "number_too_large": Text("{label} tối đa là {max}", "{label} must be at most {max}"),
    "date_format": _DATE,
    "date_invalid": Text("{label}: ngày {input} không có trong lịch",
                         "{label}: {input} is not a day of the calendar"),
}
GENERIC = Text("{label} có giá trị không hợp lệ", "{label} has a value that is not valid")


def _quoted(expected: str) -> list[str]:
    return re.findall(r"'([^']*)'", expected) or [expected]


def _resolve_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _resolve_model(arg)
        if found is not None:
            return found
    return None


def model_at(model: type[BaseModel] | None, loc: Loc) -> type[BaseModel] | None:
    """The model that holds the field at ``loc`` (through nested models and lists)."""
    current = model
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        info = current.model_fields.get(part)
        current = _resolve_model(info.annotation) if info is not None else None
    return current


def _one(
    e: Mapping[str, Any], label: Labeller, model: type[BaseModel] | None,
    id_target: Callable[[Loc], tuple[str, Text] | None],
) -> Problem:
    loc: Loc = tuple(e["loc"])
    kind: str = e["type"]
    ctx = dict(e.get("ctx") or {})
    named = label(loc)
    raw = e.get("input")
    if kind in ("too_long", "too_short") and isinstance(raw, str):
        kind = "string_" + kind  # a length constraint after a validator of ours
    if kind == "extra_forbidden":
        holder = model_at(model, loc[:-1])
        name = str(loc[-1]) if loc else "?"
        valid = ", ".join(holder.model_fields) if holder is not None else ""
        return Problem(field_path(loc), kind,
                       Text(f"Trường '{name}' không có ở đây; các trường hợp lệ: {valid}",
                            f"'{name}' is not a field here; valid fields: {valid}"))
    if kind in ("literal_error", "enum"):
        values = ", ".join(_quoted(str(ctx.get("expected", ""))))
        return Problem(field_path(loc), kind, named + Text(
            f" phải là một trong: {values}", f" must be one of: {values}"))
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return Problem(field_path(loc), kind,
                       named + Text(" không được để trống", " must not be empty"))
    is_id = kind.startswith("uuid") or (
        kind == "string_pattern_mismatch" and ctx.get("pattern") == UUID_PATTERN)
    target = id_target(loc) if is_id else None
    typed = raw if isinstance(raw, str) and len(raw) <= 80 else None
    if target is not None:
        name, what = target
        return Problem(field_path(loc), "id_expected", named + Text(
            f" phải là mã định danh (id) của một {lower_first(what.vi)}, dạng {ID_EXAMPLE}",
            f" must be the id of {with_article(what.en)}, such as {ID_EXAMPLE}"),
            target=name, input=typed)
    template = _ID if is_id else TEMPLATES.get(kind, GENERIC)
    params: dict[str, Any] = {**ctx, "label": named}
    if "chars" in ctx:
        params["chars"] = ", ".join(ctx["chars"])
    problem = Problem(field_path(loc), "id_expected" if is_id else kind,
                      template.format_map(params))
    if is_id:
        problem.input = typed
    return problem


def _no_target(loc: Loc) -> None:
    return None


def problems_of(
    err: ValidationError,
    label: Labeller = wire_labeller,
    model: type[BaseModel] | None = None,
    id_target: Callable[[Loc], tuple[str, Text] | None] = _no_target,
) -> list[Problem]:
    """One :class:`Problem` per pydantic error, in order (unions report once per field)."""
    found: list[Problem] = []
    seen: set[str] = set()
    for e in err.errors(include_url=False):
        problem = _one(e, label, model, id_target)
        if problem.field not in seen:
            seen.add(problem.field)
            found.append(problem)
    return found


class FieldErrors(ProtocolError):
    """``VALIDATION_FAILED`` with its problems, so a caller can add hints (e.g. the record a
    code typed where an id is expected belongs to) and raise it again."""

    def __init__(self, problems: Sequence[Problem], details: Mapping[str, Any] | None = None):
        self.problems = list(problems)
        self.base_details = dict(details or {})
        super().__init__(ErrorCode.VALIDATION_FAILED, {"reason": reason_of(self.problems)},
                         {**self.base_details, "errors": [
                             {"field": p.field, "type": p.type}
                             for p in self.problems[:MAX_IN_DETAILS]]})

    def again(self) -> FieldErrors:
        """A fresh copy to raise again, with the problems as they are now."""
        return FieldErrors(self.problems, self.base_details)


def reason_of(problems: Sequence[Problem]) -> Text:
    """The problems joined into one reason (the first few, then how many more)."""
    shown = problems[:MAX_IN_MESSAGE]
    reason = Text.join("; ", (p.message for p in shown))
    more = len(problems) - len(shown)
    if more > 0:
        reason += Text(f" (và {more} lỗi khác)", f" (and {more} more)")
    return reason


def invalid(field: str, vi: str, en: str, kind: str = "invalid",
            **details: Any) -> FieldErrors:
    """A hand-written ``VALIDATION_FAILED`` about one field."""
    return FieldErrors([Problem(field, kind, Text(vi, en))], details)


def model_error(err: ValidationError, model: type[BaseModel] | None = None,
                label: Labeller = wire_labeller) -> FieldErrors:
    """``VALIDATION_FAILED`` for a request body that does not fit its wire model."""
    return FieldErrors(problems_of(err, label, model))


def json_error(raw: bytes, err: orjson.JSONDecodeError) -> ProtocolError:
    """``INVALID_JSON`` saying in words where the body breaks (never the parser's text)."""
    if not raw.strip():
        reason = Text("nội dung trống", "the body is empty")
    else:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            reason = Text("nội dung không phải văn bản UTF-8", "the body is not UTF-8 text")
        else:
            line, col = getattr(err, "lineno", 0), getattr(err, "colno", 0)
            reason = Text(f"sai cú pháp hoặc bị cắt ngang ở dòng {line}, cột {col}",
                          f"a syntax error or a cut-off body at line {line}, column {col}")
    return ProtocolError(ErrorCode.INVALID_JSON, {"reason": reason},
                         {"line": getattr(err, "lineno", None),
                          "column": getattr(err, "colno", None)})


__all__ = [
    "FieldErrors",
    "Problem",
    "invalid",
    "json_error",
    "model_error",
    "problems_of",
    "reason_of",
    "wire_labeller",
]
