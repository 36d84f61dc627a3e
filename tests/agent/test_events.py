"""The bus events: a closed set of types, typed objects whose JSON is the shape the WebSocket
clients read (the dashboard, the tray, the workstation client), one ``sync`` shape, ids that
grow within the process, and ``subscribe(types=…)``."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from agent.events import (
    ConnectivityEvent,
    DatasetEvent,
    Event,
    EventBus,
    EventType,
    JobEvent,
    RecordAction,
    RecordEvent,
    StatusEvent,
    SyncEvent,
    SyncPhase,
    WorkstationEvent,
)
from agent.sync.state import ok_state, refused
from protocol.connectivity import Connectivity
from protocol.local import NodeStatus
from protocol.models import Record, SyncState, SyncStatus

RECORD = Record(id="11111111-1111-4111-8111-111111111111", collection="customers", key="KH1",
                data={"code": "KH1", "name": "A"}, local_rev=1,
                sync=SyncStatus(state=SyncState.PENDING), updated_at="2026-01-01T00:00:00Z")


STATUS = NodeStatus(online=True, connectivity=Connectivity.ONLINE, workstations=2,
                    version="1.0")


def _cases() -> list[tuple[Event, dict[str, Any]]]:
    """Each event and the JSON the clients received for it before events were typed (the
    ``sync`` events gain ``state`` where they had none)."""
    refusal = refused("cty", "FORBIDDEN")
    return [
        (RecordEvent(dataset="cty", action=RecordAction.CREATE, record=RECORD),
         {"type": "record", "dataset": "cty", "action": "create",
          "record": RECORD.model_dump(mode="json")}),
        (ConnectivityEvent(connectivity=Connectivity.OFFLINE_BY_USER, online=False),
         {"type": "connectivity", "connectivity": "offline_by_user", "online": False,
          "message": Connectivity.OFFLINE_BY_USER.messages()}),
        (DatasetEvent(dataset="cty", connected=True),
         {"type": "dataset", "dataset": "cty", "connected": True}),
        (WorkstationEvent(action="revoked", workstation_id="w1"),
         {"type": "workstation", "action": "revoked", "workstation_id": "w1"}),
        (StatusEvent(status=STATUS), {"type": "status", **STATUS.as_json()}),
        (SyncEvent.changed("cty", refusal),
         {"type": "sync", "dataset": "cty", "state": "changed", "sync": refusal.as_json()}),
        (SyncEvent.syncing("cty", 3), {"type": "sync", "dataset": "cty", "state": "syncing",
                                       "ops": 3}),
        (SyncEvent.pushed("cty", 2, 1), {"type": "sync", "dataset": "cty", "state": "pushed",
                                         "applied": 2, "rejected": 1}),
        (SyncEvent.pulled("cty", 5, 40), {"type": "sync", "dataset": "cty", "state": "pulled",
                                          "changes": 5, "cursor": 40}),
        (JobEvent(dataset="cty", job={"id": "j1", "state": "running"}),
         {"type": "job", "dataset": "cty", "job": {"id": "j1", "state": "running"}}),
        (SyncEvent.records_changed("cty", RecordAction.PULL, 500),
         {"type": "sync", "dataset": "cty", "state": "records", "action": "pull",
          "records": 500}),
    ]


@pytest.mark.parametrize(("event", "wire"), _cases(), ids=lambda c: getattr(c, "type", ""))
def test_each_event_serialises_to_the_clients_json(event: Event, wire: dict[str, Any]) -> None:
    assert event.to_json() == wire
    assert list(event.to_json()) == list(wire)  # same key order as before
    assert dict(event) == wire and event["type"] == wire["type"]  # reads as its JSON
    assert "id" not in event.to_json() and "time" not in event.to_json()


def test_the_type_set_is_closed_and_every_type_has_its_event() -> None:
    kinds = {RecordEvent, SyncEvent, ConnectivityEvent, DatasetEvent, WorkstationEvent,
             StatusEvent, JobEvent}
    assert {k.type for k in kinds} == set(EventType)
    assert {c[0].type for c in _cases()} == set(EventType)


def test_one_sync_shape_every_sync_event_says_its_dataset_and_phase() -> None:
    syncs = [e for e, _ in _cases() if isinstance(e, SyncEvent)]
    assert {e.state for e in syncs} == set(SyncPhase)
    for event in syncs:
        wire = event.to_json()
        assert wire["dataset"] == "cty" and SyncPhase(wire["state"]) is event.state
        assert ("sync" in wire) == (event.state is SyncPhase.CHANGED)


def test_ids_grow_and_time_is_utc() -> None:
    first, second = DatasetEvent(dataset="a", connected=True), SyncEvent.syncing("a", 1)
    assert second.id > first.id
    assert first.time.tzinfo is dt.UTC
    assert abs((dt.datetime.now(dt.UTC) - first.time).total_seconds()) < 60
    assert first.to_json() == DatasetEvent(dataset="a", connected=True).to_json()


async def test_subscribe_with_types_gets_only_those() -> None:
    bus = EventBus()
    only_sync = bus.subscribe(types={EventType.SYNC})
    everything = bus.subscribe()
    bus.publish(DatasetEvent(dataset="a", connected=True))
    bus.publish(SyncEvent.syncing("a", 2))
    bus.close()
    assert [e.type async for e in only_sync] == [EventType.SYNC]
    assert [e.type async for e in everything] == [EventType.DATASET, EventType.SYNC]


async def test_events_of_other_types_do_not_fill_a_filtered_queue() -> None:
    bus = EventBus()
    sub = bus.subscribe(maxsize=2, types={EventType.STATUS})
    for _ in range(10):
        bus.publish(DatasetEvent(dataset="a", connected=True))
    assert not sub.overflowed and not sub.closed
    for _ in range(3):
        bus.publish(StatusEvent(status=STATUS))
    assert sub.overflowed  # its own type still overflows it
    async with asyncio.timeout(1):
        assert await sub.get() is not None


async def test_status_events_compare_by_their_json() -> None:
    a, b = StatusEvent(status=STATUS), StatusEvent(status=NodeStatus(**STATUS.model_dump()))
    assert a.id != b.id and a.to_json() == b.to_json()


def test_a_sync_state_change_carries_the_state_as_the_apis_show_it() -> None:
    wire = SyncEvent.changed("cty", ok_state("cty")).to_json()
    assert wire["sync"] == {"state": "ok", "code": None, "message": None}
