"""Push semantics as pure logic: given a batch of ops and the hub's current state of every
record the batch touches, decide each op's result and the rows to write.

The I/O shell (:mod:`hub.store`) loads that state in a few queries under the dataset's lock,
calls :func:`plan_push`, and writes the plan with one ``executemany`` per table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from protocol.accounting import ACCOUNTING_PACK
from protocol.errors import ErrorCode, ProtocolError, changed_words, render
from protocol.i18n import Lang
from protocol.models import Action, Op, OpStatus
from protocol.schema import CollectionSchema, SchemaRegistry
from protocol.wording import invalid


@dataclass(slots=True)
class Row:
    """The hub's state of one record."""

    id: str
    collection: str
    key: str
    date: str | None
    data_json: str
    deleted: bool
    version: int
    seq: int
    data_cache: dict[str, Any] | None = None

    @property
    def data(self) -> dict[str, Any]:
        if self.data_cache is None:
            self.data_cache = orjson.loads(self.data_json)
        return self.data_cache

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "collection": self.collection, "key": self.key, "data": self.data,
            "deleted": self.deleted, "version": self.version, "seq": self.seq,
        }


@dataclass(slots=True)
class Prepared:
    """One op after the checks that need no hub state."""

    op: Op
    schema: CollectionSchema | None = None
    data: dict[str, Any] | None = None
    key: str | None = None
    refs: tuple[tuple[str, str, str], ...] = ()  # (field, id, target)
    error: ProtocolError | None = None


@dataclass
class Batch:
    items: list[Prepared]
    ids: set[str]  # every record the batch names: its ops' and their references'
    keys: dict[str, set[str]]  # collection -> keys wanted
    op_ids: list[str]
    # The records an optimistic push still looks up: those of updates, deletes, posts and the
    # references. A create's own id is left to the primary key (see hub.records.push).
    checked_ids: set[str]


# One feed entry: (seq, collection, id, version, deleted, data JSON, op_id, node_id).
ChangeRow = tuple[int, str, str, int, bool, str, str, str]


@dataclass(frozen=True, slots=True)
class ResultError:
    """Why the hub refused an op (``OpError`` on the wire)."""

    code: ErrorCode
    message: str
    details: dict[str, Any]
    current: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class PushResult:
    """The hub's answer for one op (``OpResult`` on the wire). A dataclass, so ``orjson``
    writes it as the JSON object directly, fields in this order; stored as such in
    ``op_results`` and read back with :meth:`from_json` for a replay."""

    op_id: str
    status: OpStatus
    replayed: bool
    version: int | None
    seq: int | None
    error: ResultError | None

    @property
    def applied(self) -> bool:
        return self.status is OpStatus.APPLIED

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> PushResult:
        error = obj.get("error")
        return cls(
            obj["op_id"], OpStatus(obj["status"]), bool(obj.get("replayed", False)),
            obj.get("version"), obj.get("seq"),
            None if error is None else ResultError(
                ErrorCode(error["code"]), error["message"], error.get("details") or {},
                error.get("current")),
        )


@dataclass
class Plan:
    results: list[PushResult]
    rows: dict[str, Row]  # final state of every record the batch changed
    changes: list[ChangeRow]
    new_results: list[tuple[str, str]]  # op_results rows to insert: (op_id, result JSON)
    last_seq: int


# Enum members as module constants: ``Action.CREATE`` is a class attribute lookup through
# the enum machinery, and this module tests actions several times per op.
_CREATE, _UPDATE, _DELETE = Action.CREATE, Action.UPDATE, Action.DELETE
_POST, _UNPOST = Action.POST, Action.UNPOST
_APPLIED, _REJECTED = OpStatus.APPLIED, OpStatus.REJECTED


def _named(row: Row) -> dict[str, Any]:
    """The parameters naming ``row`` in a refusal: "Khách hàng KH100" (the node words its
    own message from the details; these are for the hub's)."""
    if row.collection not in ACCOUNTING_PACK:
        return {}
    schema = ACCOUNTING_PACK.get(row.collection)
    return {"record": schema.record_label(row.key).as_dict(),
            "changed": changed_words(schema.postable)}


def _series_error(schema: CollectionSchema, data: dict[str, Any]) -> ProtocolError | None:
    if schema.series is None or data.get(schema.series.number_field):
        return None
    number = schema.series.number_field
    label = schema.field_label((number,))
    return invalid(number, f"{label.vi} là bắt buộc khi gửi lên Cloud (máy chủ cấp số trước khi "
                   "gửi)", f"{label.en} is required when pushing to the hub (the node numbers it "
                   "first)",
                   "missing", collection=schema.name)


def _prepare_one(op: Op, registry: SchemaRegistry) -> Prepared:
    """Schema lookup and the action checks; ``data`` is validated per collection later."""
    item = Prepared(op)
    try:
        item.schema = registry.get(op.collection)
        if (op.action is _POST or op.action is _UNPOST) and not item.schema.postable:
            item.error = invalid(
                "action", f"{item.schema.label.vi} không có ghi sổ / bỏ ghi",
                f"{item.schema.label.en} records cannot be posted or unposted", "not_postable",
                collection=op.collection, action=op.action.value,
            )
    except ProtocolError as err:
        item.error = err
    return item


@cache
def _list_adapter(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    # a model chosen at run time: mypy cannot take a variable as a type argument
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def _validate_group(schema: CollectionSchema, items: list[Prepared]) -> None:
    """Validate the data of ``items`` (one collection) in one pydantic call; when any is
    invalid, each item on its own so every op gets its own errors (exactly as one by one)."""
    datas = [item.op.data for item in items]
    if all(isinstance(data, dict) for data in datas):
        adapter = _list_adapter(schema.model)
        try:
            valid = adapter.dump_python(
                adapter.validate_python(datas), mode="json", exclude_none=True)
        except ValidationError:
            pass
        else:
            for item, data in zip(items, valid, strict=True):
                _accept(item, schema, data)
            return
    for item in items:
        try:
            _accept(item, schema, schema.validate(item.op.data))
        except ProtocolError as err:
            item.error = err


def _accept(item: Prepared, schema: CollectionSchema, data: dict[str, Any]) -> None:
    item.data = data
    item.error = _series_error(schema, data)
    item.key = schema.key_of(data)
    if schema.references:
        item.refs = tuple((ref.path, value, ref.target) for ref, value in schema.refs_of(data))


def prepare_batch(ops: list[Op], registry: SchemaRegistry = ACCOUNTING_PACK) -> Batch:
    items = [_prepare_one(op, registry) for op in ops]
    groups: dict[str, list[Prepared]] = {}
    for item in items:
        action = item.op.action
        if item.error is None and (action is _CREATE or action is _UPDATE):
            groups.setdefault(item.op.collection, []).append(item)
    for collection, group in groups.items():
        _validate_group(registry.get(collection), group)
    ids: set[str] = set()
    checked: set[str] = set()
    keys: dict[str, set[str]] = {}
    for item in items:
        ids.add(item.op.id)
        if item.op.action is not _CREATE:
            checked.add(item.op.id)
        for _, ref_id, _ in item.refs:
            ids.add(ref_id)
            checked.add(ref_id)
        if item.key is not None:
            keys.setdefault(item.op.collection, set()).add(item.key)
    return Batch(items, ids, keys, [op.op_id for op in ops], checked)


class Planner:
    """Applies prepared ops in order to an in-memory overlay of the hub's state."""

    def __init__(
        self,
        node_id: str,
        rows: dict[str, Row],
        key_owners: dict[tuple[str, str], str],
        replays: dict[str, PushResult],
        last_seq: int,
        lang: Lang,
    ) -> None:
        self.node_id = node_id
        self.rows = rows
        self.key_owners = key_owners
        self.replays = replays
        self.seq = last_seq
        self.lang = lang
        self.changed: dict[str, Row] = {}
        self.changes: list[ChangeRow] = []
        self.new_results: list[tuple[str, str]] = []
        # Per record, the version a refused op of this batch would have made: a later op based
        # on it was based on that refused op.
        self.refused: dict[str, int] = {}

    def run(self, batch: Batch) -> Plan:
        results = [self._one(item) for item in batch.items]
        return Plan(results, self.changed, self.changes, self.new_results, self.seq)

    def _one(self, item: Prepared) -> PushResult:
        op_id = item.op.op_id
        if op_id in self.replays:
            result = replace(self.replays[op_id], replayed=True)
        else:
            try:
                self._after_refused(item.op)
                result = self._apply(item)
            except ProtocolError as err:
                result = self._rejected(item.op, err)
            self.replays[op_id] = result
            self.new_results.append((op_id, orjson.dumps(result).decode()))
        if result.status is _REJECTED:
            self.refused[item.op.id] = (
                1 if item.op.action is _CREATE else (item.op.base_version or 0) + 1)
        else:
            self.refused.pop(item.op.id, None)
        return result

    def _after_refused(self, op: Op) -> None:
        """An op based on the version an op refused earlier in this batch would have made (the
        node numbers a record's ops in a batch one after another) is refused too, even when
        that number happens to be the hub's version: applying it would write over another
        office's change without a conflict. An op on another base is judged on its own."""
        if op.action is _CREATE or self.refused.get(op.id) != op.base_version:
            return
        row = self.rows.get(op.id)
        details: dict[str, Any] = {"base_version": op.base_version, "after_refused": True}
        params: dict[str, Any] = {}
        if row is not None:
            details["current"] = row.as_json()
            params = _named(row)
        raise ProtocolError(ErrorCode.STALE_VERSION, params, details)

    def _rejected(self, op: Op, err: ProtocolError) -> PushResult:
        details = dict(err.details)
        current = details.pop("current", None)
        if err.code is ErrorCode.VALIDATION_FAILED:
            # The reason in vi and en, so that the node words the refusal in the language
            # of whoever reads it (the other codes' parameters are in the details).
            details["params"] = err.params
        error = ResultError(err.code, render(err.code, self.lang, err.params), details, current)
        return PushResult(op.op_id, _REJECTED, False, None, None, error)

    def _apply(self, item: Prepared) -> PushResult:
        if item.error is not None:
            raise item.error
        op, schema = item.op, item.schema
        assert schema is not None
        row = self.rows.get(op.id)
        if op.action is _CREATE:
            # A create based on a tombstone's version re-creates the deleted record (S9
            # "restore": the office saw the deletion and chose its own copy); any other create
            # of an existing id is refused with the hub's copy.
            if row is not None and not (row.deleted and op.base_version == row.version):
                code = ErrorCode.RECORD_DELETED if row.deleted else ErrorCode.STALE_VERSION
                raise ProtocolError(code, _named(row), {"current": row.as_json()})
        else:
            row = self._existing(op, row)
        if item.data is not None:
            assert item.key is not None
            self._check_key(schema, item.key, op.id)
            self._check_refs(item)
        return self._write(item, row)

    def _existing(self, op: Op, row: Row | None) -> Row:
        if row is None or row.collection != op.collection:
            raise ProtocolError(
                ErrorCode.NOT_FOUND, {"what": f"{op.collection}/{op.id}"},
                {"collection": op.collection, "id": op.id},
            )
        if row.deleted:
            raise ProtocolError(ErrorCode.RECORD_DELETED, _named(row),
                                {"current": row.as_json()})
        if op.base_version != row.version:
            raise ProtocolError(
                ErrorCode.STALE_VERSION, _named(row),
                {"base_version": op.base_version, "current": row.as_json()},
            )
        return row

    def _check_key(self, schema: CollectionSchema, key: str, own_id: str) -> None:
        owner = self.key_owners.get((schema.name, key))
        if owner is None or owner == own_id:
            return
        existing = self.rows[owner]
        raise ProtocolError(
            ErrorCode.DUPLICATE_KEY,
            {"label": schema.label, "key": key},
            {
                "collection": schema.name, "key": key,
                "existing": {"id": existing.id, "version": existing.version,
                             "data": existing.data},
            },
        )

    def _check_refs(self, item: Prepared) -> None:
        for path, ref_id, target in item.refs:
            found = self.rows.get(ref_id)
            if found is None or found.deleted or found.collection != target:
                schema = ACCOUNTING_PACK.get(target)
                label = schema.label
                raise ProtocolError(
                    ErrorCode.MISSING_REFERENCE,
                    {"label": label, "field": path, "ref": ref_id},
                    {
                        "collection": item.op.collection, "field": path, "ref": ref_id,
                        "target": target, "deleted": bool(found and found.deleted),
                    },
                )

    def _write(self, item: Prepared, row: Row | None) -> PushResult:
        op, schema, action = item.op, item.schema, item.op.action
        assert schema is not None
        if row is not None:
            self._free_key(row)
        data = item.data if item.data is not None else dict(row.data if row else {})
        if action is _POST or action is _UNPOST:
            data["posted"] = action is _POST
        self.seq = seq = self.seq + 1
        data_json = orjson.dumps(data).decode()
        deleted, version = action is _DELETE, (row.version + 1) if row else 1
        key = item.key if item.key is not None else (row.key if row else "")
        new = Row(op.id, op.collection, key, schema.date_of(data), data_json, deleted, version,
                  seq, data)
        self.rows[op.id] = self.changed[op.id] = new
        if not deleted:
            self.key_owners[(new.collection, key)] = new.id
        self.changes.append(
            (seq, op.collection, op.id, version, deleted, data_json, op.op_id, self.node_id))
        return PushResult(op.op_id, _APPLIED, False, version, seq, None)

    def _free_key(self, row: Row) -> None:
        if self.key_owners.get((row.collection, row.key)) == row.id:
            del self.key_owners[(row.collection, row.key)]
