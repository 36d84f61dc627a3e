"""The node's status as the tray and ``officesync status`` see it, and the watcher that pushes
it to control WebSockets when it changes (bursts coalesced: at most one push per interval)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from agent import keys
from agent.datasets_admin import file_counts
from agent.events import EventType, StatusEvent
from agent.selfcheck import read_result
from protocol.connectivity import Connectivity
from protocol.errors import ErrorCode, render
from protocol.i18n import LANGUAGES
from protocol.local import Counts, DatasetStatus, DatasetSync, NodeStatus
from protocol.version import PACKAGE_VERSION

log = logging.getLogger("officesync.control")

# Events that may change what /status shows.
_RELEVANT = frozenset({EventType.RECORD, EventType.SYNC, EventType.CONNECTIVITY,
                       EventType.DATASET, EventType.WORKSTATION,
                       EventType.JOB})  # a self-check's result


async def _datasets(app: web.Application) -> list[DatasetStatus]:
    sync, stores = app[keys.SYNC], app[keys.STORES]
    found: list[DatasetStatus] = []
    for ds, connected in stores.hosted():
        # A disconnected (kept) dataset: what its file still holds, read without opening it.
        raw = (await stores.get(ds).sync_counts() if connected
               else await asyncio.to_thread(file_counts, stores.path_of(ds)))
        counts = Counts(**raw) if raw is not None else None
        # A first download: how many records have come so far (the counts' sum).
        download = (stores.get(ds).download_progress(sum(raw.values()))
                    if connected and raw is not None else None)
        backlog = stores.get(ds).search_backlog if connected else None
        found.append(DatasetStatus(id=ds, connected=connected, counts=counts, download=download,
                                   search_backlog=backlog,
                                   sync=DatasetSync.model_validate(
                                       sync.dataset_state(ds).as_json()),
                                   selfcheck=await read_result(app[keys.NODE_DB], ds)))
    return found


async def node_status(app: web.Application) -> NodeStatus:
    """The node's status as the model of the control API."""
    sync = app[keys.SYNC]
    connectivity = sync.connectivity
    ctx = app[keys.CONTEXT]
    hub = await ctx.node_db.get_setting("hub") or {}
    hub_url = ctx.config.cloud.url or hub.get("url")
    message = connectivity.messages()
    if connectivity is Connectivity.NOT_CONFIGURED and hub_url and not hub.get("node_id"):
        # A cloud URL but no enrollment: say "not enrolled yet: run officesync enroll", not
        # "no cloud configured" (the state value stays not_configured).
        message = {lang: render(ErrorCode.NOT_ENROLLED, lang) for lang in LANGUAGES}
    return NodeStatus.model_validate({
        "online": sync.online,
        "connectivity": connectivity,
        "message": message,
        "datasets": await _datasets(app),
        "workstations": app[keys.PAIRING].paired_count,
        "version": PACKAGE_VERSION,
        # Beyond the basic shape: where the hub token lives (never the token), the LAN TLS
        # fingerprint, config changes that wait for a restart, a refused config edit.
        "hub": {"url": hub_url, "node_id": hub.get("node_id"),
                "token_store": hub.get("token_store")},
        "tls_fingerprint": ctx.tls.fingerprint_sha256 if ctx.tls else None,
        "pending_restart": ctx.pending_restart,
        "config_error": ctx.config_error,
        # Background tasks in a failure streak (restarted with backoff): [] when all is well.
        "failing_tasks": [*sync.failing_tasks(), *ctx.supervisor.failing(),
                          *(t for store in app[keys.STORES].connected()
                            for t in store.tasks.failing())],
    })


async def build_status(app: web.Application) -> dict[str, Any]:
    """``GET /control/v1/status``: :class:`protocol.local.NodeStatus` as JSON."""
    return (await node_status(app)).as_json()


async def status_event(app: web.Application) -> StatusEvent:
    return StatusEvent(status=await node_status(app))


class StatusWatcher:
    """Watches the bus; while control clients are connected, publishes a ``status`` event
    when the status changed, at most once per ``interval`` seconds."""

    def __init__(self, app: web.Application, interval: float) -> None:
        self._app = app
        self._interval = interval
        self._dirty = asyncio.Event()
        self._last: StatusEvent | None = None

    async def _listen(self) -> None:
        bus = self._app[keys.BUS]
        while True:  # resubscribe if the subscription ever overflows
            with bus.subscribe(types=_RELEVANT) as sub:
                async for _event in sub:
                    self._dirty.set()
            self._dirty.set()

    async def _emit(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if self._app[keys.WEBSOCKETS]:
                try:
                    event = await status_event(self._app)
                except Exception:
                    log.exception("could not build the node status")
                else:
                    if self._last is None or event.to_json() != self._last.to_json():
                        self._last = event
                        self._app[keys.BUS].publish(event)
            await asyncio.sleep(self._interval)  # rate limit: coalesce the next burst

    async def run(self) -> None:
        await asyncio.gather(self._listen(), self._emit())


async def status_watcher_ctx(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx`` owner of the status watcher task (supervised: restarted if it fails)."""
    supervisor = app[keys.CONTEXT].supervisor
    name = f"status-watcher:{id(app):x}"  # one per control app (tests may build several)
    supervisor.spawn(name, StatusWatcher(app, app[keys.STATUS_INTERVAL]).run)
    yield
    await supervisor.cancel(name)
