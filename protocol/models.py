"""Pydantic models of what crosses the wire: records, ops, changes, push results, pages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal, NamedTuple, Protocol

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from protocol.errors import ErrorCode
from protocol.text import KEY_FORM

# A record or op id: a UUID in its lower-case, hyphenated text form.
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
Uuid = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]
# A dataset id: lower-case letters, digits, "_" and "-", 1 to 63 characters, not starting
# with "_" or "-" (it names the dataset's database file on the node and the hub).
DATASET_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
DatasetId = Annotated[str, StringConstraints(pattern=DATASET_ID_PATTERN)]
MAX_PUSH_OPS = 1000


class SyncState(StrEnum):
    """Where a record stands with the hub, as the node shows it (docs/lan-api.md)."""

    SYNCED = "synced"
    PENDING = "pending"
    SYNCING = "syncing"
    ERROR = "error"
    CONFLICT = "conflict"
    BLOCKED = "blocked"


class Action(StrEnum):
    """What an op does to its record."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    POST = "post"
    UNPOST = "unpost"


class OpStatus(StrEnum):
    """What the hub did with a pushed op."""

    APPLIED = "applied"
    REJECTED = "rejected"


class BlockedBy(BaseModel):
    """The record a ``blocked`` record waits on, as an accountant names it (S5): its id, its
    collection and the collection's label, its key as shown ("KH100", a voucher's number)
    and both together ("Khách hàng KH100"), in the reader's language."""

    id: str
    collection: str | None = None
    label: str | None = None
    key: str | None = None
    name: str | None = None


class SyncStatus(BaseModel):
    """A record's sync state, with the error or the record blocking it when there is one."""

    state: SyncState
    code: ErrorCode | None = None
    message: str | None = None
    blocked_by: BlockedBy | None = None
    details: dict[str, Any] | None = None


class Record(BaseModel):
    """A record as a node shows it to workstations (docs/lan-api.md)."""

    id: Uuid
    collection: str
    key: str
    data: dict[str, Any]
    deleted: bool = False
    version: int | None = None
    local_rev: int
    sync: SyncStatus
    updated_at: str | None = None


class Op(BaseModel):
    """One outbox entry; ``op_id`` is the idempotency key end to end."""

    model_config = ConfigDict(frozen=True)

    op_id: Uuid
    collection: str
    id: Uuid
    action: Action
    base_version: int | None = None
    data: dict[str, Any] | None = None
    # The workstation that made the change, as its office names it (the record's history);
    # a hub that predates it ignores it.
    workstation: str | None = Field(default=None, max_length=200)


class OpError(BaseModel):
    """Why the hub rejected an op; ``current`` is the hub's version of the record on a conflict."""

    code: ErrorCode
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    current: dict[str, Any] | None = None


class OpResult(BaseModel):
    """The hub's answer for one pushed op (``replayed`` when the op id was already applied)."""

    op_id: Uuid
    status: OpStatus
    replayed: bool = False
    version: int | None = None
    seq: int | None = None
    error: OpError | None = None


class PushRequest(BaseModel):
    """Body of ``POST /v1/datasets/{ds}/push``: at most MAX_PUSH_OPS ops, applied in order."""

    ops: list[Op] = Field(max_length=MAX_PUSH_OPS)


class PushResponse(BaseModel):
    """One result per pushed op, in the order of the request."""

    results: list[OpResult]


class Change(BaseModel):
    """One entry of the hub's change feed: a record's version at sequence number ``seq``."""

    seq: int
    collection: str
    id: Uuid
    version: int
    deleted: bool = False
    data: dict[str, Any] | None = None
    op_id: str | None = None
    node_id: str | None = None


class ChangesPage(BaseModel):
    """A page of the change feed after a cursor; ``last_seq`` is the next cursor."""

    changes: list[Change]
    last_seq: int
    has_more: bool
    # The feed's head (the dataset's last seq) when the page was read; an older hub leaves
    # it out. The node shows a first download's total from it.
    head_seq: int | None = None


class FeedEntry(Protocol):
    """What the node reads of a record's version from the hub, a feed's :class:`Change` or a
    snapshot's :class:`SnapshotRecord`."""

    @property
    def seq(self) -> int: ...  # noqa: D102
    @property
    def collection(self) -> str: ...  # noqa: D102
    @property
    def id(self) -> str: ...  # noqa: D102
    @property
    def version(self) -> int: ...  # noqa: D102
    @property
    def deleted(self) -> bool: ...  # noqa: D102
    @property
    def data(self) -> dict[str, Any] | None: ...  # noqa: D102
    @property
    def op_id(self) -> str | None: ...  # noqa: D102
    @property
    def node_id(self) -> str | None: ...  # noqa: D102


class SnapshotRecord(NamedTuple):
    """A record of a snapshot page at its latest version (no op or node: not a change)."""

    seq: int
    collection: str
    id: str
    version: int
    deleted: bool
    data: dict[str, Any] | None
    op_id: str | None = None
    node_id: str | None = None


class SnapshotRow(NamedTuple):
    """A record of a snapshot page in the ``rows`` form: its data as the JSON text the hub
    stores (``text``), with the key and date the hub holds for it (``key`` None when the hub's
    keys are in another form than this node's: the node folds it from the data then)."""

    seq: int
    collection: str
    id: str
    version: int
    deleted: bool
    key: str | None
    date: str | None
    text: str
    op_id: str | None = None
    node_id: str | None = None

    @property
    def data(self) -> dict[str, Any]:
        """The data, parsed (only a record with ops waiting needs it)."""
        value: dict[str, Any] = orjson.loads(self.text)
        return value


SNAPSHOT_ROWS = "rows"  # ?form= of the snapshot: each record one array, its data JSON text


def _snapshot_rows(items: Any, key_form: Any) -> list[SnapshotRow]:
    """The ``rows`` of a snapshot page, each checked: ``[seq, collection, id, version,
    deleted, key, date, data]``, ``data`` a string holding a JSON object (its braces are
    checked here; that it parses is checked off the event loop, see
    :func:`agent.cloud.client.first_bad_text`)."""
    if not isinstance(items, list):
        raise ValueError("rows: not a list")
    ours = key_form == KEY_FORM
    out: list[SnapshotRow] = []
    for n, item in enumerate(items):
        if type(item) is not list or len(item) != 8:
            raise ValueError(f"rows[{n}]: not an array of 8")
        seq, collection, rid, version, deleted, key, date, text = item
        if not (type(seq) is int and type(collection) is str and type(rid) is str
                and _UUID.match(rid) and type(version) is int and type(deleted) is bool
                and type(key) is str and (date is None or type(date) is str)
                and type(text) is str and text[:1] == "{" and text[-1:] == "}"):
            raise ValueError(f"rows[{n}]: a field of the wrong type or form")
        out.append(SnapshotRow(seq, collection, rid, version, deleted, key if ours else None,
                               date, text))
    return out


_UUID = re.compile(UUID_PATTERN)


@dataclass(frozen=True)
class SnapshotPage:
    """A page of the hub's snapshot: the dataset's records in id order at their latest
    versions (tombstones too; ``seq`` is each record's latest). ``next`` is the last id, the
    next page's ``after`` (``None``: no more). ``head_seq`` is the feed's head read before
    the page; ``total`` the dataset's records, on the first page only.

    Not a pydantic model: a first download reads a million records, and a page of 2,500
    checked field by field here (:meth:`from_json`) took 9 ms against 22 ms through
    ``model_validate`` (most of it building 2,500 models)."""

    records: Sequence[FeedEntry]
    next: str | None = None
    head_seq: int = 0
    total: int | None = None

    @classmethod
    def from_json(cls, body: bytes | str) -> SnapshotPage:
        """The page of a hub's answer; ``ValueError`` naming the first thing that is not
        what the protocol says."""
        raw = orjson.loads(body)
        if not isinstance(raw, dict):
            raise ValueError("a snapshot page is a JSON object")
        items, after, head, total = (raw.get("records"), raw.get("next"), raw.get("head_seq"),
                                     raw.get("total"))
        if after is not None and type(after) is not str:
            raise ValueError("next: not a string")
        if type(head) is not int or (total is not None and type(total) is not int):
            raise ValueError("head_seq / total: not integers")
        if raw.get("form") == SNAPSHOT_ROWS:  # a hub that knows the form the node asked for
            return cls(_snapshot_rows(raw.get("rows"), raw.get("key_form")), after, head,
                       total)
        if not isinstance(items, list):
            raise ValueError("records: not a list")
        records: list[SnapshotRecord] = []
        for n, item in enumerate(items):
            try:
                seq, collection, rid, version = (item["seq"], item["collection"], item["id"],
                                                 item["version"])
                deleted, data = item.get("deleted", False), item.get("data")
            except (TypeError, KeyError, AttributeError) as err:
                raise ValueError(f"records[{n}]: missing {err}") from None
            if not (type(seq) is int and type(collection) is str and type(rid) is str
                    and _UUID.match(rid) and type(version) is int and type(deleted) is bool
                    and (data is None or type(data) is dict)):
                raise ValueError(f"records[{n}]: a field of the wrong type or form")
            records.append(SnapshotRecord(seq, collection, rid, version, deleted, data))
        return cls(records, after, head, total)


class HubRecord(BaseModel):
    """A record as the hub stores it."""

    id: Uuid
    collection: str
    key: str
    data: dict[str, Any] | None
    deleted: bool = False
    version: int
    seq: int


class Health(BaseModel):
    """The hub's ``/v1/health`` answer: its name and the protocol versions it speaks."""

    service: str = "officesync-hub"
    protocol: int
    min_protocol: int


class EnrollRequest(BaseModel):
    """A node's enrollment: the one-time code from the hub and the node's name."""

    code: str = Field(min_length=1, max_length=200)
    node_name: str = Field(min_length=1, max_length=200)


class EnrollResponse(BaseModel):
    """The enrolled node's id, its bearer token and the datasets it may sync."""

    node_id: str
    token: str
    datasets: list[str]


class LeaseRequest(BaseModel):
    """How many numbers a node asks for from a number series."""

    count: int = Field(ge=1, le=100_000)


class LeaseResponse(BaseModel):
    """The numbers leased to the node: ``start`` to ``end``, inclusive."""

    series: str
    start: int
    end: int


class DigestRequest(BaseModel):
    """A collection and a date range to compare between node and hub."""

    collection: str
    date_from: str
    date_to: str


class DigestBucket(BaseModel):
    """One day of a digest: how many records and the hash of their ids and versions."""

    date: str
    count: int
    hash: str


class DigestResponse(BaseModel):
    """The digest's buckets, one per day that has records."""

    buckets: list[DigestBucket]


# --- LAN API (workstations ↔ node) ---------------------------------------------------------


class PairRequest(BaseModel):
    """A workstation's pairing: the code shown by the node and the workstation's name."""

    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)


class PairResponse(BaseModel):
    """The paired workstation's id and its bearer token."""

    workstation_id: str
    token: str


class RecordWrite(BaseModel):
    """Body of a workstation's create or update."""

    model_config = ConfigDict(extra="forbid")

    id: Uuid | None = None
    data: dict[str, Any]


class ResolveRequest(BaseModel):
    """How a workstation settles a record in ``conflict``, ``error`` or ``blocked`` (S5, S6, S9).

    - ``take_cloud``: drop my queued changes and take the cloud's version;
    - ``keep_local``: send my version again on top of the cloud's current one;
    - ``merge``: send ``data`` (the merged record) or ``choices`` (per field, ``local`` or
      ``cloud``) on top of the cloud's current version;
    - ``restore``: the cloud deleted the record; create it again with my data;
    - ``discard``: drop my record (a duplicate, or accept the cloud's deletion); with
      ``cascade`` also the local records that depend on it;
    - ``link_existing``: my record is the cloud's record of the same key: repoint what refers
      to mine and offer my differing fields as an edit of the cloud's;
    - ``rename``: give my record ``new_key`` (or, for a voucher, ``renumber`` from the node's
      series) and send it again.
    """

    model_config = ConfigDict(extra="forbid")

    action: Literal["take_cloud", "keep_local", "merge", "restore", "discard",
                    "link_existing", "rename"]
    data: dict[str, Any] | None = None
    choices: dict[str, Literal["local", "cloud"]] | None = None
    new_key: str | None = Field(default=None, min_length=1, max_length=200)
    renumber: bool = False
    cascade: bool = False


class RecordPage(BaseModel):
    """A page of records; ``next`` is the cursor of the following page, if any."""

    items: list[Record]
    next: str | None = None
