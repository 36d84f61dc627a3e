"""Contract: record reads, listing, per-day digests and number-series leases."""

from __future__ import annotations

import asyncio

from protocol.digest import digest_buckets
from tests.hub.helpers import DS, Node, account, customer, new_id, op, voucher

R = f"/v1/datasets/{DS}/records"


async def test_get_record_and_tombstone(node: Node) -> None:
    cid = await node.create("customers", customer("KH1"))
    status, record = await node.call("GET", f"{R}/customers/{cid}")
    assert status == 200
    assert record == {"id": cid, "collection": "customers", "key": "KH1",
                      "data": customer("KH1"), "deleted": False, "version": 1, "seq": 1}
    await node.push(op("delete", "customers", cid, base=1))
    status, record = await node.call("GET", f"{R}/customers/{cid}")
    assert (status, record["deleted"], record["version"]) == (200, True, 2)
    for path in (f"{R}/customers/{new_id()}", f"{R}/vendors/{cid}"):
        status, body = await node.call("GET", path)
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND")


async def test_list_records_filters_and_pages(node: Node) -> None:
    debit = await node.create("accounts", account("111"))
    ids = [new_id() for _ in range(5)]
    await node.push(*[
        op("create", "vouchers", vid, voucher(debit, debit, f"PT00000{i}", date=f"2024-01-0{i+1}"))
        for i, vid in enumerate(ids)
    ], op("delete", "vouchers", ids[4], base=1))
    status, page = await node.call("GET", f"{R}/vouchers", date_from="2024-01-02",
                                   date_to="2024-01-04", limit=2)
    assert status == 200 and len(page["items"]) == 2 and page["next"]
    status, rest = await node.call("GET", f"{R}/vouchers", date_from="2024-01-02",
                                   date_to="2024-01-04", after=page["next"])
    got = {r["id"] for r in page["items"] + rest["items"]}
    assert got == set(ids[1:4]) and rest["next"] is None
    status, by_key = await node.call("GET", f"{R}/vouchers", key="receipt/PT000000")
    assert [r["id"] for r in by_key["items"]] == [ids[0]]
    _, live = await node.call("GET", f"{R}/vouchers")
    _, every = await node.call("GET", f"{R}/vouchers", include_deleted="1")
    assert (len(live["items"]), len(every["items"])) == (4, 5)
    status, body = await node.call("GET", f"{R}/vouchers", date_from="yesterday")
    assert (status, body["error"]["code"]) == (422, "VALIDATION_FAILED")


async def test_digest_buckets_per_day(node: Node) -> None:
    debit = await node.create("accounts", account("111"))
    dates = ["2024-02-01", "2024-02-01", "2024-02-03", "2024-03-01"]
    ids = [new_id() for _ in dates]
    results = await node.push(*[
        op("create", "vouchers", vid, voucher(debit, debit, f"PT00001{i}", date=d))
        for i, (vid, d) in enumerate(zip(ids, dates, strict=True))
    ])
    assert all(r["status"] == "applied" for r in results)
    status, body = await node.call("POST", f"/v1/datasets/{DS}/digest", {
        "collection": "vouchers", "date_from": "2024-02-01", "date_to": "2024-02-29"})
    assert status == 200
    expected = digest_buckets([(d, i, 1) for d, i in zip(dates[:3], ids[:3], strict=True)])
    assert body == {"buckets": [b.model_dump() for b in expected]}
    assert [b["count"] for b in body["buckets"]] == [2, 1]
    status, body = await node.call("POST", f"/v1/datasets/{DS}/digest", {
        "collection": "customers", "date_from": "2024-02-01", "date_to": "2024-02-29"})
    assert (status, body["error"]["code"]) == (422, "VALIDATION_FAILED")


async def test_lease_blocks_never_overlap(node: Node, node_b: Node) -> None:
    async def lease(who: Node, count: int) -> tuple[int, int]:
        status, body = await who.call("POST", f"/v1/datasets/{DS}/series/PT/lease",
                                      {"count": count})
        assert status == 200 and body["series"] == "PT", body
        return body["start"], body["end"]

    blocks = await asyncio.gather(*(lease(node if i % 2 else node_b, 10 + i) for i in range(8)))
    numbers = [n for start, end in blocks for n in range(start, end + 1)]
    assert sorted(numbers) == list(range(1, len(numbers) + 1))
    assert [end - start + 1 for start, end in blocks] == [10 + i for i in range(8)]
    status, body = await node.call("POST", f"/v1/datasets/{DS}/series/XX/lease", {"count": 1})
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    status, body = await node.call("POST", f"/v1/datasets/{DS}/series/PT/lease", {"count": 0})
    assert (status, body["error"]["code"]) == (422, "VALIDATION_FAILED")
