"""The hub's aiohttp application factory: middlewares, resources and background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from httpkit import MIB, bearer_token, configure, error_middleware
from hub import keys, nodes
from hub.feed import FeedNotifier, listen
from hub.metrics import PATH as METRICS_PATH
from hub.metrics import HubMetrics, observing_middlewares, setup_metrics
from hub.routes import setup_routes
from hub.store import HubStore
from protocol.errors import ErrorCode, ProtocolError
from protocol.version import PROTOCOL_HEADER, PROTOCOL_VERSION

MAX_BODY = 64 * MIB
NO_PROTOCOL_CHECK = frozenset({"/v1/health", METRICS_PATH})  # /metrics: Prometheus
LISTEN_READY_TIMEOUT = 5.0
log = logging.getLogger("officesync.hub")


def _protocol_middleware(min_protocol: int) -> Middleware:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in NO_PROTOCOL_CHECK:
            raw = request.headers.get(PROTOCOL_HEADER, "")
            version = int(raw) if raw.strip().isdigit() else None
            if version is None or not min_protocol <= version <= PROTOCOL_VERSION:
                raise ProtocolError(
                    ErrorCode.UPGRADE_REQUIRED, {},
                    {"got": raw or None, "min_protocol": min_protocol,
                     "protocol": PROTOCOL_VERSION},
                )
        return await handler(request)

    return check


SEEN_EVERY_S = 60.0  # a node's last_seen is written at most this often
_SEEN_MAX = 100_000  # token hashes remembered at once (only tokens that were served)


def _seen_middleware() -> Middleware:
    """Record a node's ``last_seen`` on its authenticated requests, at most once a minute per
    node (one small write, never one per request)."""
    written: dict[str, float] = {}

    @web.middleware
    async def seen(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)  # a refused token raises: never recorded
        token = bearer_token(request)
        if token and response.status < 400 and request.path != METRICS_PATH:  # not a node
            token_hash = nodes.sha256(token)
            now = time.monotonic()
            if now - written.get(token_hash, -SEEN_EVERY_S) >= SEEN_EVERY_S:
                if len(written) >= _SEEN_MAX:
                    written.clear()
                written[token_hash] = now
                try:
                    await request.app[keys.STORE].write(
                        nodes.mark_seen, [token_hash], nodes.now().isoformat())
                except Exception:  # last seen is a hint: never fail the request for it
                    log.warning("could not record last_seen", exc_info=True)
        return response

    return seen


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    store = HubStore(app[keys.DB_URL])
    await store.open()
    app[keys.STORE] = store
    yield
    await store.close()


async def _notifier_ctx(app: web.Application) -> AsyncIterator[None]:
    notifier = FeedNotifier()
    app[keys.NOTIFIER] = notifier
    store = app[keys.STORE]
    task: asyncio.Task[None] | None = None
    if store.postgres:
        ready = asyncio.Event()
        task = asyncio.create_task(listen(store.conninfo, notifier, ready))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), LISTEN_READY_TIMEOUT)
    yield
    notifier.close()
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _on_shutdown(app: web.Application) -> None:
    if keys.NOTIFIER in app:
        app[keys.NOTIFIER].close()  # long-polls answer now instead of holding shutdown


async def _add_protocol_header(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers[PROTOCOL_HEADER] = str(PROTOCOL_VERSION)


def create_app(db_url: str, *, min_protocol: int = 1,
               metrics_token: str | None = None) -> web.Application:
    """``metrics_token``: the Bearer token ``GET /metrics`` asks for (None: metrics off)."""
    metrics = HubMetrics(metrics_token)
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[*observing_middlewares(metrics), error_middleware,
                     _protocol_middleware(min_protocol), _seen_middleware()],
    )
    configure(app, language="vi")
    app[keys.DB_URL] = db_url
    app[keys.MIN_PROTOCOL] = min_protocol
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_notifier_ctx)
    app.on_shutdown.append(_on_shutdown)
    app.on_response_prepare.append(_add_protocol_header)
    setup_routes(app)
    setup_metrics(app, metrics)
    return app
