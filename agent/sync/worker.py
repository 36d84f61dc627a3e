"""One dataset's sync worker: the push loop drains the outbox, the pull loop follows the hub's
change feed. Both run only while the connectivity monitor says online, back off on failure,
and are cancelled outright when the user turns "Làm việc online" off.

Both loops run under the engine's :class:`agent.supervisor.Supervisor`: an unexpected
exception is logged once, the loop restarts with backoff and the dataset shows ``failing``.
A refusal of the dataset by the hub (404 ``DATASET_NOT_FOUND``, 403 ``FORBIDDEN``) shows
``refused`` and is retried every ``max_backoff`` at most, so a grant is picked up by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from agent.cloud.client import (
    HubAuthFailed,
    HubClient,
    HubError,
    HubRateLimited,
    HubRejected,
    invalid_response,
)
from agent.connectivity.monitor import ConnectivityMonitor
from agent.events import EventBus, SyncEvent
from agent.logs import dataset_log
from agent.store import DatasetStore
from agent.store.rows import utc_now
from agent.store.syncing import PendingOp
from agent.supervisor import Supervisor, wait_woken
from agent.sync.ordering import assign_base_versions, independent, order_batch
from agent.sync.state import REFUSAL_CODES, DatasetSyncState, combine, failing, refused
from protocol.backoff import Backoff
from protocol.errors import ErrorCode
from protocol.models import Action, ChangesPage, Op, OpResult, OpStatus, SnapshotPage

log = logging.getLogger("officesync.sync")

SERIES_LOW = 100        # lease more numbers when fewer than this are left
SERIES_BLOCK = 1000     # numbers leased at a time
SERIES_CHECK_S = 10.0
PAGE = 1000              # changes per page of the hub's feed
BULK_PAGE = 2500         # during a first download (the store's bulk load): fewer, larger pages


def to_wire(op: PendingOp) -> Op:
    return Op.model_construct(op_id=op.op_id, collection=op.collection, id=op.record_id,
                              action=Action(op.action), base_version=op.base_version,
                              data=op.data, workstation=op.workstation)


def _dataset_level(err: HubError) -> bool:
    """A refusal about this dataset (not granted, unknown) rather than about the node's link:
    it must not flip the whole node offline."""
    if isinstance(err, HubRejected):
        return True
    return isinstance(err, HubAuthFailed) and err.code is ErrorCode.FORBIDDEN


def problem_of(dataset: str, err: HubError) -> DatasetSyncState:
    """The dataset state a dataset-level refusal stands for."""
    code = getattr(err, "code", None)
    if code in REFUSAL_CODES:
        return refused(dataset, code)
    return failing(dataset, code)


class DatasetWorker:
    def __init__(
        self,
        store: DatasetStore,
        client: HubClient,
        monitor: ConnectivityMonitor,
        bus: EventBus,
        *,
        node_id: str,
        batch_size: int,
        long_poll: float,
        max_backoff: float,
        supervisor: Supervisor | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.client = client
        self.monitor = monitor
        self.bus = bus
        self.node_id = node_id
        self.batch_size = batch_size
        self.long_poll = long_poll
        self.max_backoff = max_backoff
        self.dataset_id = store.dataset_id
        self.log = dataset_log(log, self.dataset_id)
        self.last_push_at: str | None = None
        self.last_pull_at: str | None = None
        self.pushed = 0
        self.pulled = 0
        # For the node's metrics (agent/metrics.py): ops the hub refused, by error code; the
        # highest feed seq the hub has shown (a page's last_seq, a push answer's seq) and
        # this node's cursor (None until the pull loop read it).
        self.refused: dict[str, int] = {}
        self.hub_seq = 0
        self.cursor: int | None = None
        self._push_wake = asyncio.Event()   # a local write, or "sync now"
        self._manual_wake = asyncio.Event()  # "sync now" only (ends a refusal's pause)
        self._pull_wake = asyncio.Event()
        self.supervisor = supervisor or Supervisor(cap=max_backoff)
        self._names = (f"push:{self.dataset_id}", f"pull:{self.dataset_id}")
        self._running = False
        self._problems: dict[str, DatasetSyncState | None] = {"push": None, "pull": None}
        self._published = combine(self.dataset_id, [], False)
        self.clock = clock  # monotonic seconds: when the series lease is due again
        self._series_checked = 0.0

    async def load(self) -> None:
        self.last_push_at = await self.store.meta("last_push_at")
        self.last_pull_at = await self.store.meta("last_pull_at")
        await self.store.reset_syncing()

    def wake(self, *, manual: bool = False) -> None:
        """A local write wakes the push loop; "sync now" (``manual``) wakes both loops, even
        in the middle of a refused dataset's pause."""
        self._push_wake.set()
        if manual:
            self._manual_wake.set()
            self._pull_wake.set()

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        if not self._running:
            self._running = True
            self._push_wake.set()
            self.supervisor.spawn(self._names[0], self.push_loop)
            self.supervisor.spawn(self._names[1], self.pull_loop)

    async def stop(self) -> None:
        self._running = False
        await self.supervisor.cancel(*self._names)

    # -- the dataset's sync state -----------------------------------------------------------

    def sync_state(self) -> DatasetSyncState:
        tasks_failing = any(
            s is not None and s.is_failing for s in map(self.supervisor.get, self._names))
        problems = [p for p in self._problems.values() if p is not None]
        return combine(self.dataset_id, problems, tasks_failing)

    def refresh_state(self) -> None:
        """Publish a ``sync`` event when the dataset's state changed (tray, dashboard)."""
        state = self.sync_state()
        if state != self._published:
            self._published = state
            level = logging.INFO if state.ok else logging.WARNING
            self.log.log(level, "sync state %s%s", state.state,
                    f" ({state.code})" if state.code else "")
            self.bus.publish(SyncEvent.changed(self.dataset_id, state))

    def _refused(self, loop: str, err: HubError) -> None:
        self._problems[loop] = problem_of(self.dataset_id, err)
        self.log.debug("the hub refused this dataset: %s", err)
        self.refresh_state()

    def _succeeded(self, loop: str, *, hub_answered: bool) -> None:
        """A loop's round ended well: its own problem is over; a hub answer about this
        dataset also ends any refusal (the grant came)."""
        mine = self._problems[loop]
        if hub_answered or mine is None or mine.state != "refused":
            self._problems[loop] = None  # a refusal ends only with a hub answer
        if hub_answered:
            for name, problem in self._problems.items():
                if problem is not None and problem.state == "refused":
                    self._problems[name] = None
        supervised = self.supervisor.get(self._names[0 if loop == "push" else 1])
        if supervised is not None:
            supervised.ok()
        self.refresh_state()

    def _hub_failed(self, loop: str, err: HubError) -> asyncio.Event | None:
        """Record a failed hub call; return what may end the pause early."""
        if _dataset_level(err):
            self._refused(loop, err)
            return self._manual_wake
        self.monitor.report_failure(err)
        if isinstance(err, HubRateLimited):
            return self._manual_wake  # the hub's Retry-After is not cut short by writes
        return self._push_wake if loop == "push" else self._pull_wake

    async def _pause(self, backoff: Backoff, err: HubError, wake: asyncio.Event | None) -> None:
        retry_after = err.retry_after if isinstance(err, HubRateLimited) else None
        delay = backoff.next_delay(retry_after)
        self.log.debug("%s; next try in %.2f s", err, delay)
        if wake is None:
            await asyncio.sleep(delay)
            return
        await wait_woken(wake, delay)
        wake.clear()

    # -- push -------------------------------------------------------------------------------

    async def push_loop(self) -> None:
        backoff = Backoff(cap=self.max_backoff)
        while True:
            await self.monitor.wait_online()
            self._push_wake.clear()
            try:
                leased = await self._ensure_series()
                pushed = await self.drain()
            except HubError as err:
                await self._pause(backoff, err, self._hub_failed("push", err))
                continue
            backoff.reset()
            self._succeeded("push", hub_answered=leased or pushed > 0)
            if pushed == 0:
                await self._push_wake.wait()

    async def _take(self, in_flight: frozenset[str]) -> list[PendingOp]:
        batch, versions = await self.store.take_batch(self.batch_size, in_flight)
        return self._ordered(batch, versions)

    @staticmethod
    def _ordered(batch: list[PendingOp], versions: dict[str, int | None]) -> list[PendingOp]:
        ordered = order_batch(batch)
        assign_base_versions(ordered, versions)
        return ordered

    async def _store_and_take(self, batch: list[PendingOp], results: list[OpResult],
                              in_flight: list[PendingOp]) -> list[PendingOp]:
        """Store the answer to ``batch`` and, when a batch is in flight, take the one after
        it, in one transaction (one commit for both)."""
        if not in_flight:
            await self.store.store_results(batch, results)
            return []
        _, taken, versions = await self.store.store_results_and_take(
            batch, results, self.batch_size, frozenset(op.record_id for op in in_flight))
        return self._ordered(taken, versions)

    async def _send(self, batch: list[PendingOp]) -> list[OpResult]:
        self.bus.publish(SyncEvent.syncing(self.dataset_id, len(batch)))
        return await self.client.push(self.dataset_id, [to_wire(op) for op in batch])

    async def drain(self) -> int:
        """Push until nothing is ready; return how many ops went (0: nothing to send).

        Stages overlap: while the hub works on one batch, the node stores the answer to the
        previous one and takes the next one (one transaction for both); a batch never holds a
        record of the one in flight. The next batch goes before the answer to the one in
        flight only when the hub's order of the two cannot matter (:func:`independent`: both
        only creates, no reference into the other, no key of the other); otherwise it waits
        for that answer, so the hub applies dependent ops in outbox order. An op leaves the
        outbox only when its answer is stored; a push that gets no answer puts its records
        back to pending (sending again is safe: op ids replay), and so does one cancelled
        while the store takes a batch, or one whose answer came after an earlier one failed.
        """
        unsettled: list[list[PendingOp]] = []
        step: asyncio.Future[list[PendingOp]] | None = None

        async def settled(work: Awaitable[list[PendingOp]]) -> list[PendingOp]:
            """Run a step of the store that takes a batch to its end even if the drain is
            cancelled meanwhile; the batch taken is unsettled until its answer is stored."""
            nonlocal step
            step = asyncio.ensure_future(work)
            taken = await asyncio.shield(step)
            step = None
            if taken:
                unsettled.append(taken)
            return taken

        task: asyncio.Task[list[OpResult]] | None = None
        ahead: asyncio.Task[list[OpResult]] | None = None  # ``following``, sent already
        total = 0
        try:
            batch = await settled(self._take(frozenset()))
            if not batch:
                return 0
            task = asyncio.create_task(self._send(batch))
            following = await settled(self._take(frozenset(op.record_id for op in batch)))
            if following and independent(self.store.registry, batch, following):
                ahead = asyncio.create_task(self._send(following))
            while task is not None:
                results = await task
                if ahead is None and following:
                    ahead = asyncio.create_task(self._send(following))
                task, ahead = ahead, None  # ``following`` is the batch in flight now
                after = await settled(self._store_and_take(batch, results, following))
                if task is not None and after and independent(self.store.registry, following,
                                                              after):
                    ahead = asyncio.create_task(self._send(after))
                unsettled.remove(batch)
                self.monitor.report_success()
                applied = sum(1 for r in results if r.status is OpStatus.APPLIED)
                self.pushed += applied
                self._tally(results)
                total += len(batch)
                self.last_push_at = utc_now()
                self.bus.publish(SyncEvent.pushed(self.dataset_id, applied,
                                                  len(results) - applied))
                batch, following = following, after
            return total
        except BaseException:
            for sent in (t for t in (task, ahead) if t is not None):
                if not sent.done():
                    sent.cancel()
                elif not sent.cancelled():
                    sent.exception()  # retrieved: the error raised is the earlier one's
            if step is not None:  # interrupted while the store took a batch: it still may
                with contextlib.suppress(Exception):
                    taken = await asyncio.shield(step)
                    if taken:
                        unsettled.append(taken)
            for pending in unsettled:
                await asyncio.shield(self.store.requeue(pending))
            raise

    def _tally(self, results: list[OpResult]) -> None:
        for result in results:
            if result.seq is not None and result.seq > self.hub_seq:
                self.hub_seq = result.seq
            if result.status is not OpStatus.APPLIED:
                code = result.error.code.value if result.error is not None else "unknown"
                self.refused[code] = self.refused.get(code, 0) + 1

    async def _ensure_series(self) -> bool:
        """Keep a block of voucher numbers leased from the hub, so numbering offline can
        never collide with another office (S6). True when the hub answered a lease; a failed
        lease is tried again at the next round (not ``SERIES_CHECK_S`` later)."""
        if self.clock() - self._series_checked < SERIES_CHECK_S:
            return False
        remaining = await self.store.series_remaining()
        leased = False
        for schema in self.store.registry:
            if schema.series is None:
                continue
            for prefix in schema.series.prefixes.values():
                if remaining.get(prefix, 0) < SERIES_LOW:
                    lease = await self.client.lease(self.dataset_id, prefix, SERIES_BLOCK)
                    await self.store.add_series_block(lease.series, lease.start, lease.end)
                    leased = True
        self._series_checked = self.clock()
        return leased

    # -- pull -------------------------------------------------------------------------------

    async def pull_loop(self) -> None:
        backoff = Backoff(cap=self.max_backoff)
        cursor = await self.store.cursor()
        self.cursor = cursor
        caught_up = False
        snapshot = cursor == 0  # a first download reads the hub's snapshot, then the feed
        while True:
            await self.monitor.wait_online()
            self._pull_wake.clear()
            try:
                if snapshot:
                    cursor = await self.download_snapshot()
                    snapshot = False
                cursor = await self.catch_up(cursor, wait=self.long_poll if caught_up else 0)
            except HubError as err:
                caught_up = False
                await self._pause(backoff, err, self._hub_failed("pull", err))
                continue
            backoff.reset()
            self._succeeded("pull", hub_answered=True)
            caught_up = True

    async def download_snapshot(self) -> int:
        """A first download (a fresh store, or a snapshot cut short): the hub's records in id
        order at their latest versions, a page of ``BULK_PAGE`` at a time, the next one
        fetched while this one is applied; return the cursor the feed goes on from (the
        first page's ``head_seq``; 0 when the store has pulled before or the hub has no
        snapshot, whose feed is then read from 0)."""
        progress = await self.store.snapshot_due()
        if progress is None:
            return await self.store.cursor()
        page = await self.client.snapshot(self.dataset_id, progress.after, BULK_PAGE)
        if page is None:  # an older hub: the feed from 0 brings everything
            self.log.info("the hub has no snapshot: downloading through the feed")
            if progress.after is not None:
                await self.store.abandon_snapshot()
            return 0
        self.monitor.report_success()
        resumed = progress.since is not None
        since = progress.since if progress.since is not None else page.head_seq
        total = progress.total if resumed else page.total
        if resumed:
            self.log.info("resuming the first download after record %s", progress.after)
        following: asyncio.Task[SnapshotPage | None] | None = None
        try:
            while True:
                self.hub_seq = max(self.hub_seq, page.head_seq)
                following = (asyncio.create_task(self.client.snapshot(
                    self.dataset_id, page.next, BULK_PAGE)) if page.next is not None else None)
                await asyncio.shield(self.store.apply_snapshot(page, self.node_id, since,
                                                               total))
                self.pulled += len(page.records)
                self.last_pull_at = utc_now()
                if page.records:
                    self.bus.publish(SyncEvent.pulled(self.dataset_id, len(page.records), 0))
                if following is None:
                    break
                fetched = await following
                following = None
                if fetched is None:  # the hub lost the route midway (a downgrade)
                    raise invalid_response("the snapshot route went away")
                page = fetched
        finally:
            if following is not None:
                following.cancel()
        self.cursor = since
        return since

    async def catch_up(self, cursor: int, wait: float) -> int:
        """Follow the feed from ``cursor`` until it has nothing more; return the new cursor.
        The next page is fetched while this one is applied (its cursor moves with it, in the
        same transaction)."""
        self.cursor = cursor
        page = await self.client.changes(self.dataset_id, since=cursor, limit=PAGE, wait=wait)
        self.monitor.report_success()
        following: asyncio.Task[ChangesPage] | None = None
        try:
            while True:
                self.hub_seq = max(self.hub_seq, page.last_seq)
                following = (asyncio.create_task(self.client.changes(
                    self.dataset_id, since=page.last_seq,
                    limit=BULK_PAGE if self.store.downloading else PAGE, wait=0))
                    if page.has_more else None)
                if page.changes:
                    await asyncio.shield(self.store.apply_changes(page, self.node_id))
                    cursor = page.last_seq
                    self.cursor = cursor
                    self.pulled += len(page.changes)
                    self.bus.publish(SyncEvent.pulled(self.dataset_id, len(page.changes), cursor))
                self.last_pull_at = utc_now()
                if following is None:
                    if self.store.downloading:  # caught up on an empty page: end it now
                        await asyncio.shield(self.store.finish_download())
                    return cursor
                page = await following
                following = None
        finally:
            if following is not None:
                following.cancel()
