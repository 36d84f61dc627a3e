"""Connection limits of the node's listeners: who may hold a connection, and for how long.

A device on the LAN must not be able to make the node unreachable by opening connections and
never finishing a request (each one costs a file descriptor). The rules, per listener:

- a connection must deliver a request's headers within ``header_timeout_s`` of opening (or of
  the first byte of its next request) and its body within ``body_timeout_s``;
- at most ``max_connections_per_ip`` connections per remote address: more are refused at once;
- at most ``max_connections`` in total: a new connection then takes the place of the oldest one
  that has not sent a request yet (a half-open flood gives way first), else of the oldest one
  with no request being handled (idle keep-alive, body still arriving); when every connection
  is busy handling a request, the new one is refused.

:class:`ConnectionTable` is the pure bookkeeping (no I/O, no clock); :mod:`agent.lan_api.listener`
applies it to sockets. ``None`` as a limit means no limit (the loopback control listener).
"""

from __future__ import annotations

import enum
from collections import Counter, OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

C = TypeVar("C", bound=Hashable)

# Seconds an idle keep-alive connection stays open between two requests (under pressure it is
# the first to give up its place). Longer than a browser's or aiohttp client's own keep-alive.
KEEPALIVE_S = 75.0
# File descriptors kept free for everything else (databases, the hub, the control API, logs)
# when the LAN cap is fitted to the process's limit.
FD_RESERVE = 256


@dataclass(frozen=True)
class Limits:
    max_connections: int | None = 512
    max_connections_per_ip: int | None = 64
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0

    def fitted(self, fd_limit: int) -> Limits:
        """These limits with ``max_connections`` lowered so that ``FD_RESERVE`` descriptors stay
        free below ``fd_limit`` (the process's RLIMIT_NOFILE); no cap stays no cap."""
        cap = max(16, fd_limit - FD_RESERVE)
        if self.max_connections is None or self.max_connections <= cap:
            return self  # no cap (loopback), or one that fits
        return Limits(cap, self.max_connections_per_ip, self.header_timeout_s,
                      self.body_timeout_s)


class Verdict(enum.Enum):
    ADMIT = "admit"
    REFUSE_ADDRESS = "refuse_address"  # this address holds max_connections_per_ip already
    REFUSE_TOTAL = "refuse_total"  # max_connections reached and every connection is busy


@dataclass
class GuardStats:
    """What a listener refused or closed since it started (shown in logs and tests)."""

    admitted: int = 0
    refused_address: int = 0
    refused_total: int = 0
    evicted: int = 0
    header_timeouts: int = 0
    body_timeouts: int = 0
    bad_requests: int = 0

    def as_json(self) -> dict[str, int]:
        return dict(vars(self))


class ConnectionTable(Generic[C]):
    """Open connections by remote address, and the ones that may give way, oldest first:
    ``_fresh`` have not sent a request's headers yet, ``_idle`` have but handle none now."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._address: dict[C, str] = {}
        self._per_address: Counter[str] = Counter()
        self._fresh: OrderedDict[C, None] = OrderedDict()
        self._idle: OrderedDict[C, None] = OrderedDict()
        self.stats = GuardStats()

    def __len__(self) -> int:
        return len(self._address)

    def count(self, address: str) -> int:
        return self._per_address[address]

    def admit(self, conn: C, address: str) -> tuple[Verdict, C | None]:
        """May ``conn`` from ``address`` stay? Returns the verdict and, when admitting it took
        the place of another connection, that one (already forgotten here: close it)."""
        per_ip = self.limits.max_connections_per_ip
        if per_ip is not None and self._per_address[address] >= per_ip:
            self.stats.refused_address += 1
            return Verdict.REFUSE_ADDRESS, None
        evicted: C | None = None
        total = self.limits.max_connections
        if total is not None and len(self._address) >= total:
            victims = self._fresh or self._idle
            if not victims:
                self.stats.refused_total += 1
                return Verdict.REFUSE_TOTAL, None
            evicted = next(iter(victims))
            self.release(evicted)
            self.stats.evicted += 1
        self._address[conn] = address
        self._per_address[address] += 1
        self._fresh[conn] = None
        self.stats.admitted += 1
        return Verdict.ADMIT, evicted

    def started(self, conn: C) -> None:
        """``conn`` sent a request's headers (its body may still be arriving)."""
        if self._fresh.pop(conn, 0) is None:
            self._idle[conn] = None

    def set_busy(self, conn: C, busy: bool) -> None:
        """``conn`` started (True) or finished (False) handling a request."""
        if conn not in self._address:
            return
        self._fresh.pop(conn, None)
        if busy:
            self._idle.pop(conn, None)
        else:
            self._idle[conn] = None
            self._idle.move_to_end(conn)

    def release(self, conn: C) -> None:
        """``conn`` closed; forgetting it twice is harmless."""
        address = self._address.pop(conn, None)
        if address is None:
            return
        self._fresh.pop(conn, None)
        self._idle.pop(conn, None)
        self._per_address[address] -= 1
        if self._per_address[address] <= 0:
            del self._per_address[address]


class _LanKeys(Protocol):
    max_connections: int
    max_connections_per_ip: int
    header_timeout_s: float
    body_timeout_s: float


def lan_limits(lan: _LanKeys, *, capped: bool = True) -> Limits:
    """The limits of the ``[lan]`` config section; ``capped=False`` keeps only the timeouts
    (the control listener: loopback, never starved by the LAN's connections)."""
    return Limits(
        lan.max_connections if capped else None,
        lan.max_connections_per_ip if capped else None,
        lan.header_timeout_s,
        lan.body_timeout_s,
    )
