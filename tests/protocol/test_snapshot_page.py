"""A snapshot page as the node reads it (``SnapshotPage.from_json``): checked field by field
without pydantic, it must refuse what the protocol does not allow as the models would."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from protocol.models import SnapshotPage, SnapshotRecord, SnapshotRow
from protocol.text import KEY_FORM


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


def rows_page(*rows: list[Any], **over: Any) -> bytes:
    body: dict[str, Any] = {"form": "rows", "key_form": KEY_FORM, "rows": list(rows),
                            "next": None, "head_seq": 9, "total": len(rows)}
    body.update(over)
    return orjson.dumps(body)


def row(*over: tuple[int, Any]) -> list[Any]:
    item: list[Any] = [7, "customers", str(uuid.uuid4()), 2, False, "KH001", None,
                       '{"code":"KH001"}']
    for at, value in over:
        item[at] = value
    return item


def test_the_rows_form_reads_as_rows_with_the_hub_key_and_text() -> None:
    first, voucher = row(), row((1, "vouchers"), (5, "PT1"), (6, "2024-01-02"))
    got = SnapshotPage.from_json(rows_page(first, voucher, next=voucher[2]))
    assert got.next == voucher[2] and got.head_seq == 9 and got.total == 2
    assert got.records == [SnapshotRow(7, "customers", first[2], 2, False, "KH001", None,
                                       '{"code":"KH001"}'),
                           SnapshotRow(7, "vouchers", voucher[2], 2, False, "PT1",
                                       "2024-01-02", '{"code":"KH001"}')]
    assert got.records[0].data == {"code": "KH001"} and got.records[0].op_id is None


def test_keys_in_another_form_are_left_for_the_node_to_fold() -> None:
    got = SnapshotPage.from_json(rows_page(row(), key_form="0"))
    assert got.records[0].key is None and got.records[0].text == '{"code":"KH001"}'


@pytest.mark.parametrize("bad", [
    [(2, "KH001")], [(0, "7")], [(3, 2.5)], [(4, "no")], [(5, None)], [(6, 20240102)],
    [(7, {"code": "KH001"})], [(7, "[1]")], [(7, "")],
])
def test_a_row_of_the_wrong_form_is_refused(bad: list[tuple[int, Any]]) -> None:
    with pytest.raises(ValueError, match=r"rows\[1\]"):
        SnapshotPage.from_json(rows_page(row(), row(*bad)))


@pytest.mark.parametrize("body", [
    rows_page(row()[:7]), orjson.dumps({"form": "rows", "rows": {}, "head_seq": 1}),
    rows_page("x"),
])
def test_a_rows_page_of_the_wrong_form_is_refused(body: bytes) -> None:
    with pytest.raises(ValueError, match="rows"):
        SnapshotPage.from_json(body)
