"""RecordQuery: the one shape of a listing's filters, from and to a query string."""

from __future__ import annotations

import pytest

from protocol.errors import ErrorCode, ProtocolError
from protocol.models import SyncState
from protocol.query import DEFAULT_LIMIT, MAX_LIMIT, RecordQuery


def test_params_round_trip_and_leave_out_what_is_not_set() -> None:
    query = RecordQuery(key="KH001", q="Công ty", date_from="2026-11-01",
                        date_to="2026-11-30", sync_state=SyncState.PENDING, limit=20,
                        after="abc")
    assert RecordQuery.from_params(query.params()) == query
    assert RecordQuery().params() == {}
    assert RecordQuery(limit=5).params() == {"limit": "5"}


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": "0"}, "limit"),
    ({"limit": str(MAX_LIMIT + 1)}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"date_from": "2026-02-30"}, "date_from"),
    ({"date_to": "yesterday"}, "date_to"),
    ({"sync_state": "bogus"}, "sync_state"),
])
def test_a_bad_value_is_refused_naming_its_parameter(params: dict[str, str], field: str) -> None:
    with pytest.raises(ProtocolError) as err:
        RecordQuery.from_params(params)
    assert err.value.code is ErrorCode.VALIDATION_FAILED
    assert field in str(err.value.details)


def test_from_params_uses_the_given_default_page_size() -> None:
    assert RecordQuery.from_params({}).limit == DEFAULT_LIMIT
    assert RecordQuery.from_params({}, default_limit=500, max_limit=5000).limit == 500
    assert RecordQuery.from_params({"limit": "4000"}, max_limit=5000).limit == 4000


def test_checked_types_loose_values_and_clamps_the_limit() -> None:
    checked = RecordQuery(sync_state="error", limit=5000).checked()  # type: ignore[arg-type]
    assert checked.sync_state is SyncState.ERROR and checked.limit == MAX_LIMIT
    assert RecordQuery().checked().limit == DEFAULT_LIMIT
    with pytest.raises(ProtocolError):
        RecordQuery(date_from="01/11/2026").checked()
