"""The collection schema registry: keys, references, date field and validation per collection.

A :class:`CollectionSchema` is declared once (see :mod:`protocol.accounting`) and used by the
node on every workstation write and by the hub on every push, so both sides agree on what a
valid record, its unique key and its references are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from protocol.errors import ErrorCode, ProtocolError

KEY_SEPARATOR = "/"


@dataclass(frozen=True)
class Reference:
    """A field holding another record's id. ``path`` is ``"customer"`` or ``"lines[].debit"``."""

    path: str
    target: str

    @property
    def parts(self) -> tuple[str, str | None]:
        if "[]." in self.path:
            outer, inner = self.path.split("[].", 1)
            return outer, inner
        return self.path, None

    def values(self, data: dict[str, Any]) -> Iterator[str]:
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


@dataclass(frozen=True)
class Series:
    """A number series: ``prefix`` + ``digits`` digits, chosen by the value of ``by_field``."""

    by_field: str
    prefixes: dict[str, str]
    number_field: str
    digits: int = 6

    def name_for(self, data: dict[str, Any]) -> str | None:
        value = data.get(self.by_field)
        return self.prefixes.get(value) if isinstance(value, str) else None

    def format(self, prefix: str, n: int) -> str:
        return f"{prefix}{n:0{self.digits}d}"


@dataclass(frozen=True)
class CollectionSchema:
    name: str
    model: type[BaseModel]
    key_fields: tuple[str, ...]
    label_vi: str
    label_en: str
    references: tuple[Reference, ...] = ()
    date_field: str | None = None
    series: Series | None = None
    postable: bool = False
    targets: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", frozenset(r.target for r in self.references))

    def label(self, lang: str) -> str:
        return self.label_vi if lang == "vi" else self.label_en

    def validate(self, data: Any) -> dict[str, Any]:
        """Validate and normalise ``data``; raise ``VALIDATION_FAILED`` with field errors."""
        if not isinstance(data, dict):
            raise ProtocolError(
                ErrorCode.VALIDATION_FAILED,
                {"reason": "data must be an object"},
                {"collection": self.name},
            )
        try:
            model = self.model.model_validate(data)
        except ValidationError as err:
            errors = [
                {"field": ".".join(str(p) for p in e["loc"]), "error": e["msg"]}
                for e in err.errors(include_url=False, include_input=False)
            ]
            reason = "; ".join(f"{e['field']}: {e['error']}" for e in errors[:5])
            raise ProtocolError(
                ErrorCode.VALIDATION_FAILED,
                {"reason": reason},
                {"collection": self.name, "errors": errors},
            ) from err
        return model.model_dump(mode="json", exclude_none=True)

    def key_of(self, data: dict[str, Any]) -> str:
        return KEY_SEPARATOR.join(str(data.get(f, "")) for f in self.key_fields)

    def key_data(self, key: str) -> dict[str, str]:
        parts = key.split(KEY_SEPARATOR, len(self.key_fields) - 1)
        return dict(zip(self.key_fields, parts, strict=False))

    def refs_of(self, data: dict[str, Any]) -> list[tuple[Reference, str]]:
        return [(ref, value) for ref in self.references for value in ref.values(data)]

    def date_of(self, data: dict[str, Any]) -> str | None:
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
        return list(self._schemas)

    def get(self, name: str) -> CollectionSchema:
        try:
            return self._schemas[name]
        except KeyError:
            raise ProtocolError(
                ErrorCode.NOT_FOUND,
                {"what": f"collection '{name}'"},
                {"collection": name},
            ) from None

    def rank(self, name: str) -> int:
        return self.order.index(name)
