"""No background task of the node dies silently, and nothing spins while the hub is down
(issue 8, defects 1 and 8): the supervisor (fake clock, no real waiting), the probe schedule
(pure), and the monitor and dataset workers recovering from exceptions of unexpected types
injected at each await point of theirs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest

from agent.cloud.client import HubAuthFailed, HubClient, HubUnreachable
from agent.config import CloudSection
from agent.connectivity.monitor import ConnectivityMonitor, probe_delay
from agent.events import EventBus
from agent.store import StoreManager
from agent.store.node import NodeDB
from agent.supervisor import Supervisor
from agent.sync.engine import SyncEngine
from agent.sync.worker import SERIES_CHECK_S
from protocol.connectivity import Connectivity
from protocol.errors import ErrorCode
from protocol.models import ChangesPage, Health, LeaseResponse, Op, OpResult, SnapshotPage
from tests.agent.sync.conftest import DS, eventually

UNEXPECTED = (RuntimeError("Connection closed."), ValueError("bad"), KeyError("k"),
              AttributeError("a"), ZeroDivisionError("z"))


# --- the supervisor, on a fake clock ------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def test_a_failing_loop_is_logged_once_per_streak_and_restarted_with_capped_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeTime()
    changes: list[int] = []
    supervisor = Supervisor(base=1.0, cap=4.0, stable_s=100.0, clock=clock, rng=lambda: 1.0,
                            sleep=clock.sleep, on_change=lambda s: changes.append(s.failures))
    runs = 0
    healed = asyncio.Event()
    hold = asyncio.Event()

    async def loop() -> None:
        nonlocal runs
        runs += 1
        if runs <= 5:
            raise UNEXPECTED[runs - 1]
        healed.set()
        await hold.wait()

    with caplog.at_level(logging.DEBUG, logger="officesync.supervisor"):
        supervised = supervisor.spawn("worker", loop)
        await asyncio.wait_for(healed.wait(), 5)
    assert clock.sleeps == [1.0, 2.0, 4.0, 4.0, 4.0]  # doubling, capped
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None  # once, with the traceback
    assert supervisor.failing() == [{"name": "worker", "failures": 5,
                                     "error": "ZeroDivisionError: z",
                                     "since": supervised.failing_since}]
    supervised.ok()  # the loop made progress
    assert supervisor.failing() == [] and changes == [1, 0]
    await supervisor.stop()
    assert supervised.task is not None and supervised.task.cancelled()


async def test_a_streak_ends_after_running_stable_and_the_next_failure_is_logged_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeTime()
    supervisor = Supervisor(base=1.0, cap=4.0, stable_s=10.0, clock=clock, rng=lambda: 1.0,
                            sleep=clock.sleep)
    runs = 0
    third = asyncio.Event()
    hold = asyncio.Event()

    async def loop() -> None:
        nonlocal runs
        runs += 1
        if runs == 2:
            clock.now += 11.0  # ran longer than stable_s before failing again
        if runs <= 2:
            raise RuntimeError(f"boom {runs}")
        third.set()
        await hold.wait()

    with caplog.at_level(logging.ERROR, logger="officesync.supervisor"):
        supervised = supervisor.spawn("t", loop)
        await asyncio.wait_for(third.wait(), 5)
    assert len(caplog.records) == 2  # two streaks, each logged once
    assert clock.sleeps == [1.0, 1.0]  # the backoff started over with the new streak
    assert supervised.is_failing
    clock.now += 10.0
    assert not supervised.is_failing and supervisor.failing() == []
    await supervisor.stop()


async def test_a_loop_that_ends_by_itself_is_not_restarted() -> None:
    supervisor = Supervisor()
    calls = 0

    async def once() -> None:
        nonlocal calls
        calls += 1

    supervised = supervisor.spawn("once", once)
    assert supervised.task is not None
    await asyncio.wait_for(supervised.task, 2)
    assert calls == 1 and supervisor.failing() == []


# --- the probe schedule, pure ----------------------------------------------------------------


def test_probe_schedule_retries_sooner_first_then_once_per_interval() -> None:
    top = [probe_delay(n, 8.0, lambda: 1.0) for n in range(1, 7)]
    assert top == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    low = [probe_delay(n, 8.0, lambda: 0.0) for n in range(1, 7)]
    assert low == [0.9, 1.8, 3.6, 7.2, 7.2, 7.2]  # jitter takes at most 10 % off
    assert probe_delay(50, 8.0, lambda: 0.5) <= 8.0


def test_probe_schedule_honours_retry_after_within_bounds() -> None:
    assert probe_delay(1, 2.0, lambda: 1.0, retry_after=5.0) == 5.0
    assert probe_delay(1, 2.0, lambda: 1.0, retry_after=3600.0) == 20.0
    assert probe_delay(4, 2.0, lambda: 1.0, retry_after=0.0) == 2.0


def test_probe_schedule_never_spins_on_a_tiny_interval() -> None:
    assert probe_delay(1, 0.001, lambda: 0.0) == 0.001
    assert probe_delay(1, 1.0, lambda: 0.0) >= 0.05


# --- the monitor ---------------------------------------------------------------------------


class FakeHub:
    """A fake hub client. ``faults`` maps a method name to the exceptions its next calls
    raise, one per call; an empty list means it answers."""

    def __init__(self) -> None:
        self.faults: dict[str, list[BaseException]] = {}
        self.calls: dict[str, int] = {}
        self.down: BaseException | None = None  # raised by every call while set
        self.pushed: list[str] = []
        self.leased = 0

    def _enter(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.down is not None:
            raise self.down
        queue = self.faults.get(name)
        if queue:
            raise queue.pop(0)

    async def health(self, timeout: float | None = None) -> Health:  # noqa: ASYNC109
        await asyncio.sleep(0)
        self._enter("health")
        return Health(protocol=1, min_protocol=1)

    async def datasets(self) -> list[str]:
        await asyncio.sleep(0)
        self._enter("datasets")
        return [DS]

    async def lease(self, dataset: str, series: str, count: int) -> LeaseResponse:
        await asyncio.sleep(0)
        self._enter("lease")
        self.leased += 1  # one number per block: the node keeps asking for more
        return LeaseResponse(series=series, start=self.leased, end=self.leased)

    async def push(self, dataset: str, ops: list[Op]) -> list[OpResult]:
        await asyncio.sleep(0)
        self._enter("push")
        self.pushed += [op.op_id for op in ops]
        return [OpResult(op_id=op.op_id, status="applied", version=(op.base_version or 0) + 1,
                         seq=len(self.pushed)) for op in ops]

    async def snapshot(self, dataset: str, after: str | None = None,
                       limit: int = 1000) -> SnapshotPage | None:
        await asyncio.sleep(0)
        self._enter("snapshot")
        return SnapshotPage(records=[], next=None, head_seq=0, total=0)  # no records

    async def changes(self, dataset: str, since: int, limit: int = 1000,
                      wait: float = 0) -> ChangesPage:
        await asyncio.sleep(min(wait, 0.05))
        self._enter("changes")
        return ChangesPage(changes=[], last_seq=since, has_more=False)

    async def reset(self) -> None:
        return None

    async def close(self) -> None:
        return None


def _monitor(hub: FakeHub, interval: float = 0.1) -> ConnectivityMonitor:
    return ConnectivityMonitor(cast(HubClient, hub), EventBus(), online=True,
                               probe_interval=interval, probe_timeout=0.5,
                               supervisor=Supervisor(base=0.01, cap=0.05))


@pytest.mark.parametrize("error", UNEXPECTED, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("where", ["health", "datasets"])
async def test_the_monitor_recovers_from_an_unexpected_exception_at_each_await(
    where: str, error: BaseException
) -> None:
    hub = FakeHub()
    hub.faults[where] = [error, error]
    monitor = _monitor(hub)
    monitor.start()
    try:
        async def online() -> bool:
            return monitor.state is Connectivity.ONLINE

        await eventually(online, 5)
        assert hub.calls[where] >= 3  # failed twice, then probed again by itself
    finally:
        await monitor.stop()


async def test_a_hub_refusing_connections_is_probed_on_schedule_not_in_a_loop() -> None:
    hub = FakeHub()
    hub.down = HubUnreachable(Connectivity.CLOUD_UNAVAILABLE, "connection refused")
    monitor = _monitor(hub, interval=0.2)
    monitor.start()
    began = time.process_time()
    await asyncio.sleep(1.0)
    cpu = time.process_time() - began
    await monitor.stop()
    # 0.025, 0.05, 0.1, then every 0.18-0.2 s: about 7 in a second (thousands before).
    assert 4 <= hub.calls["health"] <= 9, hub.calls
    assert cpu < 0.2
    assert monitor.state is Connectivity.CLOUD_UNAVAILABLE


async def test_failures_reported_while_offline_do_not_wake_the_probe() -> None:
    hub = FakeHub()
    hub.down = HubUnreachable(Connectivity.CLOUD_UNAVAILABLE, "HTTP 500")
    monitor = _monitor(hub, interval=0.5)
    monitor.start()

    async def probed() -> bool:
        return hub.calls.get("health", 0) >= 1

    await eventually(probed, 2)
    await asyncio.sleep(0.01)
    seen = hub.calls["health"]
    for _ in range(100):  # e.g. a worker's in-flight calls failing after the outage began
        monitor.report_failure(HubUnreachable(Connectivity.CLOUD_UNAVAILABLE, "reset"))
        await asyncio.sleep(0)
    assert hub.calls["health"] <= seen + 1
    await monitor.stop()


# --- the dataset workers -------------------------------------------------------------------


@pytest.fixture
def fake_hub() -> FakeHub:
    return FakeHub()


@pytest.fixture
async def engine(tmp_path: Path, fake_hub: FakeHub) -> Any:
    bus = EventBus()
    node_db = NodeDB(tmp_path / "node.db")
    await node_db.open()
    stores = StoreManager(tmp_path, bus=bus, language="en", local_numbering=False)
    await stores.open([DS])
    made = SyncEngine(stores, node_db, bus, cast(HubClient, fake_hub),
                      CloudSection(probe_interval_s=0.05, probe_timeout_s=0.5, batch_size=10,
                                   long_poll_s=0.05, max_backoff_s=0.05),
                      hub_node_id="n1", online=True)
    made.supervisor.base, made.supervisor.cap = 0.01, 0.05
    await made.start()
    yield made
    await made.stop()
    await stores.close()
    await node_db.close()


async def _synced(engine: SyncEngine, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return (await engine.stores.get(DS).sync_counts())["synced"] == n
    return check


@pytest.mark.parametrize("error", UNEXPECTED, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("where", ["push", "changes", "lease"])
async def test_the_workers_recover_from_an_unexpected_exception_at_each_await(
    engine: SyncEngine, fake_hub: FakeHub, where: str, error: BaseException
) -> None:
    async def online() -> bool:
        return engine.connectivity is Connectivity.ONLINE

    await eventually(online, 5)
    worker = engine.workers[DS]

    async def first_lease_round_done() -> bool:
        return worker._series_checked > 0

    await eventually(first_lease_round_done, 5)
    fake_hub.faults[where] = [error] * 3
    # The worker's clock then stands still past the lease period: the lease is due at the
    # next round, and once a lease answers it is not due again (no wall-clock period to race).
    due = time.monotonic() + SERIES_CHECK_S + 1
    worker.clock = lambda: due
    store = engine.stores.get(DS)
    for i in range(3):
        await store.create("customers", {"code": f"KH{i}", "name": "x"})
    await engine.sync_now()
    await eventually(await _synced(engine, 3), 10)

    async def faults_met() -> bool:  # the three faults were raised, and the loop went on
        return not fake_hub.faults[where] and fake_hub.calls.get(where, 0) >= 4

    await eventually(faults_met, 10)

    async def healthy() -> bool:
        await engine.sync_now()
        return engine.dataset_state(DS).ok and not engine.failing_tasks()

    await eventually(healthy, 5)


async def test_a_task_that_keeps_failing_shows_in_status_and_in_the_dataset_state(
    engine: SyncEngine, fake_hub: FakeHub,
) -> None:
    async def online() -> bool:
        return engine.connectivity is Connectivity.ONLINE

    await eventually(online, 5)
    events = engine.bus.subscribe()
    seen: list[str] = []

    async def collect() -> None:
        async for event in events:  # one by one: the test reads seen while events come
            if event.get("type") == "sync" and "sync" in event:
                seen.append(event["sync"]["state"])  # noqa: PERF401

    collector = asyncio.create_task(collect())
    fake_hub.faults["changes"] = [RuntimeError("bug")] * 10_000

    async def failing() -> bool:
        return engine.dataset_state(DS).state == "failing"

    await eventually(failing, 5)
    assert [t["name"] for t in engine.failing_tasks()] == [f"pull:{DS}"]
    assert engine.failing_tasks()[0]["error"] == "RuntimeError: bug"
    state = engine.dataset_state(DS).as_json()
    assert state["code"] is None and "keeps failing" in state["message"]["en"]
    assert "lỗi lặp lại" in state["message"]["vi"]
    fake_hub.faults["changes"] = []

    async def ok_again() -> bool:
        return engine.dataset_state(DS).ok and not engine.failing_tasks()

    await eventually(ok_again, 5)
    await asyncio.sleep(0)
    events.close()
    await collector
    assert seen == ["failing", "ok"]  # published live (once each) for the tray and dashboard


async def test_a_stopped_engine_starts_nothing_again(engine: SyncEngine) -> None:
    await engine.stop()
    await engine.set_online(True)
    await engine.add_dataset("other")
    assert not engine.supervisor.tasks and not any(w.running for w in engine.workers.values())


async def test_a_refused_dataset_is_retried_on_backoff_not_on_every_write(
    engine: SyncEngine, fake_hub: FakeHub,
) -> None:
    async def online() -> bool:
        return engine.connectivity is Connectivity.ONLINE

    await eventually(online, 5)
    await engine.set_online(False)
    engine.workers[DS].max_backoff = 0.4  # the loops restart with this cap
    fake_hub.faults = {name: [HubAuthFailed(403, ErrorCode.FORBIDDEN, "not granted")] * 10_000
                       for name in ("push", "changes", "lease")}
    await engine.set_online(True)

    async def refused() -> bool:
        return engine.dataset_state(DS).state == "refused"

    await eventually(refused, 5)
    before = sum(fake_hub.calls.values())
    store = engine.stores.get(DS)
    began = time.monotonic()
    for i in range(200):  # a workstation keeps writing: each write wakes the push loop
        await store.create("customers", {"code": f"W{i}", "name": "x"})
    await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - began)))
    elapsed = time.monotonic() - began
    calls = sum(fake_hub.calls.values()) - before
    # Two loops, one try each per backoff step (at most 0.4 s, at least half with jitter,
    # the first steps shorter): about 10 in a second, where waking on writes made ~200.
    assert calls <= 20, (calls, elapsed)
    assert engine.connectivity is Connectivity.ONLINE  # a refusal is not an outage
    assert engine.dataset_state(DS).code == "FORBIDDEN"
