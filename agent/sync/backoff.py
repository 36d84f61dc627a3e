"""Capped exponential backoff with full jitter, honouring the hub's ``Retry-After``."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
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

    def next_delay(self, retry_after: float | None = None) -> float:
        """The wait before the next try. ``retry_after`` from the hub wins over the schedule
        (it is what the hub asked for), bounded by ten times the cap so a bad header cannot
        park the node for hours."""
        self.attempt += 1
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap * 10)
        ceiling = min(self.cap, self.base * (2 ** min(self.attempt - 1, 32)))
        return ceiling * (0.5 + 0.5 * self._rng())

    def reset(self) -> None:
        self.attempt = 0
