"""The in-process event bus: the store, sync engine and connectivity monitor publish; the LAN
and control WebSockets (and tests) subscribe.

Events are plain dicts with a ``type`` (``record``, ``sync``, ``connectivity``, ``dataset``,
``status``). Publishing never blocks: a subscriber that falls ``maxsize`` events behind is
marked ``overflowed`` and its queue ends, so one slow WebSocket cannot hold up the node.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

Event = dict[str, Any]


class Subscription:
    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self.overflowed = False
        self.closed = False

    def _offer(self, event: Event) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._bus._subs.discard(self)
        try:
            self._queue.put_nowait(None)
        except asyncio.QueueFull:
            # make room for the end marker
            self._queue.get_nowait()
            self._queue.put_nowait(None)

    async def get(self) -> Event | None:
        """The next event, or ``None`` once the subscription has ended."""
        if self.closed and self._queue.empty():
            return None
        return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            event = await self.get()
            if event is None:
                return
            yield event

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        sub = Subscription(self, maxsize)
        self._subs.add(sub)
        return sub

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to every subscriber; call from the event loop thread."""
        for sub in list(self._subs):
            sub._offer(event)

    def close(self) -> None:
        for sub in list(self._subs):
            sub.close()

    @property
    def subscribers(self) -> int:
        return len(self._subs)
