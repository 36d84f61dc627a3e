"""The collection schema registry: keys, references, date field and validation per collection.

A :class:`CollectionSchema` is declared once (see :mod:`protocol.accounting`) and used by the
node on every workstation write and by the hub on every push, so both sides agree on what a
valid record, its unique key and its references are.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from protocol.errors import ErrorCode, ProtocolError
from protocol.i18n import Text
from protocol.text import fold_code
from protocol.wording import FieldErrors, Loc, Problem, problems_of, wire_labeller

KEY_SEPARATOR = "/"
# Validation context flag: a reference field may hold a code (see protocol.accounting.Ref).
REF_CODES = "ref_codes"


@dataclass(frozen=True)
class Reference:
    """A field holding another record's id. ``path`` is ``"customer"`` or ``"lines[].debit"``."""

    path: str
    target: str

    @property
    def parts(self) -> tuple[str, str | None]:
        """The path split at ``[].``: (field, field inside each list item or None)."""
        if "[]." in self.path:
            outer, inner = self.path.split("[].", 1)
            return outer, inner
        return self.path, None

    def values(self, data: dict[str, Any]) -> Iterator[str]:
        """Every id the reference holds in ``data`` (none when absent or not a string)."""
        outer, inner = self.parts
        value = data.get(outer)
        if inner is None:
            if isinstance(value, str):
                yield value
            return
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    ref = item.get(inner)
                    if isinstance(ref, str):
                        yield ref


    def map(self, data: dict[str, Any], fn: Callable[[str], str]) -> bool:
        """Replace each id the reference holds in ``data`` by ``fn(id)``, in place; whether
        anything changed (a code resolved to its id, an id repointed to another record)."""
        outer, inner = self.parts
        value = data.get(outer)
        changed = False
        if inner is None:
            if isinstance(value, str):
                new = fn(value)  # once: fn may look the code up
                if new != value:
                    data[outer] = new
                    changed = True
            return changed
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and isinstance(item.get(inner), str):
                    new = fn(item[inner])
                    if new != item[inner]:
                        item[inner] = new
                        changed = True
        return changed


@dataclass(frozen=True)
class Series:
    """A number series: ``prefix`` + ``digits`` digits, chosen by the value of ``by_field``."""

    by_field: str
    prefixes: dict[str, str]
    number_field: str
    digits: int = 6

    def name_for(self, data: dict[str, Any]) -> str | None:
        """The series prefix for ``data`` (None when its ``by_field`` value has none)."""
        value = data.get(self.by_field)
        return self.prefixes.get(value) if isinstance(value, str) else None

    def format(self, prefix: str, n: int) -> str:
        """Number ``n`` of the series as stored, e.g. ``PT000042``."""
        return f"{prefix}{n:0{self.digits}d}"


@dataclass(frozen=True)
class CollectionSchema:
    """One collection of a pack: its model, key, references, date field, series and labels."""

    name: str
    model: type[BaseModel]
    key_fields: tuple[str, ...]
    label: Text  # the collection's name for people; ``schema.label(lang)`` picks a language
    references: tuple[Reference, ...] = ()
    date_field: str | None = None
    series: Series | None = None
    postable: bool = False
    # Field labels by path: "code", "lines[].amount".
    fields: Mapping[str, Text] = field(default_factory=dict, hash=False, compare=False)
    # Key fields holding codes, compared case-insensitively (default: every key field).
    code_fields: tuple[str, ...] | None = None
    # A record's name by the value of the series field (vouchers: "Phiếu thu" for a receipt).
    kind_labels: Mapping[str, Text] = field(default_factory=dict, hash=False, compare=False)
    targets: frozenset[str] = field(init=False)
    target_labels: dict[str, Text] = field(
        init=False, default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", frozenset(r.target for r in self.references))
        if self.code_fields is None:
            object.__setattr__(self, "code_fields", self.key_fields)

    def field_label(self, loc: Loc) -> Text:
        """The label of the field at ``loc`` (e.g. ``("lines", 0, "amount")`` → "Số tiền
        (dòng 1)" / "Amount (line 1)")."""
        path, pending_index = "", False
        for part in loc:
            if isinstance(part, int):
                pending_index = True
                continue
            path = f"{path}[].{part}" if pending_index else (f"{path}.{part}" if path else part)
            pending_index = False
        if path not in self.fields:
            return wire_labeller(loc)
        label = self.fields[path]
        for part in loc:
            if isinstance(part, int):
                label += Text(f" (dòng {part + 1})", f" (line {part + 1})")
        return label

    def reference_at(self, loc: Loc) -> tuple[str, Text] | None:
        """The collection (and its label) the id field at ``loc`` refers to."""
        names = [p for p in loc if isinstance(p, str)]
        path = "[].".join(names) if any(isinstance(p, int) for p in loc) else ".".join(names)
        for ref in self.references:
            if ref.path == path:
                return ref.target, self.target_labels.get(ref.target, Text.of(ref.target))
        return None

    def validate(self, data: Any, *, codes: bool = False) -> dict[str, Any]:
        """Validate and normalise ``data``; raise ``VALIDATION_FAILED`` (a
        :class:`~protocol.wording.FieldErrors`) worded per field. With ``codes`` a reference
        may hold the target's code instead of its id (a node resolves it when it writes;
        the hub takes ids only)."""
        if not isinstance(data, dict):
            raise FieldErrors(
                [Problem("data", "model_type", Text(
                    "Dữ liệu của {label} phải là một đối tượng JSON {{…}}",
                    "The data of a {label} must be a JSON object {{…}}",
                ).format(label=self.label.map(str.lower)))],
                {"collection": self.name},
            )
        try:
            model = self.model.model_validate(data, context={REF_CODES: True} if codes else None)
        except ValidationError as err:
            problems = problems_of(err, self.field_label, self.model, self.reference_at)
            raise FieldErrors(problems, {"collection": self.name}) from None
        return model.model_dump(mode="json", exclude_none=True)

    def key_of(self, data: dict[str, Any]) -> str:
        """The unique key of ``data``; code fields in their comparison form (NFKC, upper
        case, no invisible characters), so ``kh001`` and ``ＫＨ００１`` are ``KH001``."""
        codes = self.code_fields or ()
        return KEY_SEPARATOR.join(
            fold_code(str(data.get(f, ""))) if f in codes else str(data.get(f, ""))
            for f in self.key_fields
        )

    def normalise_key(self, key: str) -> str:
        """A key as a person typed it (a search, a stored key) in its comparison form."""
        return self.key_of(self.key_data(key))

    def code_key(self, typed: str) -> str | None:
        """The key a single code would have (None when the key has several fields)."""
        if len(self.key_fields) != 1:
            return None
        return self.key_of({self.key_fields[0]: typed})

    def key_data(self, key: str) -> dict[str, str]:
        """The key fields' values of ``key`` (the inverse of :meth:`key_of`)."""
        parts = key.split(KEY_SEPARATOR, len(self.key_fields) - 1)
        return dict(zip(self.key_fields, parts, strict=False))

    def naming(self, key: str) -> tuple[Text, str]:
        """How an accountant names the record of ``key``: its label and the code shown —
        ("Khách hàng", "KH100"); a voucher by its kind and number ("Phiếu thu", "PT000123")."""
        if self.series is not None:
            parts = self.key_data(key)
            kind = self.kind_labels.get(parts.get(self.series.by_field, ""))
            number = parts.get(self.series.number_field)
            if kind is not None and number:
                return kind, number
        return self.label, key

    def record_label(self, key: str) -> Text:
        """The record of ``key`` as an accountant names it: "Khách hàng KH100",
        "Phiếu thu PT000123"."""
        label, shown = self.naming(key)
        return label + Text(f" {shown}", f" {shown}")

    def refs_of(self, data: dict[str, Any]) -> list[tuple[Reference, str]]:
        """Each reference of ``data`` with the id it holds."""
        return [(ref, value) for ref in self.references for value in ref.values(data)]

    def date_of(self, data: dict[str, Any]) -> str | None:
        """The value of the date field in ``data`` (None without one)."""
        if self.date_field is None:
            return None
        value = data.get(self.date_field)
        return value if isinstance(value, str) else None


class SchemaRegistry:
    """The collections a dataset holds, in dependency order (referenced before referencing)."""

    def __init__(self, schemas: Iterable[CollectionSchema]) -> None:
        self._schemas: dict[str, CollectionSchema] = {}
        for schema in schemas:
            self._schemas[schema.name] = schema
        for schema in self._schemas.values():
            for ref in schema.references:
                if ref.target not in self._schemas:
                    raise ValueError(f"{schema.name}.{ref.path} → unknown {ref.target}")
                target = self._schemas[ref.target]
                schema.target_labels[ref.target] = target.label
        self.order: tuple[str, ...] = tuple(self._topological())

    def _topological(self) -> list[str]:
        done: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in done:
                return
            if name in visiting:  # a self-reference (accounts.parent) is fine
                return
            visiting.add(name)
            for target in sorted(self._schemas[name].targets):
                if target != name:
                    visit(target)
            visiting.discard(name)
            done.append(name)

        for name in self._schemas:
            visit(name)
        return done

    def __contains__(self, name: object) -> bool:
        return name in self._schemas

    def __iter__(self) -> Iterator[CollectionSchema]:
        return iter(self._schemas.values())

    def names(self) -> list[str]:
        """The collection names, in registration order."""
        return list(self._schemas)

    def get(self, name: str) -> CollectionSchema:
        """The collection named ``name``; ``NOT_FOUND`` (naming the others) if none."""
        try:
            return self._schemas[name]
        except KeyError:
            raise self.unknown(name) from None

    def unknown(self, name: str) -> ProtocolError:
        """``NOT_FOUND`` for a collection this pack has not, naming the ones it has."""
        names = ", ".join(self._schemas)
        close = difflib.get_close_matches(name, list(self._schemas), n=1)
        hint = Text(f". Các loại bản ghi có: {names}", f" The collections are: {names}.")
        if close:
            hint += Text(f". Có phải ý bạn là {close[0]}?", f" Did you mean {close[0]}?")
        return ProtocolError(
            ErrorCode.NOT_FOUND,
            {"what": Text(f"loại bản ghi '{name}'", f"Collection '{name}'"), "hint": hint},
            {"collection": name, "collections": list(self._schemas)},
        )

    def rank(self, name: str) -> int:
        """The collection's place in dependency order (referenced ones first)."""
        return self.order.index(name)
