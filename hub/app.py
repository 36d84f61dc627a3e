"""The hub's aiohttp application factory: middlewares, resources and background tasks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from httpkit import MIB, configure, error_middleware
from hub import keys
from hub.feed import FeedNotifier, listen
from hub.routes import setup_routes
from hub.store import HubStore
from protocol.errors import ErrorCode, ProtocolError
from protocol.version import PROTOCOL_HEADER, PROTOCOL_VERSION

MAX_BODY = 64 * MIB
NO_PROTOCOL_CHECK = frozenset({"/v1/health"})
LISTEN_READY_TIMEOUT = 5.0


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


def create_app(db_url: str, *, min_protocol: int = 1) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[error_middleware, _protocol_middleware(min_protocol)],
    )
    configure(app, language="vi")
    app[keys.DB_URL] = db_url
    app[keys.MIN_PROTOCOL] = min_protocol
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_notifier_ctx)
    app.on_shutdown.append(_on_shutdown)
    app.on_response_prepare.append(_add_protocol_header)
    setup_routes(app)
    return app
