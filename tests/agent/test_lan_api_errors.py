"""Bad input gets a clear error code in the client's language and changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from agent.app import NodeContext
from tests.agent.conftest import DATASET, AppClient

BASE = f"/api/v1/datasets/{DATASET}/records"
CUSTOMER = {"code": "KH001", "name": "Công ty A"}


async def error_of(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return dict(body["error"])


async def total(ctx: NodeContext) -> int:
    return sum((await ctx.stores.get(DATASET).sync_counts()).values())


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"data": b'{"data": {"code": "KH9", "name": "x"}}'}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        ({"data": b'{"data": {', "headers": {"Content-Type": "application/json"}},
         400, "INVALID_JSON"),
        ({"data": b"", "headers": {"Content-Type": "application/json"}}, 400, "INVALID_JSON"),
        ({"json": [1, 2]}, 422, "VALIDATION_FAILED"),
        ({"json": {"data": {"code": "KH9", "name": "x"}, "extra": 1}}, 422, "VALIDATION_FAILED"),
        ({"json": {"data": {"code": "KH9", "name": "x"}, "id": "not-a-uuid"}},
         422, "VALIDATION_FAILED"),
        ({"json": {"data": {"code": "KH9"}}}, 422, "VALIDATION_FAILED"),  # store-side schema
        ({"json": {"data": {"code": "KH9", "name": "x" * 60_000}}}, 413, "PAYLOAD_TOO_LARGE"),
    ],
)
async def test_bad_create_bodies(
    lan: AppClient, ctx: NodeContext, auth: dict[str, str],
    kwargs: dict[str, Any], status: int, code: str,
) -> None:
    headers = {**auth, **kwargs.pop("headers", {})}
    resp = await lan.post(f"{BASE}/customers", headers=headers, **kwargs)
    error = await error_of(resp, status)
    assert error["code"] == code
    assert await total(ctx) == 0


async def test_bad_update_changes_nothing(lan: AppClient, auth: dict[str, str]) -> None:
    resp = await lan.post(f"{BASE}/customers", json={"data": CUSTOMER}, headers=auth)
    record, tag = await resp.json(), resp.headers["ETag"]
    one = f"{BASE}/customers/{record['id']}"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"json": {"data": {"code": ""}}}, 422, "VALIDATION_FAILED"),
        ({"json": {"id": str(uuid.uuid4()), "data": CUSTOMER}}, 422, "VALIDATION_FAILED"),
        ({"data": b"nope", "headers": {"Content-Type": "application/json"}}, 400, "INVALID_JSON"),
        ({"json": {"data": CUSTOMER}, "headers": {"If-Match": "abc"}}, 428,
         "PRECONDITION_REQUIRED"),
    ]
    for kwargs, status, code in cases:
        headers = {**auth, "If-Match": tag, **kwargs.pop("headers", {})}
        error = await error_of(await lan.put(one, headers=headers, **kwargs), status)
        assert error["code"] == code
    after = await lan.get(one, headers=auth)
    assert after.headers["ETag"] == tag and (await after.json())["data"] == CUSTOMER


async def test_unknown_things_are_404_and_wrong_method_405(
    lan: AppClient, auth: dict[str, str]
) -> None:
    cases = [
        ("/api/v1/datasets/nope/records/customers", "DATASET_NOT_FOUND"),
        ("/api/v1/datasets/NOT..valid/records/customers", "DATASET_NOT_FOUND"),
        (f"{BASE}/nope", "NOT_FOUND"),
        (f"{BASE}/customers/{uuid.uuid4()}", "NOT_FOUND"),
        ("/api/v1/nope", "NOT_FOUND"),
        ("/nope", "NOT_FOUND"),
    ]
    for path, code in cases:
        assert (await error_of(await lan.get(path, headers=auth), 404))["code"] == code, path
    error = await error_of(await lan.patch(f"{BASE}/customers", headers=auth), 405)
    assert error["code"] == "METHOD_NOT_ALLOWED"


async def test_disconnected_dataset_is_409(
    lan: AppClient, ctx: NodeContext, auth: dict[str, str]
) -> None:
    await ctx.stores.disconnect(DATASET)
    resp = await lan.get(f"{BASE}/customers", headers={**auth, "Accept-Language": "en"})
    error = await error_of(resp, 409)
    assert error["code"] == "DATASET_NOT_CONNECTED" and DATASET in error["message"]


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "x"}, {"limit": "1001"},
                                    {"date_from": "2024-13-01"}, {"sync_state": "lost"}])
async def test_bad_list_filters_are_422(
    lan: AppClient, auth: dict[str, str], params: dict[str, str]
) -> None:
    resp = await lan.get(f"{BASE}/customers", params=params, headers=auth)
    assert (await error_of(resp, 422))["code"] == "VALIDATION_FAILED"


async def test_messages_follow_accept_language_else_config(
    lan: AppClient, auth: dict[str, str]
) -> None:
    path = "/api/v1/datasets/nope/records/customers"
    default = await error_of(await lan.get(path, headers=auth), 404)
    # node.language = vi; the node names the datasets it has
    assert default["message"] == "Không tìm thấy dữ liệu kế toán nope. Máy chủ này có: cty-abc"
    en = await error_of(await lan.get(path, headers={**auth, "Accept-Language": "en-US"}), 404)
    assert en["message"] == "Accounting dataset nope was not found. This node has: cty-abc."
    vi = await error_of(
        await lan.get(path, headers={**auth, "Accept-Language": "en;q=0.5, vi"}), 404)
    assert vi["message"] == default["message"]
    fr = await error_of(await lan.get(path, headers={**auth, "Accept-Language": "fr"}), 404)
    assert fr["message"] == default["message"]


async def test_unexpected_error_is_500_without_trace(
    lan: AppClient, ctx: NodeContext, auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    async def boom() -> dict[str, int]:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(ctx.stores.get(DATASET), "sync_counts", boom)
    resp = await lan.get(f"/api/v1/datasets/{DATASET}/sync", headers=auth)
    error = await error_of(resp, 500)
    assert error["code"] == "INTERNAL" and error["details"] == {}
    text = await resp.text()
    assert "secret" not in text and "Traceback" not in text
    assert "secret internal detail" in caplog.text  # but it is logged
