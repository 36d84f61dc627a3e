"""Workstation pairing: one-time codes, per-address rate limiting, token issue and revocation.

Codes live in memory (they expire after 10 minutes anyway); tokens are stored in node.db only
as SHA-256 hashes, and cached here as ``{hash: workstation_id}`` so authenticating a request
never touches the database. Time comes from an injectable clock so tests control it.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from agent.events import EventBus, WorkstationEvent
from agent.store.node import NodeDB, WorkstationInfo
from protocol.errors import ErrorCode, ProtocolError

# No 0/O, 1/I/L: a code read aloud or copied from a screen is typed right the first time.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
CODE_TTL_S = 600.0
MAX_FAILURES = 5
FAILURE_WINDOW_S = 60.0
# A code used this recently answers PAIRING_CODE_USED (not counted as a wrong guess): the
# second request of a double click, or a form submitted twice.
USED_WINDOW_S = 120.0

Clock = Callable[[], float]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalize_code(code: str) -> str:
    """Codes are case-insensitive; spaces and dashes a user types in are ignored."""
    return "".join(ch for ch in code.upper() if ch not in " -")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def distinct_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name (2)``, ``name (3)``… the first one no other device has."""
    if name not in taken:
        return name
    n = 2
    while f"{name} ({n})" in taken:
        n += 1
    return f"{name} ({n})"


@dataclass(frozen=True)
class PairingCode:
    code: str
    expires_at: float

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "expires_at": iso(self.expires_at)}


class FailureLimiter:
    """At most ``limit`` failures per ``window`` seconds per address; pure, clock-driven."""

    def __init__(self, clock: Clock, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW_S):
        self._clock = clock
        self._limit = limit
        self._window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str) -> deque[float]:
        now = self._clock()
        failures = self._failures.setdefault(address, deque())
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        return failures

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None when it may try now."""
        failures = self._recent(address)
        if len(failures) < self._limit:
            if not failures:
                self._failures.pop(address, None)
            return None
        return max(1, math.ceil(failures[0] + self._window - self._clock()))

    def fail(self, address: str) -> None:
        self._recent(address).append(self._clock())


class Pairing:
    """Issues pairing codes, pairs workstations and answers "whose token is this?"."""

    def __init__(self, node_db: NodeDB, bus: EventBus, clock: Clock, tokens: dict[str, str]):
        self._db = node_db
        self._bus = bus
        self._clock = clock
        self._codes: dict[str, float] = {}
        self._used: dict[str, float] = {}  # code -> when it was used
        self._tokens = tokens
        self._seen: dict[str, float] = {}
        self._where: dict[str, str] = {}
        self.limiter = FailureLimiter(clock)

    @classmethod
    async def load(cls, node_db: NodeDB, bus: EventBus, clock: Clock) -> Pairing:
        return cls(node_db, bus, clock, await node_db.active_tokens())

    # --- codes ---------------------------------------------------------------------------

    def active_codes(self) -> list[str]:
        """The codes issued and not expired or recently used (the diagnostics bundle takes
        them out of every file it writes)."""
        return [*self._codes, *self._used]

    def issue_code(self) -> PairingCode:
        self._prune()
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        expires_at = self._clock() + CODE_TTL_S
        self._codes[code] = expires_at
        return PairingCode(code, expires_at)

    def _prune(self) -> None:
        now = self._clock()
        for code in [c for c, exp in self._codes.items() if exp <= now]:
            del self._codes[code]
        for code in [c for c, at in self._used.items() if at <= now - USED_WINDOW_S]:
            del self._used[code]

    def _take_code(self, code: str) -> tuple[str, float] | None:
        """The normalised code and its expiry if it is valid; it is then marked used at once
        (before any await, so a second request of it, even one already running, sees it)."""
        self._prune()
        code = normalize_code(code)
        expires_at = self._codes.pop(code, None)
        if expires_at is None:
            return None
        self._used[code] = self._clock()
        return code, expires_at

    def _give_back(self, code: str, expires_at: float) -> None:
        self._used.pop(code, None)
        self._codes[code] = expires_at

    async def pair(self, code: str, name: str, address: str, *, kind: str = "workstation",
                   replaces: str | None = None) -> tuple[str, str]:
        """Exchange a valid one-time ``code`` for ``(workstation_id, token)``.

        ``replaces``: the workstation id this device held until now (a browser pairing again
        with its session cookie): it is revoked once the new one exists, so one device is one
        entry. A name another paired device already has gets a number: "Kế toán (2)"."""
        wait = self.limiter.retry_after(address)
        if wait is not None:
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                {"retry_after": wait},
                {"retry_after": wait},
                headers={"Retry-After": str(wait)},
            )
        taken = self._take_code(code)
        if taken is None:
            if normalize_code(code) in self._used:
                raise ProtocolError(ErrorCode.PAIRING_CODE_USED)
            self.limiter.fail(address)
            raise ProtocolError(ErrorCode.PAIRING_CODE_INVALID)
        ws_id = str(uuid.uuid4())
        token = secrets.token_urlsafe(32)
        digest = hash_token(token)
        try:
            taken_names = {w.name for w in await self._db.list_workstations()
                           if w.id != replaces}
            name = distinct_name(name, taken_names)
            await self._db.add_workstation(ws_id, name, digest, self._clock(),
                                           address=address, kind=kind)
        except BaseException:
            self._give_back(*taken)  # not paired: the code still works
            raise
        self._tokens[digest] = ws_id
        self._bus.publish(WorkstationEvent(action="paired", workstation_id=ws_id))
        if replaces is not None and replaces != ws_id:
            await self.revoke(replaces)
        return ws_id, token

    # --- tokens --------------------------------------------------------------------------

    def authenticate(self, token: str, address: str | None = None) -> str | None:
        """The workstation id owning ``token``, or None. No I/O: called on every request
        (when and where it was seen is kept in memory and flushed now and then)."""
        ws_id = self._tokens.get(hash_token(token))
        if ws_id is not None:
            self._seen[ws_id] = self._clock()
            if address is not None:
                self._where[ws_id] = address
        return ws_id

    async def revoke(self, ws_id: str) -> bool:
        if not await self._db.revoke_workstation(ws_id, self._clock()):
            return False
        for digest in [h for h, w in self._tokens.items() if w == ws_id]:
            del self._tokens[digest]
        self._seen.pop(ws_id, None)
        self._where.pop(ws_id, None)
        self._bus.publish(WorkstationEvent(action="revoked", workstation_id=ws_id))
        return True

    @property
    def paired_count(self) -> int:
        return len(self._tokens)

    async def workstations(self) -> list[WorkstationInfo]:
        await self.flush_seen()
        return await self._db.list_workstations()

    async def flush_seen(self) -> None:
        """Write the ``last_seen`` times gathered since the last flush."""
        seen, self._seen = self._seen, {}
        where, self._where = self._where, {}
        await self._db.touch_workstations(seen, where)
