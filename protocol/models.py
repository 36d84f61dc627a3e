"""Pydantic models of what crosses the wire: records, ops, changes, push results, pages."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from protocol.errors import ErrorCode

Uuid = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
]
DatasetId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
MAX_PUSH_OPS = 1000


class SyncState(StrEnum):
    SYNCED = "synced"
    PENDING = "pending"
    SYNCING = "syncing"
    ERROR = "error"
    CONFLICT = "conflict"
    BLOCKED = "blocked"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    POST = "post"
    UNPOST = "unpost"


class OpStatus(StrEnum):
    """What the hub did with a pushed op."""

    APPLIED = "applied"
    REJECTED = "rejected"


class SyncStatus(BaseModel):
    state: SyncState
    code: ErrorCode | None = None
    message: str | None = None
    blocked_by: str | None = None
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


class OpError(BaseModel):
    code: ErrorCode
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    current: dict[str, Any] | None = None


class OpResult(BaseModel):
    op_id: Uuid
    status: OpStatus
    replayed: bool = False
    version: int | None = None
    seq: int | None = None
    error: OpError | None = None


class PushRequest(BaseModel):
    ops: list[Op] = Field(max_length=MAX_PUSH_OPS)


class PushResponse(BaseModel):
    results: list[OpResult]


class Change(BaseModel):
    seq: int
    collection: str
    id: Uuid
    version: int
    deleted: bool = False
    data: dict[str, Any] | None = None
    op_id: str | None = None
    node_id: str | None = None


class ChangesPage(BaseModel):
    changes: list[Change]
    last_seq: int
    has_more: bool


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
    service: str = "officesync-hub"
    protocol: int
    min_protocol: int


class EnrollRequest(BaseModel):
    code: str = Field(min_length=1, max_length=200)
    node_name: str = Field(min_length=1, max_length=200)


class EnrollResponse(BaseModel):
    node_id: str
    token: str
    datasets: list[str]


class LeaseRequest(BaseModel):
    count: int = Field(ge=1, le=100_000)


class LeaseResponse(BaseModel):
    series: str
    start: int
    end: int


class DigestRequest(BaseModel):
    collection: str
    date_from: str
    date_to: str


class DigestBucket(BaseModel):
    date: str
    count: int
    hash: str


class DigestResponse(BaseModel):
    buckets: list[DigestBucket]


# --- LAN API (workstations ↔ node) ---------------------------------------------------------


class PairRequest(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)


class PairResponse(BaseModel):
    workstation_id: str
    token: str


class RecordWrite(BaseModel):
    """Body of a workstation's create or update."""

    model_config = ConfigDict(extra="forbid")

    id: Uuid | None = None
    data: dict[str, Any]


class ResolveRequest(BaseModel):
    """How a workstation settles a record in ``conflict`` or ``error`` (S6, S9).

    ``keep_local``: send my version again on top of the cloud's current one; ``take_cloud``:
    drop my queued changes and take the cloud's version; ``discard``: drop a record that never
    reached the cloud (e.g. a duplicate code). The other resolutions of docs/lan-api.md (merge,
    rename, link_existing, restore) are not offered yet."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["keep_local", "take_cloud", "discard"]


class RecordPage(BaseModel):
    items: list[Record]
    next: str | None = None
