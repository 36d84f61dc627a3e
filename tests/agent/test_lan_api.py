"""LAN API v1: authentication everywhere, records with ETag / If-Match (S10), store errors
surfaced with their codes, dataset and sync routes."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from agent.app import NodeContext
from agent.lan_api import all_routes
from tests.agent.conftest import DATASET, AppClient

BASE = f"/api/v1/datasets/{DATASET}/records"
CUSTOMER = {"code": "KH001", "name": "Công ty A"}


async def create(lan: AppClient, auth: dict[str, str], collection: str, data: dict[str, Any],
                 **extra: Any) -> tuple[dict[str, Any], str]:
    resp = await lan.post(f"{BASE}/{collection}", json={"data": data, **extra}, headers=auth)
    assert resp.status == 201, await resp.text()
    return await resp.json(), resp.headers["ETag"]


async def count_records(ctx: NodeContext) -> int:
    counts = await ctx.stores.get(DATASET).sync_counts()
    return sum(counts.values())


def _concrete(path: str) -> str:
    values = {"ds": DATASET, "collection": "customers", "id": str(uuid.uuid4())}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), path)


@pytest.mark.parametrize("token", [None, "Bearer not-a-token", "Basic abc", "Bearer "])
async def test_every_private_route_refuses_an_unpaired_device(
    lan: AppClient, ctx: NodeContext, auth: dict[str, str], token: str | None
) -> None:
    await create(lan, auth, "customers", CUSTOMER)
    headers = {"Authorization": token} if token else {}
    private = [r for r in all_routes() if not r.public]
    assert len(private) >= 10
    for route in private:
        resp = await lan.request(route.method, _concrete(route.full_path), headers=headers,
                                 json={"data": {"code": "KH002", "name": "B"}})
        assert resp.status == 401, (route.method, route.path)
        body = await resp.json()
        assert list(body) == ["error"] and body["error"]["code"] == "UNAUTHORIZED"
        assert "KH001" not in await resp.text()
    assert await count_records(ctx) == 1  # the intruder created nothing


async def test_public_routes_need_no_token(lan: AppClient) -> None:
    info = await (await lan.get("/api/v1/info")).json()
    assert info["name"] == "test-node"
    assert info["protocol"] == 1
    assert info["datasets"] == [{"id": DATASET, "connected": True}]
    assert info["tls_fingerprint"] is None
    assert (await lan.get("/api/v1/openapi.json")).status == 200


async def test_datasets_lists_hosted_with_connected(
    lan: AppClient, ctx: NodeContext, auth: dict[str, str]
) -> None:
    store = await ctx.stores.connect("cty-xyz")
    await store.create("customers", {"code": "KH9", "name": "kept"})
    await ctx.stores.disconnect("cty-xyz")
    body = await (await lan.get("/api/v1/datasets", headers=auth)).json()
    # A disconnected dataset is listed with the unsynced records its kept file holds (S3).
    assert body == {"datasets": [{"id": DATASET, "connected": True, "pending": 0},
                                 {"id": "cty-xyz", "connected": False, "pending": 1}]}


async def test_create_get_update_delete_with_etags(lan: AppClient, auth: dict[str, str]) -> None:
    record, tag = await create(lan, auth, "customers", CUSTOMER)
    assert record["key"] == "KH001" and record["sync"]["state"] == "pending"
    assert tag == f'"{record["local_rev"]}"'

    resp = await lan.get(f"{BASE}/customers/{record['id']}", headers=auth)
    assert resp.status == 200 and resp.headers["ETag"] == tag
    assert (await resp.json())["data"] == CUSTOMER

    changed = {**CUSTOMER, "name": "Công ty A mới"}
    resp = await lan.put(f"{BASE}/customers/{record['id']}", json={"data": changed},
                         headers={**auth, "If-Match": tag})
    assert resp.status == 200, await resp.text()
    new_tag = resp.headers["ETag"]
    assert new_tag != tag and (await resp.json())["data"]["name"] == "Công ty A mới"

    resp = await lan.delete(f"{BASE}/customers/{record['id']}",
                            headers={**auth, "If-Match": f"W/{new_tag}"})
    assert resp.status == 200 and (await resp.json())["deleted"] is True


async def test_client_chosen_id_and_list_filters(lan: AppClient, auth: dict[str, str]) -> None:
    chosen = str(uuid.uuid4())
    record, _ = await create(lan, auth, "customers", CUSTOMER, id=chosen)
    assert record["id"] == chosen
    await create(lan, auth, "customers", {"code": "KH002", "name": "B"})
    page = await (await lan.get(f"{BASE}/customers", params={"limit": "1"}, headers=auth)).json()
    assert [r["key"] for r in page["items"]] == ["KH001"] and page["next"]
    page = await (await lan.get(f"{BASE}/customers", params={"after": page["next"]},
                                headers=auth)).json()
    assert [r["key"] for r in page["items"]] == ["KH002"] and page["next"] is None
    page = await (await lan.get(f"{BASE}/customers", params={"key": "KH002"},
                                headers=auth)).json()
    assert [r["key"] for r in page["items"]] == ["KH002"]


async def test_missing_if_match_is_refused_and_changes_nothing(
    lan: AppClient, auth: dict[str, str]
) -> None:
    record, tag = await create(lan, auth, "customers", CUSTOMER)
    one = f"{BASE}/customers/{record['id']}"
    for method, path, body in [("PUT", one, {"data": {**CUSTOMER, "name": "X"}}),
                               ("DELETE", one, None), ("POST", one + "/post", None),
                               ("POST", one + "/unpost", None)]:
        resp = await lan.request(method, path, json=body, headers=auth)
        assert resp.status == 428, (method, path)
        assert (await resp.json())["error"]["code"] == "PRECONDITION_REQUIRED"
    resp = await lan.get(one, headers=auth)
    assert resp.headers["ETag"] == tag and (await resp.json())["data"] == CUSTOMER


async def test_stale_write_gets_the_current_record(lan: AppClient, auth: dict[str, str]) -> None:
    """S10: a workstation editing an old copy is told to reload, with the current record."""
    record, old_tag = await create(lan, auth, "customers", CUSTOMER)
    one = f"{BASE}/customers/{record['id']}"
    first = await lan.put(one, json={"data": {**CUSTOMER, "name": "first"}},
                          headers={**auth, "If-Match": old_tag})
    assert first.status == 200
    for method, path, body in [("PUT", one, {"data": {**CUSTOMER, "name": "second"}}),
                               ("DELETE", one, None)]:
        resp = await lan.request(method, path, json=body,
                                 headers={**auth, "If-Match": old_tag, "Accept-Language": "vi"})
        assert resp.status == 409
        error = (await resp.json())["error"]
        assert error["code"] == "STALE_LOCAL_COPY"
        assert error["message"].startswith("Dữ liệu đã bị thay đổi")
        assert error["details"]["current"]["data"]["name"] == "first"
    current = await (await lan.get(one, headers=auth)).json()
    assert current["data"]["name"] == "first" and current["deleted"] is False


async def _voucher_refs(lan: AppClient, auth: dict[str, str]) -> dict[str, str]:
    debit, _ = await create(lan, auth, "accounts", {"number": "111", "name": "Tiền mặt"})
    credit, _ = await create(lan, auth, "accounts", {"number": "131", "name": "Phải thu"})
    return {"debit": debit["id"], "credit": credit["id"]}


async def test_post_and_unpost_a_voucher(lan: AppClient, auth: dict[str, str]) -> None:
    refs = await _voucher_refs(lan, auth)
    voucher, tag = await create(lan, auth, "vouchers", {
        "type": "receipt", "date": "2024-05-01", "lines": [{**refs, "amount": 100000}]})
    assert voucher["data"]["number"].startswith("PT")
    one = f"{BASE}/vouchers/{voucher['id']}"
    resp = await lan.post(one + "/post", headers={**auth, "If-Match": tag})
    assert resp.status == 200 and (await resp.json())["data"]["posted"] is True
    resp = await lan.post(one + "/unpost", headers={**auth, "If-Match": resp.headers["ETag"]})
    assert resp.status == 200 and (await resp.json())["data"]["posted"] is False


async def test_duplicate_key_and_missing_reference_are_409_with_codes(
    lan: AppClient, ctx: NodeContext, auth: dict[str, str]
) -> None:
    existing, _ = await create(lan, auth, "customers", CUSTOMER)
    resp = await lan.post(f"{BASE}/customers", json={"data": CUSTOMER},
                          headers={**auth, "Accept-Language": "en"})
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert error["code"] == "DUPLICATE_KEY" and "KH001" in error["message"]
    assert error["details"]["existing"]["id"] == existing["id"]

    resp = await lan.post(f"{BASE}/sales_orders", headers=auth, json={"data": {
        "number": "DH001", "date": "2024-05-01", "customer": str(uuid.uuid4()), "lines": []}})
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "MISSING_REFERENCE"
    assert await count_records(ctx) == 1


async def test_sync_summary_issues_and_sync_now(
    lan: AppClient, ctx: NodeContext, auth: dict[str, str]
) -> None:
    await create(lan, auth, "customers", CUSTOMER)
    summary = await (await lan.get(f"/api/v1/datasets/{DATASET}/sync", headers=auth)).json()
    assert summary == {"connectivity": "not_configured", "online": True,
                       "counts": {"synced": 0, "pending": 1, "syncing": 0, "error": 0,
                                  "conflict": 0, "blocked": 0},
                       "last_push_at": None, "last_pull_at": None,
                       "state": "ok", "code": None, "message": None,
                       "selfcheck": {"state": "never", "checked_at": None, "through": None,
                                     "full": False, "message": {
                                         "vi": "Chưa tự kiểm tra dữ liệu với Cloud",
                                         "en": "Not checked against the cloud yet"}},
                       "download": None, "search_backlog": None}
    issues = await lan.get(f"/api/v1/datasets/{DATASET}/sync/issues", headers=auth)
    assert issues.status == 200 and (await issues.json()) == {"items": []}

    woken: list[str | None] = []

    async def sync_now(dataset_id: str | None = None) -> None:
        woken.append(dataset_id)

    ctx.sync.sync_now = sync_now  # type: ignore[method-assign]
    resp = await lan.post(f"/api/v1/datasets/{DATASET}/sync", headers=auth)
    assert resp.status == 202 and woken == [DATASET]
    resp = await lan.post("/api/v1/datasets/nope/sync", headers=auth)
    assert resp.status == 404 and woken == [DATASET]


async def test_resolve_refuses_unknown_actions_and_records_without_issues(
    lan: AppClient, auth: dict[str, str]
) -> None:
    created, _etag = await create(lan, auth, "customers", {"code": "KH1", "name": "A"})
    path = f"{BASE}/customers/{created['id']}/resolve"
    resp = await lan.post(path, json={"action": "merge"}, headers=auth)
    assert resp.status == 422
    assert (await resp.json())["error"]["code"] == "VALIDATION_FAILED"
    resp = await lan.post(path, json={"action": "keep_local"},
                          headers={**auth, "Accept-Language": "en"})
    body = await resp.json()
    assert resp.status == 422 and "nothing to resolve" in body["error"]["message"]
    resp = await lan.post(path, json={"action": "keep_local"})
    assert resp.status == 401
