"""Pure decisions of the push side: the order of a batch and the base version of each op."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence

from agent.store.syncing import PendingOp
from protocol.models import Action
from protocol.schema import SchemaRegistry


def order_batch(ops: Sequence[PendingOp]) -> list[PendingOp]:
    """Stable dependency order: an op goes after the earlier ops of its own record and after
    the ``create`` of every record it references that is in the same batch (S5).

    The outbox's sequence order already satisfies this in the usual case; it does not after a
    failed create was fixed and queued again behind its dependents.
    """
    creates = {op.record_id: op.seq for op in ops if op.action == "create"}
    by_seq = {op.seq: op for op in ops}
    last_of_record: dict[str, int] = {}
    dependents: dict[int, list[int]] = {op.seq: [] for op in ops}
    waiting: dict[int, int] = {}
    for op in ops:
        deps: set[int] = set()
        previous = last_of_record.get(op.record_id)
        if previous is not None:
            deps.add(previous)
        last_of_record[op.record_id] = op.seq
        for ref in op.refs:
            create_seq = creates.get(ref)
            if create_seq is not None and ref != op.record_id:
                deps.add(create_seq)
        waiting[op.seq] = len(deps)
        for dep in deps:
            dependents[dep].append(op.seq)
    ready = [seq for seq, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    ordered: list[PendingOp] = []
    while ready:
        seq = heapq.heappop(ready)
        ordered.append(by_seq[seq])
        for after in dependents[seq]:
            waiting[after] -= 1
            if waiting[after] == 0:
                heapq.heappush(ready, after)
    if len(ordered) < len(ops):  # a cycle cannot happen with ids made at create; keep seq order
        placed = {op.seq for op in ordered}
        ordered.extend(op for op in ops if op.seq not in placed)
    return ordered


def assign_base_versions(ops: Iterable[PendingOp], versions: dict[str, int | None]) -> None:
    """The first op of a record is based on its known hub version (none for a record the hub
    never had); the next ones on the version the previous op will produce (+1 per change)."""
    expected: dict[str, int | None] = {}
    for op in ops:
        base = expected.get(op.record_id, versions.get(op.record_id))
        # A create has no base, except one re-creating a record the hub deleted (S9 restore):
        # it is based on the tombstone's version, which the record holds.
        op.base_version = base
        expected[op.record_id] = (base or 0) + 1


def independent(registry: SchemaRegistry, first: Sequence[PendingOp],
                second: Sequence[PendingOp]) -> bool:
    """Whether the hub may apply batch ``second`` before ``first`` (both sent at once) and
    answer every op as it would in outbox order: both hold only creates (no update or delete
    frees a key or changes a record the other needs), ``second`` references no record of
    ``first``, and no key is in both (whichever went first would take it). The take already
    keeps ``first``'s records out of ``second``."""
    if any(op.action is not Action.CREATE for op in (*first, *second)):
        return False
    created = {op.record_id for op in first}
    if any(ref in created for op in second for ref in op.refs):
        return False
    keys = {_key(registry, op) for op in first}
    return not any(_key(registry, op) in keys for op in second)


def _key(registry: SchemaRegistry, op: PendingOp) -> tuple[str, str | None]:
    if op.data is None or op.collection not in registry:
        return (op.collection, None)  # not comparable: taken as the same key as its kind's
    return (op.collection, registry.get(op.collection).key_of(op.data))
