"""The XML exchange format of a dataset (docs/xml.md): write, parse, import.

**Write.** :func:`export_chunks` streams the records of one dataset as ``<officesync>``
document bytes, page by page from a reader connection (never the whole dataset in memory):
``pending`` = every live record with a queued change, ``range`` = every live record whose
date lies in the range; then the records they refer to that are not in the file yet
(transitively), so the file stands on its own. A reference is written with the target's id
*and* its key, so a file taken to another dataset or office still resolves.

**Parse.** :func:`parse_chunks` feeds the bytes to defusedxml's expat parser (no DTD, no
entity, no external reference) through a SAX-like target: no tree is built, the byte count is
checked on every chunk, so a bomb or an oversized body is refused with bounded memory. A
structural problem of the whole file (not XML, wrong root, a DTD) refuses the file; a problem
inside one ``<record>`` fails that record only, with its reason.

**Import.** :func:`import_file` writes every record through the store's normal write path
(:meth:`DatasetStore.create` / ``post``: an op in the outbox, so it syncs), catalogs before
the vouchers that use them whatever the file's order, references resolved by id, else by the
target's key. The same record (same id) is never written twice: importing a file again skips
everything, and an import cut short by a crash completes when it is run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
import sqlite3
import weakref
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from xml.etree.ElementTree import ParseError
from xml.sax.saxutils import escape, quoteattr

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser
from pydantic import BaseModel, Field

from agent.store import DatasetStore, rows
from protocol.accounting import ACCOUNTING_PACK
from protocol.errors import ErrorCode, ProtocolError, messages
from protocol.i18n import Lang, Text
from protocol.models import UUID_PATTERN
from protocol.schema import CollectionSchema, SchemaRegistry
from protocol.wording import invalid

FORMAT_VERSION = "1"
ROOT = "officesync"
CONTENT_TYPE = "application/xml"
PAGE = 500  # records per reader call while exporting
IMPORT_BATCH = 64  # records written concurrently while importing
MIB = 1024 * 1024

Scope = Literal["pending", "range"]
Duplicates = Literal["skip", "renumber"]
Outcome = Literal["created", "duplicate_skipped", "renumbered", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("created", "duplicate_skipped", "renumbered", "failed")

_UUID = re.compile(UUID_PATTERN)


# --- writing ------------------------------------------------------------------------------


def _attrs(**values: str | None) -> str:
    return "".join(f" {k}={quoteattr(v)}" for k, v in values.items() if v is not None)


def _typed(value: Any) -> tuple[str | None, str]:
    """``(type attribute, text)`` of a data value (strings carry no type)."""
    if isinstance(value, bool):
        return "bool", "true" if value else "false"
    if isinstance(value, int):
        return "int", str(value)
    if isinstance(value, str):
        return None, value
    return "json", json.dumps(value, ensure_ascii=False, sort_keys=True)


def _ref_paths(schema: CollectionSchema) -> dict[str, str]:
    return {ref.path: ref.target for ref in schema.references}


def write_record(schema: CollectionSchema, record_id: str, key: str, data: dict[str, Any],
                 keys_of: dict[str, str], indent: str = "  ") -> str:
    """One ``<record>`` element (``keys_of``: the key of each referenced id known here)."""
    refs = _ref_paths(schema)
    out = [f"{indent}<record{_attrs(collection=schema.name, id=record_id, key=key)}>\n"]

    def fields(values: dict[str, Any], prefix: str, pad: str) -> None:
        for name, value in values.items():
            if value is None:
                continue
            path = f"{prefix}{name}"
            target = refs.get(path)
            if target is not None and isinstance(value, str):
                attrs = _attrs(name=name, collection=target, id=value, key=keys_of.get(value))
                out.append(f"{pad}<ref{attrs}/>\n")
            elif (not prefix and isinstance(value, list) and value
                  and all(isinstance(v, dict) for v in value)):
                out.append(f"{pad}<list{_attrs(name=name)}>\n")
                for item in value:
                    out.append(f"{pad}  <item>\n")
                    fields(item, f"{name}[].", pad + "    ")
                    out.append(f"{pad}  </item>\n")
                out.append(f"{pad}</list>\n")
            else:
                kind, text = _typed(value)
                out.append(f"{pad}<field{_attrs(name=name, type=kind)}>{escape(text)}</field>\n")

    fields(data, "", indent + "  ")
    out.append(f"{indent}</record>\n")
    return "".join(out)


def header(dataset: str, scope: str, node: str, date_from: str | None = None,
           date_to: str | None = None) -> str:
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    attrs = _attrs(version=FORMAT_VERSION, dataset=dataset, node=node, scope=scope,
                   date_from=date_from, date_to=date_to, exported_at=now)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{ROOT}{attrs}>\n'


def check_scope(scope: str | None, date_from: str | None,
                date_to: str | None) -> tuple[Scope, str | None, str | None]:
    """The export's scope and dates, checked; ``VALIDATION_FAILED`` in words otherwise."""
    scope = scope or "pending"
    if scope not in ("pending", "range"):
        raise invalid("scope", f"scope phải là pending hoặc range (nhận được {scope[:40]})",
                      f"scope must be pending or range (got {scope[:40]})", "scope")
    for name, value in (("date_from", date_from), ("date_to", date_to)):
        if value is None:
            if scope == "range":
                raise invalid(name, f"scope=range cần {name} (YYYY-MM-DD)",
                              f"scope=range needs {name} (YYYY-MM-DD)", "missing")
            continue
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise invalid(name, f"{name}: {value[:40]} không phải ngày dạng YYYY-MM-DD",
                          f"{name}: {value[:40]} is not a date YYYY-MM-DD", "date") from None
    if date_from and date_to and date_from > date_to:
        raise invalid("date_from", f"date_from {date_from} sau date_to {date_to}",
                      f"date_from {date_from} is after date_to {date_to}", "range")
    typed: Scope = "range" if scope == "range" else "pending"
    return typed, date_from, date_to


_PENDING_SQL = (f"SELECT rowid AS rid, {rows.RECORD_COLUMNS} FROM records WHERE rowid > ? "
                "AND deleted = 0 AND id IN (SELECT record_id FROM outbox) ORDER BY rowid LIMIT ?")
_RANGE_SQL = (f"SELECT rowid AS rid, {rows.RECORD_COLUMNS} FROM records WHERE rowid > ? "
              "AND deleted = 0 AND date >= ? AND date <= ? ORDER BY rowid LIMIT ?")


def _page(conn: sqlite3.Connection, registry: SchemaRegistry, rows_found: list[sqlite3.Row],
          written: set[str], wanted: set[str]) -> str:
    """The ``<record>`` elements of ``rows_found``; notes their ids in ``written`` and the ids
    they refer to in ``wanted``."""
    refs: set[str] = set()
    parsed: list[tuple[CollectionSchema, sqlite3.Row, dict[str, Any]]] = []
    for row in rows_found:
        if row["collection"] not in registry:
            continue
        schema = registry.get(row["collection"])
        data = rows.loads(row["data"]) or {}
        parsed.append((schema, row, data))
        refs.update(v for _, v in schema.refs_of(data))
    keys_of: dict[str, str] = {}
    if refs:
        ids = sorted(refs)
        keys_of = dict(conn.execute(
            f"SELECT id, key FROM records WHERE id IN ({','.join('?' * len(ids))})", ids))
    out = []
    for schema, row, data in parsed:
        written.add(row["id"])
        out.append(write_record(schema, row["id"], row["key"], data, keys_of))
    wanted.update(refs)
    return "".join(out)


async def export_chunks(store: DatasetStore, scope: Scope, date_from: str | None = None,
                        date_to: str | None = None, node: str = "") -> AsyncIterator[bytes]:
    """The export document of ``store``, in chunks of a page of records each."""
    registry = store.registry
    yield header(store.dataset_id, scope, node, date_from, date_to).encode()
    written: set[str] = set()
    wanted: set[str] = set()
    last = 0
    while True:
        def page(conn: sqlite3.Connection, after: int = last) -> tuple[str, int, int]:
            if scope == "pending":
                found = conn.execute(_PENDING_SQL, (after, PAGE)).fetchall()
            else:
                found = conn.execute(_RANGE_SQL, (after, date_from or "0000-01-01",
                                                  date_to or "9999-12-31", PAGE)).fetchall()
            text = _page(conn, registry, found, written, wanted)
            return text, (found[-1]["rid"] if found else after), len(found)

        text, last, n = await store.readers.run(page)
        if text:
            yield text.encode()
        if n < PAGE:
            break
    # The records referred to that are not in the file yet, until none is missing.
    while True:
        missing = sorted(wanted - written)[:PAGE]
        if not missing:
            break

        def referred(conn: sqlite3.Connection, ids: list[str] = missing) -> str:
            found = conn.execute(
                f"SELECT 0 AS rid, {rows.RECORD_COLUMNS} FROM records WHERE deleted = 0 AND "
                f"id IN ({','.join('?' * len(ids))})", ids).fetchall()
            written.update(ids)  # an id not found here is written with its key only
            return _page(conn, registry, found, written, wanted)

        text = await store.readers.run(referred)
        if text:
            yield text.encode()
    yield f"</{ROOT}>\n".encode()


# --- parsing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefValue:
    """A ``<ref>`` as read: the target collection, the id in the file, the target's key."""

    target: str
    id: str | None
    key: str | None


@dataclass(slots=True)
class ParsedRecord:
    """One ``<record>`` of a file: its data (references as :class:`RefValue`), or why not."""

    index: int  # 1-based place in the file
    collection: str
    id: str
    key: str
    data: dict[str, Any] = field(default_factory=dict)
    error: Text | None = None

    def fail(self, reason: Text) -> None:
        if self.error is None:
            self.error = reason


@dataclass
class ParsedFile:
    dataset: str | None
    records: list[ParsedRecord]


class _Builder:
    """The parser's target: builds :class:`ParsedRecord`s as elements close (no tree)."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry
        self.records: list[ParsedRecord] = []
        self.dataset: str | None = None
        self.stack: list[str] = []
        self.record: ParsedRecord | None = None
        self.schema: CollectionSchema | None = None
        self.list_name: str | None = None
        self.item: dict[str, Any] | None = None
        self.field: tuple[str, str | None] | None = None  # (name, type)
        self.text: list[str] = []
        self.text_size = 0

    # expat callbacks ---------------------------------------------------------------------

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        depth = len(self.stack)
        self.stack.append(tag)
        if depth == 0:
            if tag != ROOT:
                raise _file_error(Text(
                    f"phần tử gốc phải là <{ROOT}>, không phải <{tag[:40]}>",
                    f"the root element must be <{ROOT}>, not <{tag[:40]}>"))
            version = attrib.get("version")
            if version != FORMAT_VERSION:
                raise _file_error(Text(
                    f"phiên bản định dạng {version!s:.20} không được hỗ trợ (cần "
                    f'version="{FORMAT_VERSION}")',
                    f'format version {version!s:.20} is not supported (needs version="'
                    f'{FORMAT_VERSION}")'))
            self.dataset = attrib.get("dataset")
            return
        if depth == 1:
            self._start_record(tag, attrib)
            return
        record = self.record
        if record is None or record.error is not None:
            return  # inside a record already failed: skip its content
        parent = self.stack[-2]
        if tag == "field" and parent in ("record", "item"):
            name = attrib.get("name")
            if not name:
                record.fail(_no_attr("field", "name"))
                return
            kind = attrib.get("type")
            if kind not in (None, "int", "bool", "json"):
                record.fail(Text(f"<field name={name!r}>: type={kind!r} không hợp lệ (int, bool, "
                                 "json hoặc bỏ trống)",
                                 f"<field name={name!r}>: type={kind!r} is not valid (int, "
                                 "bool, json or none)"))
                return
            self.field = (name, kind)
            self.text, self.text_size = [], 0
        elif tag == "ref" and parent in ("record", "item"):
            self._ref(record, attrib)
        elif tag == "list" and parent == "record":
            name = attrib.get("name")
            if not name:
                record.fail(_no_attr("list", "name"))
                return
            self.list_name = name
            record.data[name] = []
        elif tag == "item" and parent == "list" and self.list_name is not None:
            self.item = {}
            record.data[self.list_name].append(self.item)
        else:
            record.fail(Text(f"phần tử <{tag[:40]}> không được đặt trong <{parent}>",
                             f"the element <{tag[:40]}> is not allowed inside <{parent}>"))

    def _start_record(self, tag: str, attrib: dict[str, str]) -> None:
        index = len(self.records) + 1
        record = ParsedRecord(index, attrib.get("collection", ""), attrib.get("id", ""),
                              attrib.get("key", ""))
        self.records.append(record)
        self.record, self.schema, self.list_name, self.item = record, None, None, None
        if tag != "record":
            record.fail(Text(f"phần tử <{tag[:40]}> không được đặt trong <{ROOT}> (cần "
                             "<record>)",
                             f"the element <{tag[:40]}> is not allowed inside <{ROOT}> "
                             "(expected <record>)"))
        elif not record.collection:
            record.fail(_no_attr("record", "collection"))
        elif record.collection not in self.registry:
            names = ", ".join(self.registry.names())
            record.fail(Text(f"loại bản ghi {record.collection[:40]} không có (có: {names})",
                             f"there is no collection {record.collection[:40]} (there are: "
                             f"{names})"))
        elif not _UUID.fullmatch(record.id):
            record.fail(Text(f"id {record.id[:80]!r} không phải một UUID viết thường",
                             f"id {record.id[:80]!r} is not a lower-case UUID"))
        else:
            self.schema = self.registry.get(record.collection)

    def _ref(self, record: ParsedRecord, attrib: dict[str, str]) -> None:
        assert self.schema is not None
        name = attrib.get("name")
        if not name:
            record.fail(_no_attr("ref", "name"))
            return
        path = f"{self.list_name}[].{name}" if self.item is not None else name
        target = _ref_paths(self.schema).get(path)
        if target is None:
            record.fail(Text(f"{path} không phải trường tham chiếu của {self.schema.name}",
                             f"{path} is not a reference field of {self.schema.name}"))
            return
        given = attrib.get("collection")
        if given is not None and given != target:
            record.fail(Text(f"{path} tham chiếu tới {target}, không phải {given[:40]}",
                             f"{path} refers to {target}, not {given[:40]}"))
            return
        ref_id, key = attrib.get("id") or None, attrib.get("key") or None
        if ref_id is None and key is None:
            record.fail(Text(f"<ref name={name!r}> cần id hoặc key",
                             f"<ref name={name!r}> needs an id or a key"))
            return
        (self.item if self.item is not None else record.data)[name] = RefValue(
            target, ref_id, key)

    def data(self, text: str) -> None:
        if self.field is not None:
            self.text.append(text)

    def end(self, tag: str) -> None:
        self.stack.pop()
        record = self.record
        if tag == "field" and self.field is not None and record is not None:
            name, kind = self.field
            self.field = None
            value = _value("".join(self.text), kind, name, record)
            self.text = []
            if record.error is None:
                (self.item if self.item is not None else record.data)[name] = value
        elif tag == "item":
            self.item = None
        elif tag == "list":
            self.list_name = None
        elif len(self.stack) == 1:
            self.record = None

    def close(self) -> ParsedFile:
        return ParsedFile(self.dataset, self.records)


def _value(text: str, kind: str | None, name: str, record: ParsedRecord) -> Any:
    try:
        if kind == "int":
            return int(text.strip())
        if kind == "bool":
            if text.strip() not in ("true", "false"):
                raise ValueError(text)
            return text.strip() == "true"
        if kind == "json":
            return json.loads(text)
    except ValueError:
        label = {"int": Text("số nguyên", "an integer"), "bool": Text("true/false", "true/false"),
                 "json": Text("JSON", "JSON")}[kind or "json"]
        shown = text.strip()[:40]
        record.fail(Text(f"trường {name}: {shown!r} không phải {label.vi}",
                         f"field {name}: {shown!r} is not {label.en}"))
        return None
    return text


def _no_attr(tag: str, attr: str) -> Text:
    return Text(f"<{tag}> thiếu thuộc tính {attr}", f"<{tag}> lacks the attribute {attr}")


class XmlFileError(ProtocolError):
    """The file as a whole cannot be imported (``VALIDATION_FAILED``, ``details.reason``)."""

    def __init__(self, reason: Text, **details: Any) -> None:
        self.reason = reason
        super().__init__(ErrorCode.VALIDATION_FAILED,
                         {"reason": Text("tệp XML: ", "XML file: ") + reason},
                         {"reason": "xml", **details})


def _file_error(reason: Text, **details: Any) -> XmlFileError:
    return XmlFileError(reason, **details)


def too_large(limit_bytes: int) -> ProtocolError:
    shown = f"{limit_bytes / MIB:g} MiB"
    return ProtocolError(ErrorCode.PAYLOAD_TOO_LARGE, {"limit": shown},
                         {"limit_bytes": limit_bytes})


def parse_chunks(chunks: Iterable[bytes], registry: SchemaRegistry, max_bytes: int) -> ParsedFile:
    """Parse an export document fed in chunks; ``PAYLOAD_TOO_LARGE`` as soon as more than
    ``max_bytes`` arrived, an :class:`XmlFileError` for a file that is not one of ours."""
    builder = _Builder(registry)
    parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True,
                              forbid_external=True)
    size = 0
    try:
        for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise too_large(max_bytes)
            parser.feed(chunk)
        if size == 0:
            raise _file_error(Text("tệp trống", "the file is empty"))
        parser.close()  # the target's close() result: the builder holds it
        parsed = builder.close()
    except DefusedXmlException:
        raise _file_error(Text("có khai báo DTD hoặc thực thể (entity): không được phép (phòng "
                               "tấn công 'XML bomb')",
                               "it declares a DTD or entities, which are not allowed (XML bomb "
                               "defence)"), kind="dtd") from None
    except ParseError as err:
        line, column = getattr(err, "position", (0, 0))
        raise _file_error(Text(f"không đúng cú pháp XML ở dòng {line}, cột {column}",
                               f"not well-formed XML at line {line}, column {column}"),
                          line=line, column=column) from None
    return parsed


def read_file_chunks(path: Path, chunk: int = 256 * 1024) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while block := f.read(chunk):
            yield block


def parse_path(path: Path, registry: SchemaRegistry, max_bytes: int) -> ParsedFile:
    """Parse a file: its size is checked before a byte is read (and again while reading)."""
    if path.stat().st_size > max_bytes:
        raise too_large(max_bytes)
    return parse_chunks(read_file_chunks(path), registry, max_bytes)


# --- importing ------------------------------------------------------------------------------


class ImportItem(BaseModel):
    """What became of one record of the file."""

    index: int = Field(description="1-based place of the record in the file")
    collection: str
    id: str = Field(description="the record's id in the file")
    key: str = Field(description="the record's key as the file gives it")
    outcome: Outcome
    record_id: str | None = Field(None, description="the dataset's record this one is now")
    old_number: str | None = None
    new_number: str | None = None
    code: str | None = Field(None, description="error code of a failed record")
    reason: dict[str, str] | None = Field(None, description="why, {vi, en}")


class ImportReport(BaseModel):
    """The answer of an import: one item per record, and the counts per outcome."""

    dataset: str
    duplicates: Duplicates
    counts: dict[str, int]
    items: list[ImportItem]


_LOCKS: weakref.WeakKeyDictionary[DatasetStore, asyncio.Lock] = weakref.WeakKeyDictionary()


def _lock(store: DatasetStore) -> asyncio.Lock:
    lock = _LOCKS.get(store)
    if lock is None:
        lock = _LOCKS[store] = asyncio.Lock()
    return lock


# The dataset's row with the record's id (if any), and its data with references resolved.
_Prepared = tuple[sqlite3.Row | None, dict[str, Any]]


class _Failed(Exception):
    def __init__(self, reason: Text, code: str | None = None) -> None:
        self.reason, self.code = reason, code


def _reason_of(err: ProtocolError) -> Text:
    m = messages(err.code, err.params)
    return Text(m["vi"], m["en"])


def _refs(data: dict[str, Any]) -> Iterator[RefValue]:
    for value in data.values():
        if isinstance(value, RefValue):
            yield value
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    yield from (v for v in item.values() if isinstance(v, RefValue))


def _order(registry: SchemaRegistry, records: list[ParsedRecord]) -> list[ParsedRecord]:
    """Referenced before referencing: by collection rank, then (for a collection referring to
    itself, accounts.parent) parents before children; a cycle keeps the file's order."""
    in_file = {r.id: r for r in records}
    placed: set[str] = set()
    out: list[ParsedRecord] = []
    todo = sorted(records, key=lambda r: (registry.rank(r.collection)
                                          if r.collection in registry else -1, r.index))
    while todo:
        later = []
        for record in todo:
            waits = [ref.id for ref in _refs(record.data)
                     if ref.id in in_file and ref.id != record.id and ref.id not in placed]
            if waits:
                later.append(record)
            else:
                placed.add(record.id)
                out.append(record)
        if len(later) == len(todo):  # a cycle: as they are
            out.extend(later)
            break
        todo = later
    return out


class _Importer:
    def __init__(self, store: DatasetStore, duplicates: Duplicates) -> None:
        self.store = store
        self.duplicates = duplicates
        self.mapped: dict[str, str] = {}    # file id -> the dataset's id
        self.failed: set[str] = set()

    def _resolve(self, conn: sqlite3.Connection, ref: RefValue) -> str:
        if ref.id is not None and ref.id in self.mapped:
            return self.mapped[ref.id]
        if ref.id is not None:
            row = rows.fetch(conn, ref.id)
            if row is not None and row["collection"] == ref.target and not row["deleted"]:
                return ref.id
        target = self.store.registry.get(ref.target)
        if ref.key is not None:
            row = rows.find_by_key(conn, ref.target, target.normalise_key(ref.key))
            if row is not None:
                found: str = row["id"]
                return found
        what = target.label
        shown = ref.key or ref.id or "?"
        why = (Text(" (bản ghi đó bị lỗi trong tệp này)", " (that record failed in this file)")
               if ref.id in self.failed else Text("", ""))
        raise _Failed(Text(f"không tìm thấy {what.vi.lower()} {shown} trong dữ liệu này lẫn "
                           f"trong tệp{why.vi}",
                           f"the {what.en.lower()} {shown} is neither in this dataset nor in "
                           f"the file{why.en}"), ErrorCode.MISSING_REFERENCE.value)

    def _prepare(self, conn: sqlite3.Connection, record: ParsedRecord) -> _Prepared:
        """The dataset's row with this id (if any) and the data with references resolved."""
        existing = rows.fetch(conn, record.id)

        def resolved(value: Any) -> Any:
            if isinstance(value, RefValue):
                return self._resolve(conn, value)
            if isinstance(value, list):
                return [{k: resolved(v) for k, v in item.items()} if isinstance(item, dict)
                        else item for item in value]
            return value

        data = {} if existing is not None else {k: resolved(v) for k, v in record.data.items()}
        return existing, data

    async def batch(self, records: list[ParsedRecord]) -> list[ImportItem]:
        """Import ``records`` (none refers to another of them): their lookups in one read,
        then their writes concurrently, submitted in order (the writer groups them)."""
        def prepare(conn: sqlite3.Connection) -> list[_Prepared | _Failed]:
            found: list[_Prepared | _Failed] = []
            for record in records:
                try:
                    if record.error is not None:
                        raise _Failed(record.error, ErrorCode.VALIDATION_FAILED.value)
                    found.append(self._prepare(conn, record))
                except _Failed as failed:
                    found.append(failed)
            return found

        prepared = await self.store.readers.run(prepare)
        return list(await asyncio.gather(*(self.one(r, p) for r, p in zip(records, prepared,
                                                                           strict=True))))

    async def one(self, record: ParsedRecord, prepared: _Prepared | _Failed) -> ImportItem:
        item = ImportItem(index=record.index, collection=record.collection, id=record.id,
                          key=record.key, outcome="failed")
        try:
            if isinstance(prepared, _Failed):
                raise prepared
            await self._write(record, prepared, item)
        except _Failed as failed:
            self.failed.add(record.id)
            item.outcome, item.code, item.reason = "failed", failed.code, failed.reason.as_dict()
        return item

    async def _write(self, record: ParsedRecord, prepared: _Prepared, item: ImportItem) -> None:
        store = self.store
        schema = store.registry.get(record.collection)
        existing, data = prepared
        if existing is not None:
            await self._same_id(record, existing, item)
            return
        try:
            clean = schema.validate(data)
        except ProtocolError as err:
            raise _Failed(_reason_of(err), err.code.value) from None
        item.key = schema.key_of(clean)
        posted = bool(clean.pop("posted", False)) if schema.postable else False
        if schema.postable:
            clean["posted"] = False
        try:
            created = await store.create(record.collection, dict(clean), id=record.id)
        except ProtocolError as err:
            if err.code is not ErrorCode.DUPLICATE_KEY:
                raise _Failed(_reason_of(err), err.code.value) from None
            existing_id = str(err.details.get("existing", {}).get("id", ""))
            series = schema.series
            if series is None or self.duplicates == "skip" or not clean.get(series.number_field):
                self.mapped[record.id] = existing_id
                item.outcome, item.record_id = "duplicate_skipped", existing_id
                item.reason = Text(
                    f"{schema.label.vi} {item.key} đã có trong dữ liệu này (id {existing_id}): "
                    "không nhập lại; tham chiếu tới nó trỏ vào bản ghi đã có",
                    f"{schema.label.en} {item.key} is already in this dataset (id "
                    f"{existing_id}): not imported again; references to it point at that one",
                ).as_dict()
                return
            old = str(clean.pop(series.number_field))
            try:
                created = await store.create(record.collection, dict(clean), id=record.id)
            except ProtocolError as again:
                raise _Failed(_reason_of(again), again.code.value) from None
            new = str(created.data.get(series.number_field))
            item.outcome, item.old_number, item.new_number = "renumbered", old, new
            item.reason = Text(f"số {old} đã được dùng trong dữ liệu này: đánh số mới {new}",
                               f"the number {old} is taken in this dataset: renumbered "
                               f"{new}").as_dict()
        else:
            item.outcome = "created"
        item.record_id, item.key = created.id, created.key
        self.mapped[record.id] = created.id
        if posted:
            try:
                await store.post(record.collection, created.id, if_match=created.local_rev)
            except ProtocolError as err:
                item.reason = (Text("đã tạo nhưng chưa ghi sổ: ", "created but not posted: ")
                               + _reason_of(err)).as_dict()

    async def _same_id(self, record: ParsedRecord, existing: sqlite3.Row,
                       item: ImportItem) -> None:
        if existing["collection"] != record.collection:
            raise _Failed(Text(f"id {record.id} đã là của một bản ghi {existing['collection']}",
                               f"the id {record.id} already belongs to a "
                               f"{existing['collection']} record"),
                          ErrorCode.VALIDATION_FAILED.value)
        self.mapped[record.id] = record.id
        item.outcome, item.record_id, item.key = "duplicate_skipped", record.id, existing["key"]
        item.reason = Text("bản ghi này (cùng id) đã có trong dữ liệu: không nhập lại",
                           "this record (same id) is already in the dataset: not imported "
                           "again").as_dict()
        schema = self.store.registry.get(record.collection)
        current = rows.loads(existing["data"]) or {}
        # An import cut short between the create and the post: finish the post.
        if (schema.postable and record.data.get("posted") is True and not existing["deleted"]
                and not current.get("posted") and existing["local_rev"] == 1):
            with contextlib.suppress(ProtocolError):
                await self.store.post(record.collection, record.id, if_match=1)


async def import_file(store: DatasetStore, parsed: ParsedFile,
                      duplicates: Duplicates = "skip") -> ImportReport:
    """Import every record of ``parsed`` into ``store`` (one import per dataset at a time)."""
    async with _lock(store):
        importer = _Importer(store, duplicates)
        items: list[ImportItem] = []
        batch: list[ParsedRecord] = []
        in_batch: set[str] = set()
        for record in _order(store.registry, parsed.records):
            # Records of one batch are written concurrently (the store's writer commits them
            # in one group, one fsync); a record that refers to one of the batch, or repeats
            # its id, waits for the next.
            if batch and (len(batch) >= IMPORT_BATCH or record.id in in_batch
                          or any(ref.id in in_batch for ref in _refs(record.data))):
                items += await importer.batch(batch)
                batch, in_batch = [], set()
            batch.append(record)
            in_batch.add(record.id)
        if batch:
            items += await importer.batch(batch)
    items.sort(key=lambda i: i.index)
    counts = dict.fromkeys(OUTCOMES, 0)
    for item in items:
        counts[item.outcome] += 1
    return ImportReport(dataset=store.dataset_id, duplicates=duplicates, counts=counts,
                        items=items)


def check_duplicates(value: str | None) -> Duplicates:
    if value in (None, "", "skip"):
        return "skip"
    if value == "renumber":
        return "renumber"
    raise invalid("duplicates", f"duplicates phải là skip hoặc renumber (nhận được "
                  f"{value[:40]})", f"duplicates must be skip or renumber (got {value[:40]})",
                  "duplicates")


_OUTCOME_TEXT: dict[str, Text] = {
    "created": Text("đã tạo", "created"),
    "duplicate_skipped": Text("trùng, bỏ qua", "duplicate, skipped"),
    "renumbered": Text("đánh số mới", "renumbered"),
    "failed": Text("lỗi", "failed"),
}


def report_text(report: ImportReport, lang: Lang, title: str = "",
                registry: SchemaRegistry = ACCOUNTING_PACK) -> str:
    """The report as lines a person reads (the inbox's ``.report.txt``, the CLI)."""
    def t(vi: str, en: str) -> str:
        return Text(vi, en).get(lang)

    counts = ", ".join(f"{_OUTCOME_TEXT[o].get(lang)}: {report.counts.get(o, 0)}"
                       for o in OUTCOMES)
    lines = [title] if title else []
    choice = (Text("bỏ qua", "skip") if report.duplicates == "skip"
              else Text("đánh số mới", "renumber")).get(lang)
    lines.append(t(f"Dữ liệu {report.dataset} — số chứng từ trùng: {choice}",
                   f"Dataset {report.dataset} — duplicate numbers: {choice}"))
    lines.append(counts)
    for item in report.items:
        what = (registry.get(item.collection).label.get(lang) if item.collection in registry
                else item.collection)
        line = f"{item.index}. {what} {item.key or item.id}: " \
               f"{_OUTCOME_TEXT[item.outcome].get(lang)}"
        if item.outcome == "renumbered":
            line += f" ({item.old_number} → {item.new_number})"
        if item.reason:
            line += f" — {item.reason.get(lang, '')}"
        lines.append(line)
    return "\n".join(lines) + "\n"
