"""The states of an outbox op and of a record, as the store's SQL writes and reads them.

``outbox.state`` holds an :class:`OutboxState` (a CHECK constraint since migration 0004);
``records.sync_state`` a :class:`protocol.models.SyncState`. SQL takes them as bound
parameters, or as literals from :func:`sql_in` where a partial index must match the query's
``WHERE`` text (SQLite uses a partial index only for a constant condition that implies it).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from protocol.models import SyncState


class OutboxState(StrEnum):
    """Where an op of the outbox stands (an op leaves the outbox once the hub applied it)."""

    PENDING = "pending"  # to push; also while a push holding it waits for its answer
    BLOCKED = "blocked"  # waits on a failed create of a record it refers to (S5)
    ERROR = "error"  # the hub refused it; waits for the office to fix or resolve
    CONFLICT = "conflict"  # the hub refused it as stale (S6); waits for a resolution

    @classmethod
    def of_refusal(cls, state: SyncState) -> OutboxState:
        """The op's state for its record's state after a refusal."""
        return cls(state.value)


# The states of ops that wait on the office, in the order of the outbox_failed index.
FAILED_OPS = (OutboxState.ERROR, OutboxState.CONFLICT, OutboxState.BLOCKED)
# Records that need the office (the LAN API's sync issues).
FAILED_RECORDS = (SyncState.ERROR, SyncState.CONFLICT, SyncState.BLOCKED)
# A record whose refusal can be resolved (keep_local, take_cloud, discard).
RESOLVABLE = (SyncState.CONFLICT, SyncState.ERROR)


def sql_in(states: Iterable[StrEnum]) -> str:
    """``('error', 'conflict')``: a constant SQL list of state values (never user input)."""
    values = [s.value for s in states]
    if not values or any("'" in v for v in values):
        raise ValueError(f"not a list of states: {values!r}")
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def sql_value(state: StrEnum) -> str:
    """``'synced'``: one state value as a SQL literal."""
    return sql_in([state])[1:-1]
