"""The three-way merge of S9 (protocol/merge.py): examples of the rules, the accounting rule for
vouchers, and properties — merging disjoint changes does not depend on which side is which,
and a merge never invents a value."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from protocol.accounting import ACCOUNTING_PACK
from protocol.merge import is_posting_case, merge, pick

PARTIES = ACCOUNTING_PACK.get("customers")
VOUCHERS = ACCOUNTING_PACK.get("vouchers")
BASE = {"code": "KH100", "name": "Công ty A", "phone": "0281", "address": "Q1"}
LINE = {"debit": "a", "credit": "b", "amount": 100}
VOUCHER = {"type": "receipt", "number": "PT000001", "date": "2026-11-20", "posted": False,
           "description": "thu tiền", "lines": [LINE]}


def test_fields_changed_on_one_side_each_are_taken_from_that_side() -> None:
    result = merge(PARTIES, BASE, {**BASE, "address": "Q3"}, {**BASE, "phone": "0999"})
    assert result.clean and result.data == {**BASE, "address": "Q3", "phone": "0999"}
    assert result.from_local == ("address",) and result.from_cloud == ("phone",)


def test_same_field_to_different_values_clashes_same_value_does_not() -> None:
    clash = merge(PARTIES, BASE, {**BASE, "phone": "0777", "address": "Q3"},
                  {**BASE, "phone": "0999"})
    assert not clash.clean and clash.clashes == ("phone",) and clash.kind == "fields"
    same = merge(PARTIES, BASE, {**BASE, "phone": "0999"}, {**BASE, "phone": "0999"})
    assert same.clean and same.data == {**BASE, "phone": "0999"}


def test_a_field_removed_on_one_side_stays_removed() -> None:
    local = {k: v for k, v in BASE.items() if k != "address"}
    result = merge(PARTIES, BASE, local, {**BASE, "phone": "0999"})
    assert result.data == {**local, "phone": "0999"}


def test_no_base_means_every_difference_clashes() -> None:
    result = merge(PARTIES, None, {**BASE, "phone": "1"}, {**BASE, "address": "2"})
    assert result.kind == "fields" and result.clashes == ("address", "phone")


def test_lines_merge_only_when_one_side_left_them_unchanged() -> None:
    more = [LINE, {**LINE, "amount": 5}]
    one_side = merge(VOUCHERS, VOUCHER, {**VOUCHER, "lines": more},
                     {**VOUCHER, "description": "khác"})
    assert one_side.clean and one_side.data == {**VOUCHER, "lines": more, "description": "khác"}
    both = merge(VOUCHERS, VOUCHER, {**VOUCHER, "lines": more},
                 {**VOUCHER, "lines": [{**LINE, "amount": 7}]})
    assert both.clashes == ("lines",) and both.kind == "fields"


def test_edit_against_post_is_a_posted_conflict() -> None:
    result = merge(VOUCHERS, VOUCHER, {**VOUCHER, "description": "sửa"},
                   {**VOUCHER, "posted": True})
    assert not result.clean and result.kind == "posted"
    assert result.clashes == ("description", "posted")


def test_a_voucher_posted_in_the_base_is_never_merged_even_after_both_unposted() -> None:
    base = {**VOUCHER, "posted": True}
    result = merge(VOUCHERS, base, {**VOUCHER, "description": "A"},
                   {**VOUCHER, "date": "2026-11-21"})
    assert result.kind == "posted" and not result.clean


def test_a_post_and_unpost_at_this_office_counts_even_back_to_the_base() -> None:
    local, cloud = {**VOUCHER, "description": "A"}, {**VOUCHER, "date": "2026-11-21"}
    assert merge(VOUCHERS, VOUCHER, local, cloud).clean
    assert merge(VOUCHERS, VOUCHER, local, cloud, local_posting=True).kind == "posted"


def test_catalogs_have_no_posting_rule() -> None:
    assert not is_posting_case(PARTIES, BASE, {**BASE, "posted": True}, BASE)


def test_pick_takes_the_chosen_side_on_clashes_and_merges_the_rest() -> None:
    local = {**BASE, "phone": "0777", "address": "Q3"}
    cloud = {**BASE, "phone": "0999", "name": "Tên mới"}
    assert pick(BASE, local, cloud, {"phone": "cloud"}, ("phone",)) == {
        **BASE, "phone": "0999", "address": "Q3", "name": "Tên mới"}
    assert pick(BASE, local, cloud, {"phone": "local"}, ("phone",))["phone"] == "0777"


# -- properties ------------------------------------------------------------------------------

FIELDS = ("code", "name", "phone", "address", "tax_code")
VALUES = st.one_of(st.none(), st.text(max_size=3), st.integers(-2, 2),
                   st.lists(st.integers(0, 2), max_size=2))


@st.composite
def _record(draw: st.DrawFn) -> dict[str, Any]:
    return draw(st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=len(FIELDS)))


REMOVED = "<removed>"
CHANGE = st.one_of(st.just(REMOVED), VALUES)


@st.composite
def _disjoint(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A base and two sides whose changes touch disjoint sets of fields: each field is left
    alone, or changed (or removed) on one side only."""
    base = draw(_record())
    owners = draw(st.tuples(*(st.sampled_from((None, "local", "cloud")) for _ in FIELDS)))
    sides: dict[str, dict[str, Any]] = {"local": dict(base), "cloud": dict(base)}
    for name, owner in zip(FIELDS, owners, strict=True):
        if owner is None:
            continue
        value = draw(CHANGE)
        if value == REMOVED:
            sides[owner].pop(name, None)
        else:
            sides[owner][name] = value
    return base, sides["local"], sides["cloud"]


@given(_disjoint())
def test_merging_disjoint_changes_is_order_independent(
    sides: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
) -> None:
    base, local, cloud = sides
    one, other = merge(PARTIES, base, local, cloud), merge(PARTIES, base, cloud, local)
    assert one.clean and other.clean
    assert one.data == other.data
    assert one.from_local == other.from_cloud and one.from_cloud == other.from_local


@given(_record(), _record(), _record())
def test_a_merge_never_invents_a_value(base: dict[str, Any], local: dict[str, Any],
                                        cloud: dict[str, Any]) -> None:
    result = merge(PARTIES, base, local, cloud)
    if result.data is None:
        assert result.clashes  # a refusal names what clashed
        for name in result.clashes:
            assert local.get(name, "∅") != cloud.get(name, "∅")
        return
    absent = object()
    for name in set(base) | set(local) | set(cloud):
        value = result.data.get(name, absent)
        assert any(value == copy.get(name, absent) for copy in (base, local, cloud))
        if local.get(name, absent) == cloud.get(name, absent):
            assert value == local.get(name, absent)  # agreement is kept
