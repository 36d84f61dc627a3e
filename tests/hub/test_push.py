"""Contract: push semantics, op by op (docs/protocol.md)."""

from __future__ import annotations

from tests.hub.helpers import Node, account, customer, new_id, op, voucher


async def test_ops_get_versions_and_consecutive_seqs(node: Node) -> None:
    cid = new_id()
    results = await node.push(
        op("create", "customers", cid, customer("KH001")),
        op("update", "customers", cid, customer("KH001", "Renamed"), base=1),
        op("delete", "customers", cid, base=2),
    )
    assert [(r["status"], r["version"], r["seq"], r["replayed"]) for r in results] == [
        ("applied", 1, 1, False), ("applied", 2, 2, False), ("applied", 3, 3, False)]
    page = await node.changes()
    assert [(c["seq"], c["version"], c["deleted"]) for c in page["changes"]] == [
        (1, 1, False), (2, 2, False), (3, 3, True)]
    assert {c["node_id"] for c in page["changes"]} == {node.node_id}
    assert [c["op_id"] for c in page["changes"]] == [r["op_id"] for r in results]


async def test_rejections_are_per_op_and_later_ops_still_apply(node: Node) -> None:
    results = await node.push(
        op("create", "customers", new_id(), {"code": "", "name": "x"}),
        op("create", "customers", new_id(), customer("KH002")),
    )
    assert [r["status"] for r in results] == ["rejected", "applied"]
    assert results[0]["error"]["code"] == "VALIDATION_FAILED"
    assert results[0]["error"]["details"]["errors"][0]["field"] == "code"
    assert results[1]["seq"] == 1


async def test_replayed_op_returns_first_result_and_applies_nothing(node: Node) -> None:
    create = op("create", "customers", new_id(), customer("KH003"))
    bad = op("update", "customers", new_id(), customer("KH004"), base=1)
    first = await node.push(create, bad)
    again = await node.push(create, bad, create)
    for before, after in zip(first + first[:1], again, strict=True):
        assert after == {**before, "replayed": True}
    assert first[1]["error"]["code"] == "NOT_FOUND"
    assert len((await node.changes())["changes"]) == 1


async def test_duplicate_op_id_inside_one_batch(node: Node) -> None:
    create = op("create", "customers", new_id(), customer("KH005"))
    results = await node.push(create, create)
    assert results[1] == {**results[0], "replayed": True}


async def test_duplicate_key_names_the_existing_record(node: Node, node_b: Node) -> None:
    existing = await node.create("customers", customer("KH001", "Existing"))
    [result] = await node_b.push(op("create", "customers", new_id(), customer("KH001")))
    error = result["error"]
    assert (result["status"], error["code"]) == ("rejected", "DUPLICATE_KEY")
    assert error["details"] == {"collection": "customers", "key": "KH001", "existing": {
        "id": existing, "version": 1, "data": customer("KH001", "Existing")}}
    assert error["message"] == "Customer KH001 already exists. Please check again."


async def test_keys_are_freed_by_delete_and_rename(node: Node) -> None:
    a, b = new_id(), new_id()
    results = await node.push(
        op("create", "customers", a, customer("K1")),
        op("update", "customers", a, customer("K2"), base=1),
        op("create", "customers", b, customer("K1")),
        op("update", "customers", b, customer("K2"), base=1),
        op("delete", "customers", a, base=2),
        op("update", "customers", b, customer("K2"), base=1),
    )
    assert [r["status"] for r in results] == [
        "applied", "applied", "applied", "rejected", "applied", "applied"]
    free, taken = await node.push(op("create", "customers", new_id(), customer("K1")),
                                  op("create", "customers", new_id(), customer("K2")))
    assert free["status"] == "applied"
    assert taken["error"]["details"]["existing"]["id"] == b


async def test_references_must_exist_even_within_one_batch(node: Node) -> None:
    debit, credit, cust = new_id(), new_id(), new_id()
    missing = new_id()
    results = await node.push(
        op("create", "accounts", debit, account("111")),
        op("create", "accounts", credit, account("131")),
        op("create", "vouchers", new_id(), voucher(debit, credit, "PT000001", customer=missing)),
        op("create", "customers", cust, customer("KH1")),
        op("create", "vouchers", new_id(), voucher(debit, credit, "PT000002", customer=cust)),
        op("create", "vouchers", new_id(), voucher(debit, cust, "PT000003")),
    )
    assert [r["status"] for r in results] == [
        "applied", "applied", "rejected", "applied", "applied", "rejected"]
    assert results[2]["error"]["code"] == "MISSING_REFERENCE"
    details = results[2]["error"]["details"]
    assert (details["collection"], details["field"], details["ref"], details["target"]) == (
        "vouchers", "customer", missing, "customers")
    assert results[5]["error"]["details"]["field"] == "lines[].credit"


async def test_reference_to_a_deleted_record_is_missing(node: Node) -> None:
    debit, credit = await node.create("accounts", account("111")), new_id()
    await node.push(op("create", "accounts", credit, account("131")),
                    op("delete", "accounts", credit, base=1))
    [result] = await node.push(op("create", "vouchers", new_id(), voucher(debit, credit)))
    assert result["error"]["code"] == "MISSING_REFERENCE"
    assert result["error"]["details"]["deleted"] is True


async def test_stale_version_carries_the_current_record(node: Node, node_b: Node) -> None:
    cid = await node.create("customers", customer("KH1"))
    await node_b.push(op("update", "customers", cid, customer("KH1", "B's name"), base=1))
    [result] = await node.push(op("update", "customers", cid, customer("KH1", "A's"), base=1))
    error = result["error"]
    assert error["code"] == "STALE_VERSION"
    assert error["current"]["version"] == 2 and error["current"]["data"]["name"] == "B's name"
    [create_again] = await node.push(op("create", "customers", cid, customer("KH1")))
    assert create_again["error"]["code"] == "STALE_VERSION"
    assert create_again["error"]["current"]["id"] == cid


async def test_ops_on_deleted_records_are_rejected(node: Node) -> None:
    cid = await node.create("customers", customer("KH1"))
    await node.push(op("delete", "customers", cid, base=1))
    results = await node.push(op("update", "customers", cid, customer("KH1"), base=2),
                              op("delete", "customers", cid, base=2))
    for result in results:
        assert result["error"]["code"] == "RECORD_DELETED"
        assert result["error"]["current"]["deleted"] is True


async def test_a_create_based_on_the_tombstone_restores_the_deleted_record(
    node: Node, node_b: Node,
) -> None:
    cid = await node.create("customers", customer("KH1"))
    await node_b.push(op("delete", "customers", cid, base=1))
    [unseen] = await node.push(op("create", "customers", cid, customer("KH1", "A's"), base=1))
    assert unseen["error"]["code"] == "RECORD_DELETED"
    assert "Customer KH1 was deleted" in unseen["error"]["message"]  # named as people do
    [restored] = await node.push(op("create", "customers", cid, customer("KH1", "A's"),
                                    base=2))
    assert restored["status"] == "applied" and restored["version"] == 3
    last = (await node_b.changes())["changes"][-1]
    assert (last["id"], last["version"], last["deleted"]) == (cid, 3, False)
    assert last["data"]["name"] == "A's"
    other = await node.create("customers", customer("KH2"))
    await node.push(op("delete", "customers", other, base=1))
    await node_b.create("customers", customer("KH2"))  # the code is taken again meanwhile
    [taken] = await node.push(op("create", "customers", other, customer("KH2"), base=2))
    assert taken["error"]["code"] == "DUPLICATE_KEY"


async def test_vouchers_need_a_number_and_unknown_collections_fail(node: Node) -> None:
    debit = await node.create("accounts", account("111"))
    results = await node.push(
        op("create", "vouchers", new_id(), voucher(debit, debit, number=None)),
        op("create", "widgets", new_id(), {"x": 1}),
        op("create", "customers", new_id(), None),
    )
    codes = [r["error"]["code"] for r in results]
    assert codes == ["VALIDATION_FAILED", "NOT_FOUND", "VALIDATION_FAILED"]
    assert results[0]["error"]["details"]["errors"] == [{"field": "number", "type": "missing"}]


async def test_post_and_unpost(node: Node) -> None:
    debit = await node.create("accounts", account("111"))
    vid, cid = new_id(), new_id()
    results = await node.push(
        op("create", "vouchers", vid, voucher(debit, debit)),
        op("post", "vouchers", vid, base=1),
        op("unpost", "vouchers", vid, base=1),
        op("create", "customers", cid, customer("KH1")),
        op("post", "customers", cid, base=1),
    )
    assert [r["status"] for r in results] == [
        "applied", "applied", "rejected", "applied", "rejected"]
    assert results[2]["error"]["code"] == "STALE_VERSION"
    assert results[4]["error"]["code"] == "VALIDATION_FAILED"
    status, record = await node.call("GET", f"/v1/datasets/cty-abc/records/vouchers/{vid}")
    assert (status, record["data"]["posted"], record["version"]) == (200, True, 2)
    [unpost] = await node.push(op("unpost", "vouchers", vid, base=2))
    assert unpost["version"] == 3
    status, record = await node.call("GET", f"/v1/datasets/cty-abc/records/vouchers/{vid}")
    assert record["data"]["posted"] is False


async def test_rejection_messages_follow_accept_language(node: Node) -> None:
    await node.create("customers", customer("KH1"))
    node.lang = "vi"
    [result] = await node.push(op("create", "customers", new_id(), customer("KH1")))
    assert result["error"]["message"] == "Khách hàng KH1 đã tồn tại. Vui lòng kiểm tra lại"


async def test_a_key_with_quotes_commas_and_braces_is_found_again(node: Node) -> None:
    """The key lookups send the keys as one array on PostgreSQL: a code holding the array
    syntax's own characters is still the same key (a second create of it is a duplicate)."""
    code = 'KH"1\\2,{3} 4'
    first = await node.push(op("create", "customers", new_id(), customer(code)))
    assert first[0]["status"] == "applied", first
    again = await node.push(op("create", "customers", new_id(), customer(code)))
    assert again[0]["status"] == "rejected"
    assert again[0]["error"]["code"] == "DUPLICATE_KEY", again
