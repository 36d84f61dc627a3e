"""The node's listening sockets with the limits of :mod:`agent.lan_api.guard` applied.

:class:`GuardedSite` replaces aiohttp's ``TCPSite``: every accepted socket gets a
:class:`GuardedHandler` (aiohttp's own ``RequestHandler`` plus the guard), which

- asks the listener's :class:`~agent.lan_api.guard.ConnectionTable` before anything else and
  aborts a refused connection at once (no parser, no task, no TLS handshake);
- does the TLS handshake itself (``loop.start_tls``) so that a connection is counted from its
  first packet, and a handshake that never finishes is bounded by ``header_timeout_s``;
- closes a connection whose request headers do not arrive within ``header_timeout_s``;
- answers a request aiohttp cannot parse (a URL over 8 KB, a header too long, garbage) with the
  node's JSON error body instead of aiohttp's plain text, logged at DEBUG only.

The two middlewares tell the handler when a request is being handled (it then stops counting as
idle) and read the body within ``body_timeout_s`` (408 ``REQUEST_TIMEOUT`` otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, LineTooLong
from aiohttp.typedefs import Handler, Middleware

from agent.lan_api.guard import KEEPALIVE_S, ConnectionTable, Limits, Verdict
from httpkit import error_json, error_response
from protocol.errors import ErrorCode, ProtocolError
from protocol.i18n import Lang, Text

if sys.platform != "win32":  # Windows has no RLIMIT_NOFILE to raise
    import resource

log = logging.getLogger("officesync.listener")

MAX_LINE = 8190  # bytes of the request line and of one header (aiohttp's default)
LINGER_S = 2.0  # seconds spent discarding an unread body before closing


class Guard:
    """One listener's limits, table and TLS context, shared by all of its connections."""

    def __init__(self, name: str, limits: Limits, *, language: Callable[[], Lang],
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.name = name
        self.limits = limits
        self.table: ConnectionTable[GuardedHandler] = ConnectionTable(limits)
        self.language = language
        self.ssl_context = ssl_context

    @property
    def stats(self) -> dict[str, int]:
        return {**self.table.stats.as_json(), "open": len(self.table)}

    def protocol_factory(self, server: web.Server) -> Callable[[], GuardedHandler]:
        loop = asyncio.get_running_loop()
        kwargs: dict[str, Any] = {
            "loop": loop, "keepalive_timeout": KEEPALIVE_S, "access_log": None,
            "max_line_size": MAX_LINE, "max_field_size": MAX_LINE, "lingering_time": LINGER_S,
        }
        return lambda: GuardedHandler(server, self, **kwargs)

    def refused(self, verdict: Verdict, address: str) -> None:
        limit = (self.limits.max_connections_per_ip if verdict is Verdict.REFUSE_ADDRESS
                 else self.limits.max_connections)
        log.warning("%s: refused a connection from %s (%s, limit %s)",
                    self.name, address, verdict.value, limit)


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    host = peer[0] if isinstance(peer, tuple) and peer else "unknown"
    return str(host).removeprefix("::ffff:")


class GuardedHandler(web.RequestHandler):
    """aiohttp's connection handler, admitted by the guard and watched by a header timer."""

    def __init__(self, manager: web.Server, guard: Guard, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._raw: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None  # when the headers being awaited are late
        self._started = False  # aiohttp's side was told about the connection
        self._in_request = False
        self._tls_buffer: list[bytes] | None = None
        self._tls_task: asyncio.Task[None] | None = None

    # --- connection life -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._raw = transport
        address = _peer(transport)
        verdict, evicted = self._guard.table.admit(self, address)
        if evicted is not None:
            log.debug("%s: closing an idle connection to make room", self._guard.name)
            evicted.close_now()
        if verdict is not Verdict.ADMIT:
            self._guard.refused(verdict, address)
            transport.abort()
            return
        self._arm()
        if self._guard.ssl_context is None:
            self._start(transport)
        else:
            transport.pause_reading()
            self._tls_buffer = []
            self._tls_task = asyncio.ensure_future(self._handshake(transport))

    def _start(self, transport: asyncio.Transport) -> None:
        self._started = True
        super().connection_made(transport)

    async def _handshake(self, raw: asyncio.Transport) -> None:
        assert self._guard.ssl_context is not None
        loop = asyncio.get_running_loop()
        try:
            tls = await loop.start_tls(raw, self, self._guard.ssl_context, server_side=True,
                                       ssl_handshake_timeout=self._guard.limits.header_timeout_s)
        except Exception as err:  # the peer left, spoke no TLS or was too slow: all the same
            log.debug("%s: TLS handshake failed: %r", self._guard.name, err)
            self._forget()
            return
        if tls is None:
            self._forget()
            return
        buffered, self._tls_buffer = self._tls_buffer or [], None
        self._start(tls)
        for chunk in buffered:
            self.data_received(chunk)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._forget()
        if self._started:
            super().connection_lost(exc)

    def _forget(self) -> None:
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._guard.table.release(self)

    def close_now(self) -> None:
        """Close at once (evicted to make room, or too slow)."""
        self._forget()
        if self._started:
            self.force_close()
        elif self._raw is not None:
            self._raw.abort()
        if self._tls_task is not None:
            self._tls_task.cancel()

    # --- the header timer ----------------------------------------------------------------
    # A deadline per request, one timer per connection: the timer is not cancelled when the
    # headers arrive (that was a timer made and cancelled per request); when it fires, it
    # either finds no deadline (nothing awaited: it stops), a later one (a later request's
    # clock: it waits for that) or a deadline passed (it closes the connection).

    def _arm(self) -> None:
        timeout = self._guard.limits.header_timeout_s
        if self._deadline is not None or timeout <= 0:
            return  # the clock runs from the first byte, not the last
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + timeout
        if self._timer is None:
            self._timer = loop.call_at(self._deadline, self._headers_late)

    def _headers_late(self) -> None:
        self._timer = None
        deadline = self._deadline
        if self._in_request or deadline is None:
            return
        loop = asyncio.get_running_loop()
        if deadline - loop.time() > 0.001:  # a later request's clock
            self._timer = loop.call_at(deadline, self._headers_late)
            return
        self._deadline = None
        self._guard.table.stats.header_timeouts += 1
        log.debug("%s: request headers not received in %gs, closing", self._guard.name,
                  self._guard.limits.header_timeout_s)
        self.close_now()

    def data_received(self, data: bytes) -> None:
        if self._tls_buffer is not None:  # decrypted data before start_tls() returned
            self._tls_buffer.append(data)
            return
        if not self._in_request:
            self._arm()  # the first byte of a request starts its header clock
        super().data_received(data)

    def request_started(self) -> None:
        self._deadline = None  # the timer, if it fires, finds nothing to do
        self._in_request = True
        self._guard.table.started(self)

    def request_busy(self) -> None:
        """Headers and body are in: the request is being handled, not evictable any more."""
        self._guard.table.set_busy(self, True)

    def request_finished(self) -> None:
        self._in_request = False
        self._guard.table.set_busy(self, False)

    # --- requests aiohttp could not parse ------------------------------------------------

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        self._guard.table.stats.bad_requests += 1
        log.debug("%s: bad request from %s: %r", self._guard.name, request.remote, exc)
        if request.writer.output_size > 0:
            raise ConnectionError("response already started")
        err = bad_request(status, exc)
        resp = error_json(err, self._guard.language())
        resp.force_close()
        return resp


def bad_request(status: int, exc: BaseException | None) -> ProtocolError:
    """The JSON error of a request the HTTP parser refused, in words a person can act on."""
    if isinstance(exc, LineTooLong):
        reason = Text(f"địa chỉ (URL) hoặc một tiêu đề quá dài, tối đa {MAX_LINE} byte",
                      f"the address (URL) or a header is too long, at most {MAX_LINE} bytes")
        details: dict[str, Any] = {"limit_bytes": MAX_LINE}
    elif isinstance(exc, BadHttpMethod) and "HTTPS" in str(exc):
        reason = Text("máy chủ này dùng http://, không phải https://",
                      "this server speaks http://, not https://")
        details = {}
    else:
        reason = Text("yêu cầu HTTP không đúng định dạng", "malformed HTTP request")
        details = {}
    return ProtocolError(ErrorCode.VALIDATION_FAILED, {"reason": reason}, details,
                         status=status if 400 <= status < 500 else 400)


# --- middlewares -------------------------------------------------------------------------


def _guarded(request: web.Request) -> GuardedHandler | None:
    proto = request.protocol
    return proto if isinstance(proto, GuardedHandler) else None


@web.middleware
async def track_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: the headers are in (stop their clock); the request ends when this returns."""
    conn = _guarded(request)
    if conn is None:
        return await handler(request)
    conn.request_started()
    if not request.body_exists:
        conn.request_busy()
    try:
        return await handler(request)
    finally:
        conn.request_finished()


def body_timeout_middleware(timeout_s: float) -> Middleware:
    """Read a request's body within ``timeout_s`` (before the handler, after authentication);
    a body still arriving then gets 408 ``REQUEST_TIMEOUT`` and the connection is closed."""

    @web.middleware
    async def read_body(request: web.Request, handler: Handler) -> web.StreamResponse:
        conn = _guarded(request)
        if request.body_exists and request.content.is_eof():
            await request.read()  # all in already (a small body comes with its headers)
        elif request.body_exists:
            try:
                async with asyncio.timeout(timeout_s):
                    await request.read()  # kept by aiohttp for the handler's own read()
            except TimeoutError:
                if conn is not None:
                    conn._guard.table.stats.body_timeouts += 1  # same module
                resp = error_response(request, ProtocolError(
                    ErrorCode.REQUEST_TIMEOUT, {"seconds": f"{timeout_s:g}"},
                    {"timeout_s": timeout_s}))
                resp.force_close()
                return resp
        if conn is not None:
            conn.request_busy()
        return await handler(request)

    return read_body


# --- wiring ----------------------------------------------------------------------------


@dataclass
class Listening:
    """How an app is to be served: its listener's name (for logs), limits, and once started,
    its :class:`Guard`."""

    name: str
    limits: Limits
    guard: Guard | None = None

    def start_guard(self, language: Callable[[], Lang],
                    ssl_context: ssl.SSLContext | None) -> Guard:
        limits = self.limits
        fd_limit = raise_fd_limit()
        if fd_limit:
            limits = limits.fitted(fd_limit)
            if limits.max_connections != self.limits.max_connections:
                log.warning("%s: max_connections lowered from %s to %s to stay below the "
                            "file descriptor limit (%d)", self.name,
                            self.limits.max_connections, limits.max_connections, fd_limit)
        self.guard = Guard(self.name, limits, language=language, ssl_context=ssl_context)
        return self.guard


LISTENING = web.AppKey("listening", Listening)


def guard_app(app: web.Application, name: str, limits: Limits) -> None:
    """Serve ``app`` behind a guard with ``limits`` (call after its own middlewares)."""
    app[LISTENING] = Listening(name, limits)
    app.middlewares.insert(0, track_requests)
    app.middlewares.append(body_timeout_middleware(limits.body_timeout_s))


# --- the site ----------------------------------------------------------------------------


class GuardedSite(web.BaseSite):
    """A TCP listener whose connections are :class:`GuardedHandler` s of ``guard``."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: Guard,
                 *, backlog: int = 128) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        scheme = "https" if self._guard.ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._guard.protocol_factory(server), self._host, self._port,
            backlog=self._backlog, reuse_address=True)


# --- the process's file descriptor limit -------------------------------------------------


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (a service gets 1024 by default) and
    return the soft limit now in force (0 where the OS has no such limit)."""
    if sys.platform == "win32":
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        with contextlib.suppress(OSError, ValueError):  # a seccomp filter may refuse it
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return soft
