"""Pure decisions of sync: batch order, base versions, backoff, connectivity transitions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.connectivity.machine import ConnectivityMachine
from agent.store.syncing import PendingOp, rejection_state
from agent.sync.ordering import assign_base_versions, independent, order_batch
from protocol.accounting import ACCOUNTING_PACK
from protocol.backoff import Backoff
from protocol.connectivity import Connectivity as C
from protocol.errors import ErrorCode
from protocol.models import Action, SyncState


def op(seq: int, record: str, action: str = "update", refs: tuple[str, ...] = ()) -> PendingOp:
    return PendingOp(seq, f"op{seq}", record, "vouchers", action, {}, refs)


def test_seq_order_is_kept_when_it_is_already_right() -> None:
    ops = [op(1, "c", "create"), op(2, "v", "create", ("c",)), op(3, "c")]
    assert [o.seq for o in order_batch(ops)] == [1, 2, 3]


def test_a_requeued_create_goes_before_its_dependents() -> None:
    # The customer's create failed (duplicate), was renamed and queued again behind the
    # vouchers that reference it.
    ops = [op(5, "v1", "create", ("c",)), op(6, "v2", "create", ("c",)), op(9, "c", "create")]
    assert [o.seq for o in order_batch(ops)] == [9, 5, 6]


def test_ops_of_one_record_keep_their_order() -> None:
    ops = [op(1, "v", "create", ("c",)), op(2, "v", "post"), op(3, "c", "create")]
    assert [o.seq for o in order_batch(ops)] == [3, 1, 2]


@given(st.lists(st.tuples(st.sampled_from("abcde"), st.sampled_from("abcde")), max_size=40))
def test_order_is_a_permutation_respecting_dependencies(pairs: list[tuple[str, str]]) -> None:
    seen: set[str] = set()
    ops = []
    for seq, (record, ref) in enumerate(pairs, start=1):
        action = "update" if record in seen else "create"
        seen.add(record)
        ops.append(op(seq, record, action, (ref,)))
    ordered = order_batch(ops)
    assert sorted(o.seq for o in ordered) == [o.seq for o in ops]
    position = {o.seq: i for i, o in enumerate(ordered)}
    creates = {o.record_id: o.seq for o in ops if o.action == "create"}
    last: dict[str, int] = {}
    for o in ops:
        if o.record_id in last:
            assert position[last[o.record_id]] < position[o.seq]
        last[o.record_id] = o.seq
        for ref in o.refs:
            if ref in creates and ref != o.record_id and creates[ref] < o.seq:
                assert position[creates[ref]] < position[o.seq]


def test_base_versions_chain_within_a_batch() -> None:
    ops = [op(1, "new", "create"), op(2, "new"), op(3, "old"), op(4, "new", "post"),
           op(5, "old", "delete")]
    assign_base_versions(ops, {"new": None, "old": 7})
    assert [o.base_version for o in ops] == [None, 1, 7, 2, 8]


def test_rejection_states() -> None:
    assert rejection_state(ErrorCode.STALE_VERSION, None) is SyncState.CONFLICT
    assert rejection_state(ErrorCode.RECORD_DELETED, None) is SyncState.CONFLICT
    assert rejection_state(ErrorCode.DUPLICATE_KEY, None) is SyncState.ERROR
    assert rejection_state(ErrorCode.MISSING_REFERENCE, "x") is SyncState.BLOCKED


def test_backoff_grows_to_the_cap_with_jitter_and_honours_retry_after() -> None:
    backoff = Backoff(base=1, cap=8, rng=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    low = Backoff(base=1, cap=8, rng=lambda: 0.0)
    assert [low.next_delay() for _ in range(3)] == [0.5, 1, 2]
    assert backoff.next_delay(retry_after=3) == 3
    assert backoff.next_delay(retry_after=10_000) == 80
    backoff.reset()
    assert backoff.next_delay() == 1


def test_connectivity_not_configured_and_user_toggle() -> None:
    m = ConnectivityMachine(configured=False, online=True)
    assert m.state is C.NOT_CONFIGURED and not m.may_call_hub
    t = m.set_toggle(False)
    assert t is not None and (t.old, t.new) == (C.NOT_CONFIGURED, C.OFFLINE_BY_USER)
    assert m.set_toggle(False) is None  # no transition, nothing to log twice


@pytest.mark.parametrize("failure", [C.NO_NETWORK, C.CLOUD_UNAVAILABLE, C.AUTH_FAILED,
                                     C.UPGRADE_REQUIRED])
def test_connectivity_failures_and_recovery(failure: C) -> None:
    m = ConnectivityMachine(configured=True, online=True)
    assert m.state is C.CLOUD_UNAVAILABLE  # until the first probe answers
    assert m.succeeded() is not None and m.state is C.ONLINE
    t = m.failed(failure)
    assert t is not None and t.new is failure and not m.is_online
    assert m.failed(failure) is None  # the same failure again is not a new transition
    assert m.succeeded() is not None and m.state is C.ONLINE


def test_toggle_on_waits_for_the_fresh_probe() -> None:
    m = ConnectivityMachine(configured=True, online=True)
    m.failed(C.NO_NETWORK)
    m.set_toggle(False)
    assert m.state is C.OFFLINE_BY_USER and not m.may_call_hub
    assert m.set_toggle(True) is None
    assert m.state is C.OFFLINE_BY_USER and m.may_call_hub  # the stale failure is not shown
    t = m.succeeded()
    assert t is not None and (t.old, t.new) == (C.OFFLINE_BY_USER, C.ONLINE)
    with pytest.raises(ValueError, match="is not a failure"):
        m.failed(C.ONLINE)


def _create(seq: int, record: str, code: str, refs: tuple[str, ...] = ()) -> PendingOp:
    return PendingOp(seq, f"op{seq}", record, "customers", Action.CREATE,
                     {"code": code, "name": "x"}, refs)


def test_two_batches_of_creates_without_shared_keys_or_references_are_independent() -> None:
    first = [_create(1, "a", "KH1"), _create(2, "b", "KH2")]
    assert independent(ACCOUNTING_PACK, first, [_create(3, "c", "KH3")])
    # a key in both (in its comparison form): whichever the hub took first would keep it
    assert not independent(ACCOUNTING_PACK, first, [_create(3, "c", "kh2")])
    # a reference into the first batch: refused as missing if the hub took it first
    assert not independent(ACCOUNTING_PACK, first, [_create(3, "c", "KH3", refs=("a",))])
    # an update or delete may free or change a key the other batch takes
    edit = PendingOp(3, "op3", "c", "customers", Action.UPDATE, {"code": "KH3", "name": "y"})
    assert not independent(ACCOUNTING_PACK, first, [edit])
    gone = PendingOp(3, "op3", "c", "customers", Action.DELETE, None)
    assert not independent(ACCOUNTING_PACK, [gone], [_create(4, "d", "KH4")])
