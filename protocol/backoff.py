"""The one retry schedule of the node, the tray and the workstation client: capped
exponential backoff with *equal jitter* (a wait drawn from the upper half of the doubling
ceiling, so retries spread out but never come sooner than half the schedule), honouring a
server's ``Retry-After``.

Pure but for the random source, which is injectable: tests pass a fixed one.
"""

from __future__ import annotations

import random
from collections.abc import Callable

_MAX_DOUBLINGS = 32  # 2**32 times the base is past any cap; keeps the float finite


class Backoff:
    """The waits before successive retries: ``min(cap, base * 2**n) * (0.5 + 0.5 * jitter)``
    for the n-th retry (n from 0), with ``jitter`` from ``rng`` in [0, 1)."""

    def __init__(
        self,
        base: float = 0.25,
        cap: float = 30.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng

    def delay(self, attempt: int, jitter: float) -> float:
        """The wait before retry number ``attempt`` (0 for the first) for a ``jitter`` in
        [0, 1): between half and all of the doubling ceiling (pure)."""
        ceiling = min(self.cap, self.base * (2.0 ** min(max(attempt, 0), _MAX_DOUBLINGS)))
        return ceiling * (0.5 + 0.5 * jitter)

    def next_delay(self, retry_after: float | None = None) -> float:
        """The wait before the next try. ``retry_after`` from the server wins over the
        schedule (it is what the server asked for), bounded by ten times the cap so a bad
        header cannot park the caller for hours."""
        self.attempt += 1
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap * 10)
        return self.delay(self.attempt - 1, self._rng())

    def reset(self) -> None:
        """Success: the next failure starts the schedule again."""
        self.attempt = 0
