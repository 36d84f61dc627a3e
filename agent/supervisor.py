"""Supervision of the node's background tasks: none of them may die silently.

A :class:`Supervisor` runs each loop it is given (a coroutine factory) in its own task. When
the loop raises anything but a cancellation, the failure is logged with its traceback once per
*failure streak* (later failures of the same streak at DEBUG), the loop is restarted after a
capped, jittered backoff, and the task is listed by :meth:`Supervisor.failing` (shown in the
control ``/status``) until it recovers. A streak ends when the loop reports progress
(:meth:`Supervised.ok`) or has run ``stable_s`` seconds without failing.

The schedule is pure (:class:`protocol.backoff.Backoff`, an injectable clock and random
source), so tests drive it with a fake clock and no real sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from protocol.backoff import Backoff

log = logging.getLogger("officesync.supervisor")

Loop = Callable[[], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


async def wait_woken(event: asyncio.Event, seconds: float | None) -> bool:
    """Wait until ``event`` is set (True) or ``seconds`` have passed (False).

    Unlike ``asyncio.wait_for(event.wait(), timeout)``, a cancellation that arrives in the
    same turn as the event always ends the wait: on Python 3.11 ``wait_for`` then returns the
    inner result and swallows the cancellation, so a stopped loop went on and
    :meth:`Supervisor.cancel` waited for it forever.

    A task that was asked to stop but goes on waiting (a library turned its cancellation into
    an ordinary error somewhere, say a timeout firing in the same turn) is stopped here: its
    loops all pass through this wait, so none can go on after its owner cancelled it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


def _iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Supervised:
    """One supervised loop: its task, its failure streak and its restart schedule."""

    def __init__(self, name: str, loop: Loop, owner: Supervisor) -> None:
        self.name = name
        self._loop = loop
        self._owner = owner
        self._backoff = Backoff(base=owner.base, cap=owner.cap, rng=owner.rng)
        self.failures = 0          # in the current streak
        self.total_failures = 0    # since start
        self.last_error: str | None = None
        self.failing_since: str | None = None
        self._started_at = owner.clock()
        self.task: asyncio.Task[None] | None = None

    @property
    def is_failing(self) -> bool:
        if self.failures == 0:
            return False
        if self._owner.clock() - self._started_at >= self._owner.stable_s:
            self._end_streak()  # it has run long enough since its last restart
            return False
        return True

    def ok(self) -> None:
        """The loop made progress: its failure streak (if any) is over."""
        if self.failures:
            self._end_streak()

    def _end_streak(self) -> None:
        log.info("%s: recovered after %d failure(s)", self.name, self.failures)
        self.failures = 0
        self.failing_since = None
        self._backoff.reset()
        self._owner.changed(self)

    def failed(self, err: BaseException) -> float:
        """Record a failure; return how long to wait before the restart (pure but for logs)."""
        if self.failures and self._owner.clock() - self._started_at >= self._owner.stable_s:
            self._end_streak()
        first = self.failures == 0
        self.failures += 1
        self.total_failures += 1
        self.last_error = f"{type(err).__name__}: {err}"[:300]
        if first:
            self.failing_since = _iso_now()
            log.error("%s failed; restarting it with backoff", self.name, exc_info=err)
            self._owner.changed(self)
        else:
            log.debug("%s failed again (%d): %s", self.name, self.failures, self.last_error)
        return self._backoff.next_delay()

    async def run(self) -> None:
        while True:
            self._started_at = self._owner.clock()
            try:
                await self._loop()
                return  # a loop that ends by itself is done
            except asyncio.CancelledError:
                raise
            except Exception as err:
                delay = self.failed(err)
            await self._owner.sleep(delay)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "failures": self.failures, "error": self.last_error,
                "since": self.failing_since}


class Supervisor:
    """Starts, restarts and stops a set of named loops."""

    def __init__(
        self,
        *,
        base: float = 0.5,
        cap: float = 30.0,
        stable_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        sleep: Sleep = asyncio.sleep,
        on_change: Callable[[Supervised], None] | None = None,
    ) -> None:
        self.base = base
        self.cap = cap
        self.stable_s = stable_s
        self.clock = clock
        self.rng = rng
        self.sleep = sleep
        self.on_change = on_change
        self.tasks: dict[str, Supervised] = {}

    def changed(self, supervised: Supervised) -> None:
        if self.on_change is not None:
            with contextlib.suppress(Exception):
                self.on_change(supervised)

    def spawn(self, name: str, loop: Loop) -> Supervised:
        """Run ``loop`` under supervision (a running task of that name is kept as it is)."""
        current = self.tasks.get(name)
        if current is not None and current.task is not None and not current.task.done():
            return current
        supervised = Supervised(name, loop, self)
        supervised.task = asyncio.create_task(supervised.run(), name=name)
        self.tasks[name] = supervised
        return supervised

    def get(self, name: str) -> Supervised | None:
        return self.tasks.get(name)

    def failing(self) -> list[dict[str, Any]]:
        """The tasks in a failure streak, for ``/status``."""
        return [s.as_json() for s in self.tasks.values() if s.is_failing]

    async def cancel(self, *names: str) -> None:
        """Stop the named tasks (all when none is named) and wait until they are gone."""
        chosen = [self.tasks.pop(n) for n in (names or tuple(self.tasks)) if n in self.tasks]
        tasks = [s.task for s in chosen if s.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def stop(self) -> None:
        await self.cancel()
