"""A stop request that any thread (a Windows service control handler, a signal handler, a
test) can make, and the node's run loop awaits.

``run_node`` creates one ``StopRequest`` on its loop, awaits ``wait()``, then shuts down
cleanly. The Windows service's ``SvcStop`` runs on the service-control thread and calls
``request()``, which hands the event over to the loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading

log = logging.getLogger("officesync.service")


class StopRequest:
    """An ``asyncio.Event`` bound to one loop that may be set from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._early = False  # requested before the loop was bound
        self.reason: str | None = None

    def bind(self, loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Event:
        """Attach to ``loop`` (the running one by default); returns the event to await."""
        loop = loop or asyncio.get_running_loop()
        with self._lock:
            self._loop = loop
            self._event = asyncio.Event()
            if self._early:
                self._event.set()
            return self._event

    @property
    def requested(self) -> bool:
        with self._lock:
            return self._early or (self._event is not None and self._event.is_set())

    def request(self, reason: str = "stop requested") -> None:
        """Ask the node to stop; safe from any thread, any number of times."""
        with self._lock:
            if self.reason is None:
                self.reason = reason
            loop, event = self._loop, self._event
            if loop is None or event is None:
                self._early = True
                return
        if loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    async def wait(self) -> None:
        event = self._event if self._event is not None else self.bind()
        await event.wait()

    def install_signal_handlers(
        self, signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)
    ) -> None:
        """Turn SIGTERM/SIGINT into a clean stop (POSIX; a no-op where the loop cannot)."""
        loop = self._loop or asyncio.get_running_loop()
        for sig in signals:
            try:
                loop.add_signal_handler(sig, self.request, f"signal {sig.name}")
            except (NotImplementedError, RuntimeError, ValueError) as err:
                log.debug("cannot handle %s here: %s", sig.name, err)
