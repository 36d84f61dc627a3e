"""The in-process event bus and its events: the store, sync engine, connectivity monitor and
pairing publish; the LAN and control WebSockets (and the engine, the status watcher, tests)
subscribe.

The set of event types is closed (:class:`EventType`); each event is a frozen dataclass with a
process-wide increasing ``id`` and a ``time``, and :meth:`Event.to_json` is the object the
WebSocket clients receive (``id`` and ``time`` stay in the process: the wire shape is the one
the dashboard, the tray and the workstation client read). An event also reads as that JSON
object (``event["type"]``, ``event.get("dataset")``), for tests and quick looks.

Publishing never blocks: a subscriber that falls ``maxsize`` events behind is marked
``overflowed`` and its queue ends, so one slow WebSocket cannot hold up the node.
``bus.subscribe(types={...})`` delivers only the listed types.
"""

from __future__ import annotations

import asyncio
import itertools
from abc import abstractmethod
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from protocol.connectivity import Connectivity
from protocol.local import NodeStatus
from protocol.models import Record

if TYPE_CHECKING:
    from agent.sync.state import DatasetSyncState


class EventType(StrEnum):
    RECORD = "record"
    SYNC = "sync"
    CONNECTIVITY = "connectivity"
    DATASET = "dataset"
    WORKSTATION = "workstation"
    STATUS = "status"
    JOB = "job"


class RecordAction(StrEnum):
    """Why a record event was published: a local write (the first six) or a sync."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    POST = "post"
    UNPOST = "unpost"
    RESOLVE = "resolve"
    SYNC = "sync"  # the hub's answer to a push changed it
    PULL = "pull"  # a pulled change updated it


LOCAL_ACTIONS = frozenset({RecordAction.CREATE, RecordAction.UPDATE, RecordAction.DELETE,
                           RecordAction.POST, RecordAction.UNPOST, RecordAction.RESOLVE})


class SyncPhase(StrEnum):
    """The ``state`` of a ``sync`` event: what happened to the dataset's sync."""

    CHANGED = "changed"  # the dataset's sync state (``sync``) changed
    SYNCING = "syncing"  # a push of ``ops`` ops was sent
    PUSHED = "pushed"  # the hub answered: ``applied``, ``rejected``
    PULLED = "pulled"  # a page of ``changes`` was applied, the cursor is now ``cursor``
    RECORDS = "records"  # ``records`` records changed by a push or pull (``action``)


_ids = itertools.count(1)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True, eq=False)
class Event(Mapping[str, Any]):
    """An event on the bus; equal to another (or to a dict) when their JSON is equal."""

    type: ClassVar[EventType]
    id: int = field(default_factory=lambda: next(_ids))
    time: datetime = field(default_factory=_now)

    @abstractmethod
    def payload(self) -> dict[str, Any]:
        """The JSON fields besides ``type`` (each event type says its own)."""

    def to_json(self) -> dict[str, Any]:
        """The object sent to WebSocket clients (a fresh copy)."""
        return dict(self._json)

    @cached_property
    def _json(self) -> dict[str, Any]:
        return {"type": self.type.value, **self.payload()}

    def __getitem__(self, key: str) -> Any:
        return self._json[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._json)

    def __len__(self) -> int:
        return len(self._json)


@dataclass(frozen=True, kw_only=True, eq=False)
class RecordEvent(Event):
    type: ClassVar[EventType] = EventType.RECORD
    dataset: str
    action: RecordAction
    record: Record

    def payload(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "action": self.action.value,
                "record": self.record.model_dump(mode="json")}


@dataclass(frozen=True, kw_only=True, eq=False)
class SyncEvent(Event):
    """One shape for every sync event: ``dataset`` and ``state`` (a :class:`SyncPhase`), and
    the fields of that phase (the others are left out of the JSON)."""

    type: ClassVar[EventType] = EventType.SYNC
    dataset: str
    state: SyncPhase
    sync: DatasetSyncState | None = None
    ops: int | None = None
    applied: int | None = None
    rejected: int | None = None
    changes: int | None = None
    cursor: int | None = None
    action: Literal[RecordAction.SYNC, RecordAction.PULL] | None = None
    records: int | None = None

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dataset": self.dataset, "state": self.state.value}
        if self.sync is not None:
            out["sync"] = self.sync.as_json()
        counts = {"ops": self.ops, "applied": self.applied, "rejected": self.rejected,
                  "changes": self.changes, "cursor": self.cursor, "records": self.records}
        if self.action is not None:
            out["action"] = self.action.value
        out.update({k: v for k, v in counts.items() if v is not None})
        return out

    @classmethod
    def changed(cls, dataset: str, sync: DatasetSyncState) -> SyncEvent:
        return cls(dataset=dataset, state=SyncPhase.CHANGED, sync=sync)

    @classmethod
    def syncing(cls, dataset: str, ops: int) -> SyncEvent:
        return cls(dataset=dataset, state=SyncPhase.SYNCING, ops=ops)

    @classmethod
    def pushed(cls, dataset: str, applied: int, rejected: int) -> SyncEvent:
        return cls(dataset=dataset, state=SyncPhase.PUSHED, applied=applied, rejected=rejected)

    @classmethod
    def pulled(cls, dataset: str, changes: int, cursor: int) -> SyncEvent:
        return cls(dataset=dataset, state=SyncPhase.PULLED, changes=changes, cursor=cursor)

    @classmethod
    def records_changed(cls, dataset: str, action: Literal[RecordAction.SYNC, RecordAction.PULL],
                        records: int) -> SyncEvent:
        return cls(dataset=dataset, state=SyncPhase.RECORDS, action=action, records=records)


@dataclass(frozen=True, kw_only=True, eq=False)
class ConnectivityEvent(Event):
    type: ClassVar[EventType] = EventType.CONNECTIVITY
    connectivity: Connectivity
    online: bool

    def payload(self) -> dict[str, Any]:
        return {"connectivity": self.connectivity.value, "online": self.online,
                "message": self.connectivity.messages()}


@dataclass(frozen=True, kw_only=True, eq=False)
class DatasetEvent(Event):
    """A dataset was connected (hosted) or disconnected."""

    type: ClassVar[EventType] = EventType.DATASET
    dataset: str
    connected: bool

    def payload(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "connected": self.connected}


@dataclass(frozen=True, kw_only=True, eq=False)
class WorkstationEvent(Event):
    type: ClassVar[EventType] = EventType.WORKSTATION
    action: Literal["paired", "revoked"]
    workstation_id: str

    def payload(self) -> dict[str, Any]:
        return {"action": self.action, "workstation_id": self.workstation_id}


@dataclass(frozen=True, kw_only=True, eq=False)
class JobEvent(Event):
    """A repair job (agent/jobs.py) started, progressed or ended: its public view."""

    type: ClassVar[EventType] = EventType.JOB
    dataset: str
    job: dict[str, Any]

    def payload(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "job": self.job}


@dataclass(frozen=True, kw_only=True, eq=False)
class StatusEvent(Event):
    """The node's status document (``GET /control/v1/status``) pushed when it changed."""

    type: ClassVar[EventType] = EventType.STATUS
    status: NodeStatus

    def payload(self) -> dict[str, Any]:
        return self.status.as_json()


class Subscription:
    def __init__(self, bus: EventBus, maxsize: int,
                 types: frozenset[EventType] | None = None) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self.types = types
        self.overflowed = False
        self.closed = False

    def _offer(self, event: Event) -> None:
        if self.closed or (self.types is not None and event.type not in self.types):
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._bus._subs.discard(self)
        try:
            self._queue.put_nowait(None)
        except asyncio.QueueFull:
            # make room for the end marker
            self._queue.get_nowait()
            self._queue.put_nowait(None)

    async def get(self) -> Event | None:
        """The next event, or ``None`` once the subscription has ended."""
        if self.closed and self._queue.empty():
            return None
        return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            event = await self.get()
            if event is None:
                return
            yield event

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()

    def subscribe(self, maxsize: int = 10_000,
                  types: Iterable[EventType] | None = None) -> Subscription:
        """A subscription to every event, or only to those of ``types``."""
        sub = Subscription(self, maxsize, None if types is None else frozenset(types))
        self._subs.add(sub)
        return sub

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to every subscriber; call from the event loop thread."""
        for sub in list(self._subs):
            sub._offer(event)

    def close(self) -> None:
        for sub in list(self._subs):
            sub.close()

    @property
    def subscribers(self) -> int:
        return len(self._subs)
