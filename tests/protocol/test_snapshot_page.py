"""A snapshot page as the node reads it (``SnapshotPage.from_json``): checked field by field
without pydantic, it must refuse what the protocol does not allow as the models would."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from protocol.models import SnapshotPage, SnapshotRecord


def record(**over: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"seq": 7, "collection": "customers", "id": str(uuid.uuid4()),
                            "version": 2, "deleted": False, "data": {"code": "KH001"}}
    item.update(over)
    return item


def page(*records: dict[str, Any], **over: Any) -> bytes:
    body: dict[str, Any] = {"records": list(records), "next": None, "head_seq": 9,
                            "total": len(records)}
    body.update(over)
    return orjson.dumps(body)


def test_a_page_reads_as_records_in_order() -> None:
    first, tomb = record(), record(deleted=True, data=None, seq=8)
    got = SnapshotPage.from_json(page(first, tomb, next=tomb["id"]))
    assert got.next == tomb["id"] and got.head_seq == 9 and got.total == 2
    assert got.records == [
        SnapshotRecord(7, "customers", first["id"], 2, False, {"code": "KH001"}),
        SnapshotRecord(8, "customers", tomb["id"], 2, True, None)]
    assert got.records[0].op_id is None and got.records[0].node_id is None


def test_deleted_may_be_left_out() -> None:
    item = record()
    del item["deleted"]
    assert SnapshotPage.from_json(page(item)).records[0].deleted is False


@pytest.mark.parametrize("bad", [
    {"id": "KH001"},                      # a code where an id is expected
    {"id": str(uuid.uuid4()).upper()},    # ids are lower-case
    {"seq": "7"}, {"seq": True}, {"version": 2.5}, {"collection": 3},
    {"deleted": "no"}, {"data": [1, 2]}, {"data": "{}"},
])
def test_a_record_of_the_wrong_form_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"records\[1\]"):
        SnapshotPage.from_json(page(record(), record(**bad)))


@pytest.mark.parametrize(("body", "says"), [
    (b"[]", "JSON object"), (page(record(), head_seq=None), "head_seq"),
    (page(record(), total="2"), "total"), (page(record(), next=5), "next"),
    (orjson.dumps({"records": {}, "head_seq": 1}), "records: not a list"),
    (orjson.dumps({"records": [5], "head_seq": 1}), r"records\[0\]"),
    (orjson.dumps({"records": [{"seq": 1}], "head_seq": 1}), r"records\[0\]: missing"),
])
def test_a_page_of_the_wrong_form_is_refused(body: bytes, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        SnapshotPage.from_json(body)


def test_a_body_that_is_not_json_is_refused() -> None:
    with pytest.raises(orjson.JSONDecodeError):
        SnapshotPage.from_json(b"<html>proxy error</html>")
