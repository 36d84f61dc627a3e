"""The hub's Prometheus metrics (docs/operations.md, "Monitoring"), one registry per app.

``GET /metrics`` answers only with ``Authorization: Bearer <token>``, the token the hub was
started with (``officesync hub serve --metrics-token-file``); without one it is off (403): the
hub faces the internet and its metrics name the datasets.

- ``officesync_hub_push_ops_total{result, code}``: ops answered by ``/push``: ``applied``,
  ``rejected`` (``code``: the error code), ``replayed`` (an op id answered before, its first
  answer given again, nothing applied; ``code`` set when that answer was a refusal);
- ``officesync_hub_request_duration_seconds{route, method, status}``: by route template;
- ``officesync_hub_long_polls``: ``/changes`` requests waiting for a change now;
- read at scrape time from the database: ``officesync_hub_feed_last_seq{dataset}`` (at most
  :data:`MAX_DATASETS` datasets) and ``officesync_hub_nodes{state}`` (active, revoked).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from httpkit import bearer_token
from httpkit.observe import latency_histogram, latency_middleware, long_polling, metrics_response
from hub import db, keys
from protocol.errors import ErrorCode, ProtocolError
from protocol.models import OpStatus

log = logging.getLogger("officesync.hub")

PATH = "/metrics"
MAX_DATASETS = 1000  # feed series at most (the hub's datasets are created by its admin)
CHANGES_SUFFIX = "/changes"


@dataclass
class DbSnapshot:
    feed: list[tuple[str, int]] = field(default_factory=list)
    nodes_active: int = 0
    nodes_revoked: int = 0


def _read_snapshot(conn: sa.Connection) -> DbSnapshot:
    feed = conn.execute(
        sa.select(db.datasets.c.id, db.datasets.c.last_seq)
        .order_by(db.datasets.c.id).limit(MAX_DATASETS)
    ).all()
    revoked = db.nodes.c.revoked_at.is_not(None)
    counts = dict(conn.execute(
        sa.select(revoked.label("revoked"), sa.func.count()).group_by(revoked)
    ).all())
    return DbSnapshot([(str(ds), int(seq)) for ds, seq in feed],
                      int(counts.get(False, 0)), int(counts.get(True, 0)))


class _DbCollector(Collector):
    def __init__(self, metrics: HubMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        snap = self.metrics.snapshot
        if snap is None:
            return []
        feed = GaugeMetricFamily("officesync_hub_feed_last_seq",
                                 "The last seq of each dataset's change feed",
                                 labels=["dataset"])
        for ds, seq in snap.feed:
            feed.add_metric([ds], seq)
        nodes = GaugeMetricFamily("officesync_hub_nodes", "Enrolled nodes by state",
                                  labels=["state"])
        nodes.add_metric(["active"], snap.nodes_active)
        nodes.add_metric(["revoked"], snap.nodes_revoked)
        return [feed, nodes]


class HubMetrics:
    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.registry = CollectorRegistry(auto_describe=True)
        self.push_ops = Counter("officesync_hub_push_ops", "Ops answered by /push",
                                ["result", "code"], registry=self.registry)
        self.latency = latency_histogram("officesync_hub_request_duration_seconds",
                                         "Hub API request latency by route template",
                                         self.registry)
        self.long_polls = Gauge("officesync_hub_long_polls",
                                "/changes requests waiting for a change now",
                                registry=self.registry)
        self.snapshot: DbSnapshot | None = None
        self.registry.register(_DbCollector(self))

    def count_push(self, results: Iterable[Any]) -> None:
        """Count one push's answers (``hub.push.PushResult``: status, replayed, error)."""
        tally: dict[tuple[str, str], int] = {}
        for result in results:
            applied = result.status is OpStatus.APPLIED
            kind = "replayed" if result.replayed else "applied" if applied else "rejected"
            error = result.error
            code = "" if applied else error.code.value if error is not None else "INTERNAL"
            key = (kind, code)
            tally[key] = tally.get(key, 0) + 1
        for (result_label, code_label), n in tally.items():
            self.push_ops.labels(result_label, code_label).inc(n)


METRICS = web.AppKey("metrics", HubMetrics)


def _long_poll_middleware(gauge: Gauge) -> Middleware:
    @web.middleware
    async def track(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not (request.path.endswith(CHANGES_SUFFIX) and long_polling(request)):
            return await handler(request)
        with gauge.track_inprogress():
            return await handler(request)

    return track


async def get_metrics(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    if metrics.token is None:
        raise ProtocolError(ErrorCode.FORBIDDEN, details={
            "reason": "metrics are off: start the hub with --metrics-token-file"})
    token = bearer_token(request) or ""
    if not hmac.compare_digest(token.encode(), metrics.token.encode()):
        raise ProtocolError(ErrorCode.UNAUTHORIZED,
                            headers={"WWW-Authenticate": 'Bearer realm="officesync-metrics"'})
    metrics.snapshot = await request.app[keys.STORE].read(_read_snapshot)
    return metrics_response(request, metrics.registry)


def observing_middlewares(metrics: HubMetrics) -> list[Middleware]:
    """Before the error middleware: latency by route template, then the long-poll gauge."""
    return [latency_middleware(metrics.latency), _long_poll_middleware(metrics.long_polls)]


def setup_metrics(app: web.Application, metrics: HubMetrics) -> None:
    app[METRICS] = metrics
    app.router.add_get(PATH, get_metrics)

