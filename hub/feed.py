"""Waking long-polling readers of the change feed.

In one process a push wakes the readers of its dataset directly. Across hub instances on one
PostgreSQL database, the push transaction runs ``pg_notify`` (delivered at commit) and every
instance LISTENs on one connection and wakes its own readers.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg

from hub.records import NOTIFY_CHANNEL

log = logging.getLogger("officesync.hub")


class FeedNotifier:
    """Per-dataset wake-ups; take :meth:`event` BEFORE reading the feed, then wait on it."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self.closing = False

    def event(self, dataset: str) -> asyncio.Event:
        return self._events.setdefault(dataset, asyncio.Event())

    def waiting(self, dataset: str) -> bool:
        """Whether a reader of ``dataset`` waits for a wake-up now."""
        return dataset in self._events

    def close(self) -> None:
        """Shutting down: wake every reader; waits end at once from now on."""
        self.closing = True
        self.notify_all()

    def notify(self, dataset: str) -> None:
        event = self._events.pop(dataset, None)
        if event is not None:
            event.set()

    def notify_all(self) -> None:
        for dataset in list(self._events):
            self.notify(dataset)


async def listen(conninfo: str, notifier: FeedNotifier, ready: asyncio.Event,
                 max_backoff: float = 10.0) -> None:
    """LISTEN for pushes made through any hub instance; reconnect with capped backoff."""
    backoff, failing = 0.5, False
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
            async with conn:
                await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                if failing:
                    log.info("change notifications recovered")
                backoff, failing = 0.5, False
                ready.set()
                notifier.notify_all()  # anything missed while disconnected: re-check
                async for note in conn.notifies():
                    notifier.notify(note.payload)
        except (psycopg.Error, OSError) as err:
            if not failing:
                log.warning("change notifications unavailable: %s", err)
            failing = True
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)
