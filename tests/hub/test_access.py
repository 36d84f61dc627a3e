"""Contract: enrollment, tokens, protocol version, authorisation, error bodies, bad input."""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from hub import nodes
from hub.app import create_app
from hub.db import changes, enroll_codes
from hub.db import nodes as nodes_table
from tests.hub.conftest import ClientFactory, enroll
from tests.hub.helpers import DS, Node, admin, count_rows, customer, make_code, new_id, op

V1 = {"OfficeSync-Protocol": "1"}


async def test_health_answers_without_protocol_header(client: TestClient[Any, Any]) -> None:
    response = await client.get("/v1/health")
    assert response.status == 200
    assert await response.json() == {"service": "officesync-hub", "protocol": 1,
                                     "min_protocol": 1}
    assert response.headers["OfficeSync-Protocol"] == "1"


async def test_enroll_stores_only_hashes_and_codes_are_one_time(
    client: TestClient[Any, Any], db_url: str
) -> None:
    code = make_code(db_url, DS)
    answer = await enroll(client, code, "office-a")
    assert answer["datasets"] == [DS]

    def secrets_stored(conn: sa.Connection) -> list[Any]:
        return [*conn.execute(sa.select(nodes_table)).all(),
                *conn.execute(sa.select(enroll_codes)).all()]

    stored = repr(admin(db_url, secrets_stored))
    assert answer["token"] not in stored and code not in stored
    assert hashlib.sha256(answer["token"].encode()).hexdigest() in stored

    again = await client.post("/v1/enroll", json={"code": code, "node_name": "office-z"},
                              headers=V1)
    assert again.status == 401
    assert (await again.json())["error"]["code"] == "UNAUTHORIZED"


async def test_enrolling_again_adds_grants_and_rotates_the_token(
    client: TestClient[Any, Any], db_url: str
) -> None:
    first = await enroll(client, make_code(db_url, DS), "office-a")
    second = await enroll(client, make_code(db_url, "cty-other"), "office-a")
    assert second["node_id"] == first["node_id"]
    assert second["datasets"] == ["cty-abc", "cty-other"]
    new, old = Node(client, second["token"], second["node_id"]), Node(client, first["token"], "")
    assert await new.call("GET", "/v1/datasets") == (200, {"datasets": ["cty-abc", "cty-other"]})
    status, _ = await old.call("GET", "/v1/datasets")
    assert status == 401


async def test_unsupported_protocol_gets_426(node: Node) -> None:
    for header in (None, "0", "2", "abc"):
        headers = node.headers()
        if header is None:
            del headers["OfficeSync-Protocol"]
        else:
            headers["OfficeSync-Protocol"] = header
        response = await node.client.get("/v1/datasets", headers=headers)
        assert response.status == 426, header
        assert (await response.json())["error"]["code"] == "UPGRADE_REQUIRED"


async def test_min_protocol_above_ours_refuses_everyone(
    aiohttp_client: ClientFactory, db_url: str, datasets: list[str]
) -> None:
    client = await aiohttp_client(create_app(db_url, min_protocol=2))
    health = await (await client.get("/v1/health")).json()
    assert health["min_protocol"] == 2
    response = await client.post("/v1/enroll", json={"code": "x", "node_name": "n"}, headers=V1)
    assert response.status == 426


async def test_authorisation_codes(node: Node, client: TestClient[Any, Any]) -> None:
    path = f"/v1/datasets/{DS}/changes"
    assert (await client.get(path, headers=V1)).status == 401
    bad = await client.get(path, headers={**V1, "Authorization": "Bearer nope"})
    assert bad.status == 401 and (await bad.json())["error"]["code"] == "UNAUTHORIZED"
    status, body = await node.call("GET", "/v1/datasets/cty-other/changes")
    assert (status, body["error"]["code"]) == (403, "FORBIDDEN")
    status, body = await node.call("GET", "/v1/datasets/cty-nowhere/changes")
    assert (status, body["error"]["code"]) == (404, "DATASET_NOT_FOUND")
    assert await node.call("GET", "/v1/datasets") == (200, {"datasets": [DS]})


async def test_error_messages_follow_accept_language(node: Node) -> None:
    response = await node.client.get("/v1/datasets/cty-nowhere/changes",
                                     headers={**node.headers(), "Accept-Language": ""})
    assert "Không tìm thấy dữ liệu kế toán" in (await response.json())["error"]["message"]
    response = await node.client.get("/v1/datasets/cty-nowhere/changes",
                                     headers={**node.headers(), "Accept-Language": "en-US"})
    assert (await response.json())["error"]["message"] == \
        "Accounting dataset cty-nowhere was not found."


async def test_bad_input_gets_codes_and_changes_nothing(node: Node, db_url: str) -> None:
    path = f"/v1/datasets/{DS}/push"
    answers = []
    response = await node.client.post(path, data=b"{not json", headers={
        **node.headers(), "Content-Type": "application/json"})
    answers.append((response.status, (await response.json())["error"]["code"]))
    response = await node.client.post(path, data=b"ops", headers={
        **node.headers(), "Content-Type": "text/plain"})
    answers.append((response.status, (await response.json())["error"]["code"]))
    many = [op("create", "customers", new_id(), customer(f"K{i}")) for i in range(1001)]
    status, body = await node.call("POST", path, {"ops": many})
    answers.append((status, body["error"]["code"]))
    bad_op = {"ops": [op("create", "customers", new_id(), customer("K1")),
                      {**op("create", "customers", "not-a-uuid", customer("K2"))}]}
    status, body = await node.call("POST", path, bad_op)
    answers.append((status, body["error"]["code"]))
    status, body = await node.call("POST", path, {"ops": "nope"})
    answers.append((status, body["error"]["code"]))
    assert answers == [(400, "INVALID_JSON"), (415, "UNSUPPORTED_MEDIA_TYPE"),
                       (413, "PAYLOAD_TOO_LARGE"), (422, "VALIDATION_FAILED"),
                       (422, "VALIDATION_FAILED")]
    assert count_rows(db_url, changes) == 0
    assert (await node.changes())["changes"] == []


async def test_unknown_route_and_method(node: Node) -> None:
    status, body = await node.call("GET", "/v1/nowhere")
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    status, body = await node.call("DELETE", f"/v1/datasets/{DS}/push")
    assert (status, body["error"]["code"]) == (405, "METHOD_NOT_ALLOWED")


async def test_bad_query_parameters(node: Node) -> None:
    for params in ({"since": "x"}, {"limit": "0"}, {"wait": "-1"}):
        status, body = await node.call("GET", f"/v1/datasets/{DS}/changes", **params)
        assert (status, body["error"]["code"]) == (422, "VALIDATION_FAILED"), params


def test_admin_rejects_bad_dataset_ids(db_url: str) -> None:
    import pytest

    from protocol.errors import ProtocolError
    with pytest.raises(ProtocolError):
        admin(db_url, nodes.create_dataset, "Bad Id!")
    assert admin(db_url, nodes.create_dataset, "cty-new") is True
    assert admin(db_url, nodes.create_dataset, "cty-new") is False


async def test_a_refused_token_or_code_says_what_the_node_operator_does(
        client: TestClient[Any, Any], datasets: list[str]) -> None:
    """The hub's 401 is read by an office node's operator: enroll again, or get a new code;
    never "pair the workstation" (the node's LAN answer)."""
    path = f"/v1/datasets/{DS}/changes"
    for lang, again, code in (
            ("vi", "Hãy đăng ký lại máy chủ văn phòng với Cloud (officesync enroll)",
             "hãy xin quản trị Cloud mã mới (officesync hub enroll-code)"),
            ("en", "Enroll the office node with the hub again (officesync enroll).",
             "ask the hub's administrator for a new one (officesync hub enroll-code).")):
        headers = {**V1, "Accept-Language": lang}
        for extra in ({}, {"Authorization": "Bearer nope"}):
            refused = await client.get(path, headers={**headers, **extra})
            message = (await refused.json())["error"]["message"]
            assert refused.status == 401 and message.endswith(again), message
            assert "máy trạm" not in message and "Pair" not in message
        bad = await client.post("/v1/enroll", json={"code": "WRONG123", "node_name": "n"},
                                headers=headers)
        message = (await bad.json())["error"]["message"]
        assert bad.status == 401 and message.endswith(code), message
