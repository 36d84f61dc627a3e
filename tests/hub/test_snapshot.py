"""Contract: the snapshot (``GET /v1/datasets/{ds}/snapshot``) — a dataset's records in id
order at their latest versions, tombstones included, with the feed's head read before the
page; both hub backends. And on PostgreSQL, a page is read along the primary key."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import event

from hub import nodes, records
from hub.db import create_schema
from hub.store import HubStore
from protocol.models import SnapshotPage
from protocol.text import KEY_FORM
from tests.hub.helpers import DS, Node, account, customer, new_id, op, voucher

V1 = {"OfficeSync-Protocol": "1"}
PATH = f"/v1/datasets/{DS}/snapshot"


async def snapshot(node: Node, ds: str = DS, **params: Any) -> dict[str, Any]:
    status, body = await node.call("GET", f"/v1/datasets/{ds}/snapshot", **params)
    assert status == 200, body
    return dict(body)


async def read_all(node: Node, limit: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every page from the first: (the records in order, the pages without their records)."""
    seen: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = await snapshot(node, limit=limit, **({"after": after} if after else {}))
        seen += page["records"]
        pages.append({k: v for k, v in page.items() if k != "records"})
        if page["next"] is None:
            return seen, pages
        assert page["next"] == page["records"][-1]["id"]
        after = page["next"]


async def test_pages_in_id_order_to_the_end(node: Node) -> None:
    ids = [new_id() for _ in range(11)]
    await node.push(*[op("create", "customers", rid, customer(f"K{i}"))
                      for i, rid in enumerate(ids)])
    seen, pages = await read_all(node, limit=4)
    assert [r["id"] for r in seen] == sorted(ids)
    assert [len(p) for p in (seen,)] == [11] and len(pages) == 3
    assert pages[0]["total"] == 11 and [p["total"] for p in pages[1:]] == [None, None]
    assert {p["head_seq"] for p in pages} == {11}
    assert pages[-1]["next"] is None
    first = seen[0]
    assert set(first) == {"seq", "collection", "id", "version", "deleted", "data"}
    assert first["collection"] == "customers" and first["data"]["code"].startswith("K")
    assert SnapshotPage.from_json(orjson.dumps(await snapshot(node, limit=4))).total == 11


async def test_latest_version_only_and_tombstones(node: Node) -> None:
    kept, edited, gone = new_id(), new_id(), new_id()
    await node.push(op("create", "customers", kept, customer("KEEP")),
                    op("create", "customers", edited, customer("EDIT")),
                    op("create", "customers", gone, customer("GONE")))
    await node.push(op("update", "customers", edited, customer("EDIT", "Second"), base=1))
    await node.push(op("update", "customers", edited, customer("EDIT", "Third"), base=2))
    await node.push(op("delete", "customers", gone, None, base=1))
    seen, pages = await read_all(node, limit=1000)
    by_id = {r["id"]: r for r in seen}
    assert len(seen) == 3 and set(by_id) == {kept, edited, gone}  # one entry a record
    assert (by_id[kept]["version"], by_id[kept]["seq"], by_id[kept]["deleted"]) == (1, 1, False)
    assert (by_id[edited]["version"], by_id[edited]["seq"]) == (3, 5)
    assert by_id[edited]["data"]["name"] == "Third"
    assert (by_id[gone]["version"], by_id[gone]["seq"], by_id[gone]["deleted"]) == (2, 6, True)
    assert pages == [{"next": None, "head_seq": 6, "total": 3}]


async def test_an_empty_dataset_and_other_datasets(node: Node, node_b: Node) -> None:
    assert await snapshot(node) == {"records": [], "next": None, "head_seq": 0, "total": 0}
    await node.push(op("create", "customers", new_id(), customer("K1")))
    page = await snapshot(node, after="ffffffff-ffff-4fff-bfff-ffffffffffff")
    assert page == {"records": [], "next": None, "head_seq": 1, "total": None}


async def test_head_seq_is_read_before_the_page(node: Node) -> None:
    """A change after the first page's head shows in a later page (a newer version), and the
    feed from that head brings it too: between them, nothing is missed."""
    ids = sorted(new_id() for _ in range(6))
    await node.push(*[op("create", "customers", rid, customer(f"K{i}"))
                      for i, rid in enumerate(ids)])
    first = await snapshot(node, limit=3)
    assert [r["id"] for r in first["records"]] == ids[:3] and first["head_seq"] == 6
    await node.push(op("update", "customers", ids[4], customer("K4", "Later"), base=1))
    await node.push(op("update", "customers", ids[0], customer("K0", "Later"), base=1))
    rest = await snapshot(node, after=first["next"], limit=3)
    assert rest["head_seq"] == 8 and rest["next"] is None
    assert [(r["id"], r["version"]) for r in rest["records"]] == [
        (ids[3], 1), (ids[4], 2), (ids[5], 1)]
    feed = await node.changes(first["head_seq"])
    assert [(c["id"], c["version"]) for c in feed["changes"]] == [(ids[4], 2), (ids[0], 2)]


async def test_authorisation_codes(node: Node, client: TestClient[Any, Any]) -> None:
    assert (await client.get(PATH, headers=V1)).status == 401
    bad = await client.get(PATH, headers={**V1, "Authorization": "Bearer nope"})
    assert bad.status == 401 and (await bad.json())["error"]["code"] == "UNAUTHORIZED"
    status, body = await node.call("GET", "/v1/datasets/cty-other/snapshot")
    assert (status, body["error"]["code"]) == (403, "FORBIDDEN")
    status, body = await node.call("GET", "/v1/datasets/cty-nowhere/snapshot")
    assert (status, body["error"]["code"]) == (404, "DATASET_NOT_FOUND")


async def test_a_revoked_node_is_refused(node: Node, db_url: str) -> None:
    from tests.hub.helpers import admin
    admin(db_url, nodes.revoke, "office-a")
    status, body = await node.call("GET", PATH)
    assert (status, body["error"]["code"]) == (401, "UNAUTHORIZED")


@pytest.mark.parametrize(("params", "vi", "en"), [
    ({"after": "KH001"}, "Con trỏ trang (after) phải là mã định danh (id)",
     "Page cursor (after) must be the id of the last record"),
    ({"after": "3F2B8C1E-9A4D-4F6B-8E2A-1C5D7E9F0A3B"}, "Con trỏ trang (after) phải là",
     "Page cursor (after) must be"),
    ({"limit": "0"}, "phải là số nguyên từ 1 đến 5000", "must be a whole number from 1 to 5000"),
    ({"limit": "5001"}, "phải là số nguyên từ 1 đến 5000",
     "must be a whole number from 1 to 5000"),
    ({"limit": "x"}, "phải là số nguyên", "must be a whole number"),
    ({"form": "csv"}, "Dạng trang (form) chỉ nhận 'rows'", "Page form (form) must be 'rows'"),
])
async def test_bad_after_and_limit_are_worded_in_both_languages(
    node: Node, params: dict[str, str], vi: str, en: str
) -> None:
    for lang, words in (("vi", vi), ("en", en)):
        node.lang = lang
        status, body = await node.call("GET", PATH, **params)
        assert (status, body["error"]["code"]) == (422, "VALIDATION_FAILED"), body
        assert words in body["error"]["message"], (lang, body)


async def test_limit_is_honoured_up_to_5000(node: Node) -> None:
    await node.push(*[op("create", "customers", new_id(), customer(f"K{i}")) for i in range(7)])
    assert len((await snapshot(node, limit=5000))["records"]) == 7
    page = await snapshot(node, limit=2)
    assert len(page["records"]) == 2 and page["next"] == page["records"][1]["id"]
    assert len((await snapshot(node))["records"]) == 7  # default 1000


async def test_the_rows_form_holds_the_same_records_as_arrays(node: Node) -> None:
    """``?form=rows``: each record as ``[seq, collection, id, version, deleted, key, date,
    data]``, its data the stored JSON text, its key in the form ``key_form`` names."""
    cid, vid = new_id(), new_id()
    await node.push(op("create", "customers", cid, customer(" kh-\uff411 ", "Sài \"Gòn\"")),
                    op("create", "accounts", a1 := new_id(), account("111")),
                    op("create", "accounts", a2 := new_id(), account("131")),
                    op("create", "vouchers", vid, voucher(a1, a2, date="2024-02-29")))
    await node.push(op("delete", "accounts", a2, base=1))
    objects = (await snapshot(node))["records"]
    rows = await snapshot(node, form="rows")
    assert rows["form"] == "rows" and rows["key_form"] == KEY_FORM and "records" not in rows
    assert {k: rows[k] for k in ("next", "head_seq", "total")} == {
        "next": None, "head_seq": 5, "total": 4}
    assert [r[:5] for r in rows["rows"]] == [
        [o["seq"], o["collection"], o["id"], o["version"], o["deleted"]] for o in objects]
    assert [orjson.loads(r[7]) for r in rows["rows"]] == [o["data"] for o in objects]
    by_id = {r[2]: r for r in rows["rows"]}
    assert by_id[cid][5:7] == ["KH-A1", None] and by_id[vid][6] == "2024-02-29"
    assert by_id[a2][4] is True and by_id[a2][5] == "131"  # a tombstone keeps its last key
    two = await snapshot(node, form="rows", limit=2)
    assert two["next"] == two["rows"][1][2] and two["total"] == 4


@pytest.mark.postgres
def test_pg_page_is_read_along_the_primary_key(pg_url: str) -> None:
    """A page is an index scan of ``hub_records_pkey`` from ``after`` in (dataset, id) order,
    whether or not the table was analyzed: never a scan of the dataset and a sort."""
    ds, seeded = "cty-plans", 20_000
    store = HubStore(pg_url)
    plans: list[str] = []

    def explain(_conn: Any, cursor: Any, statement: str, params: Any, _ctx: Any,
                many: bool) -> None:
        if statement.startswith("SELECT seq") and "FROM hub_records" in statement:
            rows = cursor.connection.execute("EXPLAIN " + statement, params).fetchall()
            plans.append("\n".join(r[0] for r in rows))

    try:
        create_schema(store.engine)
        store.transaction(nodes.create_dataset, ds, write=True)
        store.transaction(nodes.create_dataset, "cty-big", write=True)
        with store.engine.connect() as conn, conn.begin():
            for name, count in ((ds, seeded), ("cty-big", seeded * 2)):
                conn.exec_driver_sql(
                    "INSERT INTO hub_records (dataset, id, collection, \"key\", \"date\", data,"
                    " deleted, version, seq) SELECT %s, gen_random_uuid()::text, 'customers',"
                    " 'KH' || g, NULL, '{}', false, 1, g FROM generate_series(1, %s) g",
                    (name, count))
        event.listen(store.engine, "before_cursor_execute", explain)
        first = store.transaction(records.snapshot_page, ds, None, 2500)
        middle = store.transaction(records.snapshot_page, ds, "80000000-0000-4000-8000-"
                                   "000000000000", 2500)
        with store.engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("ANALYZE hub_records")
        analyzed = store.transaction(records.snapshot_page, ds, "40000000-0000-4000-8000-"
                                     "000000000000", 2500)
    finally:
        event.remove(store.engine, "before_cursor_execute", explain)
        store.engine.dispose()
    for page in (first, middle, analyzed):
        assert SnapshotPage.from_json(page).next is not None
    assert len(plans) == 3
    for plan in plans:
        assert "Index Scan using hub_records_pkey" in plan and "Index Cond" in plan, plan
        assert "Sort" not in plan and "Bitmap" not in plan and "Seq Scan" not in plan, plan
