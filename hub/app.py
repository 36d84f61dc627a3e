"""The hub's aiohttp application factory: middlewares, resources and background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
from aiohttp import web

from hub import keys
from hub.feed import FeedNotifier, listen
from hub.routes import setup_routes
from hub.store import HubStore
from protocol.errors import ErrorCode, ProtocolError
from protocol.i18n import pick_language
from protocol.version import PROTOCOL_HEADER, PROTOCOL_VERSION

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 64 * 1024 * 1024
NO_PROTOCOL_CHECK = frozenset({"/v1/health"})
LISTEN_READY_TIMEOUT = 5.0


def error_response(err: ProtocolError, request: web.Request) -> web.Response:
    lang = pick_language(request.headers.get("Accept-Language"))
    return web.Response(
        body=orjson.dumps(err.body(lang)), status=err.status, headers=err.headers,
        content_type="application/json",
    )


def _from_http(exc: web.HTTPException, request: web.Request) -> ProtocolError:
    if exc.status == 404:
        return ProtocolError(ErrorCode.NOT_FOUND,
                             {"what": {"vi": f"đường dẫn {request.path}",
                                       "en": f"Path {request.path}"}},
                             {"path": request.path})
    if exc.status == 405:
        return ProtocolError(ErrorCode.METHOD_NOT_ALLOWED, {}, {"method": request.method})
    if exc.status == 413:
        return ProtocolError(ErrorCode.PAYLOAD_TOO_LARGE, {"limit": f"{MAX_BODY} bytes"},
                             {"max_bytes": MAX_BODY})
    if exc.status == 415:
        return ProtocolError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, {"expected": "application/json"})
    if exc.status < 500:
        reason = {"vi": f"yêu cầu HTTP không hợp lệ (mã {exc.status})",
                  "en": f"the HTTP request is not valid (status {exc.status})"}
        return ProtocolError(ErrorCode.VALIDATION_FAILED, {"reason": reason},
                             status=exc.status)
    return ProtocolError(ErrorCode.INTERNAL, status=exc.status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place that turns errors into ``{"error": …}`` bodies; never a stack trace."""
    try:
        return await handler(request)
    except ProtocolError as err:
        return error_response(err, request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_from_http(exc, request), request)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(ProtocolError(ErrorCode.INTERNAL), request)


def _protocol_middleware(min_protocol: int) -> Callable[..., Awaitable[web.StreamResponse]]:
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
    app[keys.DB_URL] = db_url
    app[keys.MIN_PROTOCOL] = min_protocol
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_notifier_ctx)
    app.on_shutdown.append(_on_shutdown)
    app.on_response_prepare.append(_add_protocol_header)
    setup_routes(app)
    return app
