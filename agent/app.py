"""The composition root of a node: builds the shared context (config, bus, stores, node.db,
sync, pairing), the LAN and control aiohttp applications on it, and runs both.

Tests build a context with :func:`build_context`, apps with :func:`create_lan_app` /
:func:`create_control_app` and the aiohttp test client, then ``await ctx.close()``. A real sync
engine is plugged in through ``build_context(..., sync_factory=...)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from agent import keys
from agent.config import Config
from agent.config_watch import ConfigWatcher
from agent.control_api import setup_control_api
from agent.dashboard import setup_dashboard
from agent.diagnostics import History, log_ring
from agent.discovery import Advertiser, advertised_addresses
from agent.events import EventBus
from agent.inbox import start_inbox
from agent.jobs import JobManager, repair_kinds
from agent.lan_api import setup_lan_api
from agent.lan_api.guard import lan_limits
from agent.lan_api.listener import LISTENING, GuardedSite, guard_app
from agent.lan_api.pairing import Clock, Pairing
from agent.lan_api.websocket import close_websockets
from agent.lan_api.xml_routes import setup_control_xml
from agent.lifecycle import LiveSync, apply_config
from agent.metrics import NodeMetrics
from agent.runtime import (
    RuntimeInfo,
    ensure_control_token,
    hold_data_dir,
    remove_runtime,
    write_runtime,
)
from agent.selfcheck import SelfChecker
from agent.service.sdnotify import SystemdNotifier, watchdog_loop
from agent.store import StoreManager
from agent.store.node import NodeDB
from agent.supervisor import Supervisor
from agent.sync.api import SyncControl
from agent.sync.factory import make_sync
from agent.sync.standalone import StandaloneSync
from agent.tls import TlsMaterial, ensure_certificate, server_ssl_context

log = logging.getLogger("officesync.node")

MIB = 1024 * 1024
# The whole shutdown (config watcher, sync, both servers) fits in this, under systemd's and
# the tests' 10 s: each step gets what is left, a step that overruns is cut short and logged.
SHUTDOWN_TIMEOUT_S = 8.0
SERVER_SHUTDOWN_S = 2.0
LAST_SEEN_FLUSH_S = 60.0
STATUS_INTERVAL_S = 0.2


@dataclass
class NodeContext:
    """Everything both apps share. ``on_close`` callbacks run in reverse order on close."""

    config: Config
    bus: EventBus
    node_db: NodeDB
    stores: StoreManager
    pairing: Pairing
    sync: SyncControl
    clock: Clock = time.time
    tls: TlsMaterial | None = None
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Config changes that wait for a restart ({"vi", "en"}), shown by status.
    pending_restart: dict[str, str] | None = None
    # Why the last edit of the config file was refused (the running config stays).
    config_error: str | None = None
    # The node's own background loops (status watcher, last-seen flush); sync has its own.
    supervisor: Supervisor = field(default_factory=Supervisor)
    # The repair jobs (download, maintenance; agent/jobs.py), set by build_context.
    jobs: JobManager | None = None
    # The live config watcher, once the node runs from a config file (dataset connect).
    config_watcher: ConfigWatcher | None = None
    # Connectivity and dataset transitions for the diagnostics bundle (bounded ring).
    history: History | None = None
    # The node's Prometheus metrics (GET /metrics on the control port; agent/metrics.py).
    metrics: NodeMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = NodeMetrics(self)

    async def close(self) -> None:
        await self.supervisor.stop()
        for callback in reversed(self.on_close):
            try:
                await callback()
            except Exception:
                log.exception("error while closing the node")
        self.on_close.clear()
        self.bus.close()


SyncFactory = Callable[[NodeContext], Awaitable[SyncControl]]


async def default_sync(ctx: NodeContext) -> SyncControl:
    """The sync engine when this node is enrolled with a hub, else the standalone toggle;
    behind a :class:`LiveSync` so a config change can swap it while the node runs."""
    live = LiveSync(await make_sync(ctx.config, ctx.stores, ctx.node_db, ctx.bus))
    ctx.on_close.append(live.close)
    return live


def _hostnames(host: str) -> list[str]:
    names = [socket.gethostname(), "localhost", "127.0.0.1", "::1"]
    if host not in ("0.0.0.0", "::", ""):
        names.append(host)
    return names


async def build_context(
    config: Config, *, clock: Clock = time.time, sync_factory: SyncFactory | None = None
) -> NodeContext:
    """Open node.db and every configured dataset; ``sync_factory`` makes ``ctx.sync`` (default:
    :class:`StandaloneSync`) and may register its own shutdown in ``ctx.on_close``."""
    data_dir = config.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    bus = EventBus()
    history = History(bus)  # subscribed before anything publishes
    log_ring()  # the recent log lines the diagnostics bundle shows when there is no log file
    node_db = NodeDB(data_dir / "node.db")
    await node_db.open()
    closers: list[Callable[[], Awaitable[None]]] = [node_db.close]
    try:
        node_id = await node_db.get_setting("node_id")
        if node_id is None:
            node_id = str(uuid.uuid4())
            await node_db.set_setting("node_id", node_id)
        stores = StoreManager(data_dir, bus=bus, node_id=node_id, language=config.node.language)
        closers.append(stores.close)
        await stores.open(config.dataset_ids)
        pairing = await Pairing.load(node_db, bus, clock)
        closers.append(pairing.flush_seen)
        ctx = NodeContext(config, bus, node_db, stores, pairing, StandaloneSync(node_db, bus),
                          clock=clock, on_close=closers)
        ctx.history = history
        ctx.supervisor.spawn("diagnostics-history", history.follow)
        if config.lan.tls:
            ctx.tls = await asyncio.to_thread(
                ensure_certificate, data_dir, _hostnames(config.lan.host), config.node.name
            )
        ctx.sync = await (sync_factory or default_sync)(ctx)
        ctx.jobs = JobManager(node_db, bus, lambda: ctx.sync, ctx.supervisor)
        ctx.jobs.kinds.update(repair_kinds(stores, lambda: ctx.sync))
        await ctx.jobs.recover()  # a job the last run left running: interrupted, not lost
        return ctx
    except BaseException:
        for closer in reversed(closers):
            await closer()
        raise


def _base_app(ctx: NodeContext, client_max_size: int) -> web.Application:
    app = web.Application(client_max_size=client_max_size)
    app[keys.CONTEXT] = ctx
    app[keys.CONFIG] = ctx.config
    app[keys.BUS] = ctx.bus
    app[keys.STORES] = ctx.stores
    app[keys.NODE_DB] = ctx.node_db
    app[keys.SYNC] = ctx.sync
    app[keys.PAIRING] = ctx.pairing
    app[keys.WEBSOCKETS] = set()
    app.on_shutdown.append(close_websockets)
    return app


async def _last_seen_ctx(app: web.Application) -> AsyncIterator[None]:
    """Flush workstations' ``last_seen`` every minute (never per request)."""
    pairing = app[keys.PAIRING]
    supervisor = app[keys.CONTEXT].supervisor

    async def loop() -> None:
        while True:
            await asyncio.sleep(LAST_SEEN_FLUSH_S)
            await pairing.flush_seen()  # a failure: logged and retried by the supervisor

    name = f"last-seen-flush:{id(app):x}"  # one per app (tests may build several)
    supervisor.spawn(name, loop)
    yield
    await supervisor.cancel(name)


def create_lan_app(ctx: NodeContext) -> web.Application:
    app = _base_app(ctx, int(ctx.config.lan.max_body_mb * MIB))
    setup_lan_api(app)
    setup_dashboard(app)
    app.middlewares.insert(0, ctx.metrics.lan_middleware())  # latency by route template
    app.cleanup_ctx.append(_last_seen_ctx)
    guard_app(app, "LAN", lan_limits(ctx.config.lan))
    return app


def create_control_app(
    ctx: NodeContext, *, status_interval: float = STATUS_INTERVAL_S
) -> web.Application:
    # Bodies up to an inbox file: officesync import posts the file here.
    app = _base_app(ctx, max(MIB, int(ctx.config.inbox.max_file_mb * MIB)))
    app[keys.CONTROL_TOKEN] = ensure_control_token(ctx.config.data_dir)
    app[keys.STATUS_INTERVAL] = status_interval
    setup_control_api(app)
    setup_control_xml(app)  # officesync export|import
    guard_app(app, "control", lan_limits(ctx.config.lan, capped=False))  # loopback: no caps
    return app


# --- running -------------------------------------------------------------------------------


def _url(host: str, port: int, scheme: str = "http") -> str:
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"  # a URL local tools can connect to
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


async def _start(
    app: web.Application, host: str, port: int, tls: TlsMaterial | None = None
) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=SERVER_SHUTDOWN_S,
                           access_log=None)
    await runner.setup()
    ssl_context = server_ssl_context(tls) if tls is not None else None
    listening = app.get(LISTENING)
    site: web.BaseSite
    if listening is None:
        site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl_context)
    else:  # connection caps, header/body timeouts, TLS counted from the first packet
        guard = listening.start_guard(lambda: app[keys.CONTEXT].config.node.language,
                                      ssl_context)
        site = GuardedSite(runner, host, port, guard)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, int(bound)


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: no handlers
            loop.add_signal_handler(sig, stop.set)
    return stop


async def run_node(
    config: Config, *, sync_factory: SyncFactory | None = None, stop: asyncio.Event | None = None
) -> None:
    """Run the node until SIGTERM/SIGINT (or ``stop`` is set), then shut down cleanly: the
    current transaction finishes, WebSockets close with a reason, sync loops stop, within
    ``SHUTDOWN_TIMEOUT_S``; the queue resumes where it was at the next start.

    First of all it takes the data dir's lock: a second process on the same data dir raises
    :class:`agent.runtime.DataDirBusy` before it opens a database or writes a file."""
    with hold_data_dir(config.data_dir):
        await _run_locked(config, sync_factory, stop)


async def _run_locked(
    config: Config, sync_factory: SyncFactory | None, stop: asyncio.Event | None
) -> None:
    stop = stop or _stop_event()
    notifier = SystemdNotifier.from_env()
    ctx = await build_context(config, sync_factory=sync_factory)
    runners: list[web.AppRunner] = []
    services: list[Callable[[], Awaitable[None]]] = []
    pid = os.getpid()
    try:
        lan_runner, lan_port = await _start(
            create_lan_app(ctx), config.lan.host, config.lan.port, ctx.tls
        )
        runners.append(lan_runner)
        control_runner, control_port = await _start(
            create_control_app(ctx), config.control.host, config.control.port
        )
        runners.append(control_runner)
        lan_url = _url(config.lan.host, lan_port, "https" if ctx.tls else "http")
        control_url = _url(config.control.host, control_port)
        write_runtime(config.data_dir,
                      RuntimeInfo(pid=pid, lan_url=lan_url, control_url=control_url))
        services += await _start_services(ctx, lan_port)
        log.info("LAN API on %s:%d, control API on %s", config.lan.host, lan_port, control_url)
        notifier.ready(status=f"serving {lan_url}")
        print(f"officesync node ready: lan={lan_url} control={control_url}", flush=True)
        await stop.wait()
        notifier.stopping()
        log.info("shutting down")
    finally:
        # Sync first (no hub traffic after "shutting down"; a config reload still swapping
        # the engine then starts nothing), the config watcher and other services, then the
        # servers; stores close last.
        steps = [ctx.sync.close, *reversed(services), *(r.cleanup for r in reversed(runners))]
        await _shutdown(steps, SHUTDOWN_TIMEOUT_S)
        await ctx.close()
        remove_runtime(config.data_dir, pid)
        notifier.close()
        log.info("stopped")


async def _shutdown(steps: list[Callable[[], Awaitable[None]]], budget: float) -> None:
    """Run each step in order within what is left of ``budget`` (at least half a second
    each); a step that fails or overruns is logged and the next one runs."""
    deadline = time.monotonic() + budget
    for step in steps:
        left = max(0.5, deadline - time.monotonic())
        began = time.monotonic()
        try:
            await asyncio.wait_for(step(), left)
            log.debug("shutdown: %s in %.2f s", getattr(step, "__qualname__", step),
                      time.monotonic() - began)
        except TimeoutError:
            log.warning("shutdown: %s took over %.1f s; going on",
                        getattr(step, "__qualname__", step), left)
        except Exception:
            log.exception("shutdown: %s failed; going on", getattr(step, "__qualname__", step))


async def _start_services(ctx: NodeContext, lan_port: int) -> list[Callable[[], Awaitable[None]]]:
    """The systemd watchdog, the mDNS advertisement and the config watcher; returns how to stop
    each. None of them may stop the node from serving if it fails to start."""
    stops: list[Callable[[], Awaitable[None]]] = []
    watchdog = asyncio.create_task(watchdog_loop(), name="systemd-watchdog")

    async def stop_watchdog() -> None:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog

    stops.append(stop_watchdog)
    config = ctx.config
    advertiser: Advertiser | None = None
    if config.discovery.enabled:
        advertiser = Advertiser(
            config.node.name, lan_port, datasets=config.dataset_ids,
            fingerprint=ctx.tls.fingerprint_sha256 if ctx.tls else None,
            addresses=advertised_addresses(config.lan.host),
        )
        try:
            await advertiser.start()
            stops.append(advertiser.stop)
        except Exception:
            log.exception("mDNS advertisement failed; workstations can still use the address")
            advertiser = None
    if config.source is not None:
        async def on_change(old: Config, new: Config) -> None:
            ctx.config_error = None
            await apply_config(ctx, old, new)
            if advertiser is not None:
                await advertiser.update(datasets=ctx.config.dataset_ids,
                                        node_name=ctx.config.node.name)

        async def on_refused(reason: str) -> None:
            ctx.config_error = reason
            log.error("config change refused, keeping the running one: %s", reason)

        watcher = ConfigWatcher(config.source, config.model_copy(deep=True), on_change,
                                on_refused=on_refused)
        await watcher.start()
        ctx.config_watcher = watcher
        stops.append(watcher.stop)
    # The node's own data check against the cloud ([selfcheck] enabled is read each round).
    ctx.supervisor.spawn("selfcheck", SelfChecker(ctx).run)
    inbox = start_inbox(ctx)  # the XML drop folder, supervised
    if inbox is not None:
        stops.append(inbox)
    return stops
