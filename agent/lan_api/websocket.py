"""Event streams over WebSocket, shared by the LAN (``/api/v1/events``) and control
(``/control/v1/events``) APIs.

Each socket subscribes to the :class:`~agent.events.EventBus`, is tracked in the app's
``WEBSOCKETS`` set and closed with 1001 "node shutting down" by :func:`close_websockets`
(``on_shutdown``). A client too slow to keep up is closed with 1013 so it reconnects and
reloads, instead of silently missing events.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import WSCloseCode, web

from agent import keys
from agent.events import Event, EventType
from httpkit import dumps

SHUTDOWN_MESSAGE = b"node shutting down"
OVERFLOW_MESSAGE = b"too slow: events were dropped, reconnect and reload"
REVOKED_MESSAGE = b"workstation revoked"
HEARTBEAT_S = 30.0


class Revoked(Exception):
    """The socket's own workstation was revoked while it was connected."""


Selector = Callable[[Event], Event | None]


async def _drain(ws: web.WebSocketResponse) -> None:
    async for _msg in ws:  # clients only listen; anything they send is ignored
        pass


async def stream_events(
    request: web.Request,
    select: Selector,
    first: Callable[[], Awaitable[list[Event]]] | None = None,
    types: Iterable[EventType] | None = None,
) -> web.WebSocketResponse:
    """Serve one event stream: ``first()`` events, then every bus event (of ``types``, if
    given) that ``select`` keeps (``select`` may raise :class:`Revoked` to end the stream).
    Each goes out as its JSON (:meth:`Event.to_json`)."""
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S)
    await ws.prepare(request)
    sockets = request.app[keys.WEBSOCKETS]
    sockets.add(ws)
    sub = request.app[keys.BUS].subscribe(types=types)
    reader = asyncio.create_task(_drain(ws))
    reader.add_done_callback(lambda _task: sub.close())
    try:
        for event in await first() if first is not None else []:
            await ws.send_str(dumps(event.to_json()).decode())
        async for event in sub:
            out = select(event)
            if out is not None:
                await ws.send_str(dumps(out.to_json()).decode())
        if sub.overflowed:
            await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=OVERFLOW_MESSAGE)
    except Revoked:
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=REVOKED_MESSAGE)
    except (ConnectionError, RuntimeError):
        pass  # the client went away mid-send
    finally:
        sub.close()
        sockets.discard(ws)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await ws.close()
    return ws


async def close_websockets(app: web.Application) -> None:
    """``on_shutdown``: tell every connected client why the stream ends."""
    sockets = app[keys.WEBSOCKETS]
    for ws in tuple(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=SHUTDOWN_MESSAGE)
