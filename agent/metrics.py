"""The node's Prometheus metrics, ``GET /metrics`` on the control port (docs/operations.md,
"Monitoring"). One :class:`NodeMetrics` per node context, with its own registry (never the
process-wide one: tests build many nodes in one process).

Like every control route it needs the local admin token (``Authorization: Bearer`` with the
content of ``<data_dir>/control.token``; Prometheus: ``authorization.credentials_file``), and
the control port listens on loopback only.

Counted as it happens: the LAN API's request latency by route template
(``officesync_node_lan_request_duration_seconds``). Read at scrape time, cheaply: the sync
workers' counters (ops pushed, ops the hub refused by code, changes pulled, the feed cursor and
the hub's last seq), the outbox of each dataset (ops queued, in trouble, age of the oldest
pending one: a count, a partial index and one row by primary key), connectivity, each
dataset's sync state, the running jobs' progress and the last self-check. Labels are bounded:
datasets are the hosted ones, codes and states closed enums, routes the app's templates.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from agent import keys
from agent.jobs import ACTIVE
from agent.lifecycle import LiveSync
from agent.selfcheck import read_result
from agent.store import rows
from agent.store.states import FAILED_OPS, OutboxState, sql_in, sql_value
from agent.sync.engine import SyncEngine
from agent.sync.worker import DatasetWorker
from httpkit.observe import latency_histogram, latency_middleware, metrics_response
from protocol.connectivity import Connectivity
from protocol.local import SelfCheckState

if TYPE_CHECKING:
    from agent.app import NodeContext

log = logging.getLogger("officesync.metrics")

PATH = "/metrics"
READ_TIMEOUT_S = 5.0  # a dataset whose outbox cannot be read in this is left out of a scrape
MAX_JOBS = 100
SYNC_STATES = ("ok", "refused", "failing")
_FAILED = sql_in(FAILED_OPS)  # literal: the partial index outbox_failed must match it


@dataclass(frozen=True)
class QueueStats:
    ops: int
    failed: int
    oldest_pending_at: str | None


@dataclass(frozen=True)
class JobStats:
    dataset: str
    kind: str
    state: str
    done: int
    total: int


@dataclass
class Snapshot:
    """What the last scrape read from the databases (the collector turns it into metrics)."""

    queues: dict[str, QueueStats] = field(default_factory=dict)
    jobs: list[JobStats] = field(default_factory=list)
    selfcheck: dict[str, tuple[str, str | None]] = field(default_factory=dict)


def read_queue(conn: sqlite3.Connection) -> QueueStats:
    ops = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    failed = conn.execute(f"SELECT count(*) FROM outbox WHERE state IN {_FAILED}").fetchone()[0]
    oldest = conn.execute("SELECT created_at FROM outbox WHERE state = "
                          f"{sql_value(OutboxState.PENDING)} "
                          "ORDER BY seq LIMIT 1").fetchone()
    return QueueStats(int(ops), int(failed), oldest[0] if oldest else None)


def _timestamp(iso: str | None) -> float | None:
    """Unix time of an ISO 8601 time the store wrote."""
    at = rows.parse_time(iso)
    return None if at is None else at.timestamp()


def _age_s(iso: str | None, now: float) -> float | None:
    at = _timestamp(iso)
    return None if at is None else max(0.0, now - at)


def workers_of(ctx: NodeContext) -> dict[str, DatasetWorker]:
    """The sync workers of the running engine ({} standalone or not enrolled)."""
    target = ctx.sync.target if isinstance(ctx.sync, LiveSync) else ctx.sync
    return dict(target.workers) if isinstance(target, SyncEngine) else {}


class _NodeCollector(Collector):
    def __init__(self, metrics: NodeMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        ctx, snap = self.metrics.ctx, self.metrics.snapshot
        yield from self._sync(ctx)
        yield from self._queues(snap)
        yield from self._states(ctx)
        yield from self._jobs(snap)
        yield from self._selfcheck(snap)

    @staticmethod
    def _sync(ctx: NodeContext) -> Iterable[Metric]:
        pushed = CounterMetricFamily("officesync_node_ops_pushed",
                                     "Ops the hub applied, by dataset", labels=["dataset"])
        refused = CounterMetricFamily("officesync_node_ops_refused",
                                      "Ops the hub refused, by dataset and error code",
                                      labels=["dataset", "code"])
        pulled = CounterMetricFamily("officesync_node_changes_pulled",
                                     "Changes of the hub's feed applied here, by dataset",
                                     labels=["dataset"])
        cursor = GaugeMetricFamily("officesync_node_feed_cursor",
                                   "The last feed seq applied here", labels=["dataset"])
        hub_seq = GaugeMetricFamily("officesync_node_feed_hub_seq",
                                    "The highest feed seq the hub has shown this node",
                                    labels=["dataset"])
        lag = GaugeMetricFamily("officesync_node_feed_lag",
                                "Changes of the hub's feed not applied here yet (hub seq minus "
                                "cursor)", labels=["dataset"])
        for ds, worker in sorted(workers_of(ctx).items()):
            pushed.add_metric([ds], worker.pushed)
            pulled.add_metric([ds], worker.pulled)
            for code, n in sorted(worker.refused.items()):
                refused.add_metric([ds, code], n)
            if worker.cursor is not None:
                cursor.add_metric([ds], worker.cursor)
                hub_seq.add_metric([ds], max(worker.hub_seq, worker.cursor))
                lag.add_metric([ds], max(0, worker.hub_seq - worker.cursor))
        return [pushed, refused, pulled, cursor, hub_seq, lag]

    @staticmethod
    def _queues(snap: Snapshot) -> Iterable[Metric]:
        ops = GaugeMetricFamily("officesync_node_queue_ops",
                                "Ops queued to push (the outbox), by dataset", labels=["dataset"])
        failed = GaugeMetricFamily("officesync_node_queue_failed_ops",
                                   "Queued ops held back (error, conflict, blocked)",
                                   labels=["dataset"])
        age = GaugeMetricFamily("officesync_node_queue_oldest_age_seconds",
                                "Age of the oldest op waiting to be pushed (0: none waits)",
                                labels=["dataset"])
        now = time.time()
        for ds, stats in sorted(snap.queues.items()):
            ops.add_metric([ds], stats.ops)
            failed.add_metric([ds], stats.failed)
            age.add_metric([ds], _age_s(stats.oldest_pending_at, now) or 0.0)
        return [ops, failed, age]

    @staticmethod
    def _states(ctx: NodeContext) -> Iterable[Metric]:
        online = GaugeMetricFamily("officesync_node_online",
                                   'The "Làm việc online / Work online" toggle (1: on)')
        online.add_metric([], 1 if ctx.sync.online else 0)
        connectivity = GaugeMetricFamily("officesync_node_connectivity",
                                         "The connection to the hub: 1 for the current state",
                                         labels=["state"])
        current = ctx.sync.connectivity
        for state in Connectivity:
            connectivity.add_metric([state.value], 1 if state is current else 0)
        sync_state = GaugeMetricFamily("officesync_node_sync_state",
                                       "Each dataset's sync state: 1 for the current one",
                                       labels=["dataset", "state"])
        backlog = GaugeMetricFamily("officesync_node_search_backlog_records",
                                    "Records a first download left to the search indexes, "
                                    "still to enter them (0: none)", labels=["dataset"])
        for store in sorted(ctx.stores.connected(), key=lambda s: s.dataset_id):
            ds = store.dataset_id
            now_state = ctx.sync.dataset_state(ds).state
            for state_name in SYNC_STATES:
                sync_state.add_metric([ds, state_name], 1 if now_state == state_name else 0)
            backlog.add_metric([ds], store.search_backlog or 0)
        return [online, connectivity, sync_state, backlog]

    @staticmethod
    def _jobs(snap: Snapshot) -> Iterable[Metric]:
        active = GaugeMetricFamily("officesync_node_job_active",
                                   "Repair jobs queued or running (1 each)",
                                   labels=["dataset", "kind", "state"])
        done = GaugeMetricFamily("officesync_node_job_items_done",
                                 "What a running job has done (records compared or loaded)",
                                 labels=["dataset", "kind"])
        expected = GaugeMetricFamily("officesync_node_job_items_expected",
                                     "What a running job has to do in all (0: not known yet)",
                                     labels=["dataset", "kind"])
        for job in snap.jobs:
            active.add_metric([job.dataset, job.kind, job.state], 1)
            done.add_metric([job.dataset, job.kind], job.done)
            expected.add_metric([job.dataset, job.kind], job.total)
        return [active, done, expected]

    @staticmethod
    def _selfcheck(snap: Snapshot) -> Iterable[Metric]:
        state = GaugeMetricFamily("officesync_node_selfcheck_state",
                                  "The last self-check of each dataset: 1 for its result",
                                  labels=["dataset", "state"])
        checked = GaugeMetricFamily("officesync_node_selfcheck_checked_timestamp_seconds",
                                    "When the last self-check ran (Unix time)",
                                    labels=["dataset"])
        for ds, (result, checked_at) in sorted(snap.selfcheck.items()):
            for known in SelfCheckState:
                state.add_metric([ds, known.value], 1 if known.value == result else 0)
            at = _timestamp(checked_at)
            if at is not None:
                checked.add_metric([ds], at)
        return [state, checked]


class NodeMetrics:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.registry = CollectorRegistry(auto_describe=True)
        self.lan_latency = latency_histogram(
            "officesync_node_lan_request_duration_seconds",
            "LAN API request latency by route template", self.registry)
        self.snapshot = Snapshot()
        self.registry.register(_NodeCollector(self))

    def lan_middleware(self) -> Middleware:
        return latency_middleware(self.lan_latency)

    async def _queue(self, ds: str) -> QueueStats | None:
        try:
            store = self.ctx.stores.get(ds)
            return await asyncio.wait_for(store.readers.run(read_queue), READ_TIMEOUT_S)
        except Exception as err:  # a dataset being disconnected, a busy disk: left out
            log.warning("metrics: could not read the queue: %s", err, extra={"dataset": ds})
            return None

    async def refresh(self) -> Snapshot:
        """Read what the collector shows from the stores and node.db (bounded)."""
        ctx = self.ctx
        datasets = sorted(s.dataset_id for s in ctx.stores.connected())
        snap = Snapshot()
        for ds, stats in zip(datasets, await asyncio.gather(*map(self._queue, datasets)),
                             strict=True):
            if stats is not None:
                snap.queues[ds] = stats
        for job in await ctx.node_db.list_jobs(states=ACTIVE, limit=MAX_JOBS):
            snap.jobs.append(JobStats(job.dataset, job.kind, job.state, job.done, job.total))
        for ds in datasets:
            result = await read_result(ctx.node_db, ds)
            snap.selfcheck[ds] = (result.state.value, result.checked_at)
        self.snapshot = snap
        return snap


async def get_metrics(request: web.Request) -> web.Response:
    metrics = request.app[keys.CONTEXT].metrics
    await metrics.refresh()
    return metrics_response(request, metrics.registry)


def add_metrics_route(app: web.Application) -> None:
    app.router.add_get(PATH, get_metrics)
