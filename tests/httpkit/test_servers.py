"""The three servers built on the kit (the node's LAN and control APIs, the hub) answer the
same faults the same way: one body shape, the same codes and the same ``details`` keys.

Before the kit the hub had its own copy of the error middleware and of the body reading,
already drifted: its 413 said ``details.max_bytes`` (the node: ``limit_bytes``), its 415
``details.content_type`` (the node: ``expected``/``received``), its 405 had no ``Allow``; and
the control API's unknown-path answer pointed at the LAN API's ``/api/v1/``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

import hub.app
from httpkit import MIB
from protocol.version import PROTOCOL_HEADER, PROTOCOL_VERSION

Client = TestClient[Any, Any]
HUB_LIMIT = 64 * 1024


@dataclass
class Server:
    name: str
    client: Client
    headers: dict[str, str]
    json_route: tuple[str, str]  # (method, path) of a route that reads a JSON body
    limit_bytes: int
    prefix: str | None  # named in the answer to an unknown path

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        resp = await self.client.request(method, path, headers=headers, **kwargs)
        body = await resp.json()
        assert set(body) == {"error"}, (self.name, body)
        assert set(body["error"]) == {"code", "message", "details"}, (self.name, body)
        return resp, dict(body["error"])


@pytest.fixture
async def hub_client(aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch) -> Client:
    monkeypatch.setattr(hub.app, "MAX_BODY", HUB_LIMIT)  # not 64 MiB of test traffic
    return await aiohttp_client(hub.app.create_app(f"sqlite:///{tmp_path}/hub.db"))


@pytest.fixture(params=["lan", "control", "hub"])
def server(request: pytest.FixtureRequest) -> Server:
    if request.param == "lan":
        return Server("lan", request.getfixturevalue("lan"), {},
                      ("POST", "/api/v1/pair"), int(0.05 * MIB), "/api/v1/")
    if request.param == "control":
        return Server("control", request.getfixturevalue("control"),
                      request.getfixturevalue("control_headers"),
                      # loopback only: bodies up to an inbox file (officesync import posts it)
                      ("PUT", "/control/v1/online"), 16 * MIB, "/control/v1/")
    return Server("hub", request.getfixturevalue("hub_client"),
                  {PROTOCOL_HEADER: str(PROTOCOL_VERSION)}, ("POST", "/v1/enroll"),
                  HUB_LIMIT, None)


async def test_unknown_path(server: Server) -> None:
    resp, error = await server.call("GET", "/no/such/path", headers={"Accept-Language": "en"})
    assert resp.status == 404 and error["code"] == "NOT_FOUND"
    assert error["details"] == {"path": "/no/such/path"}
    hint = f" The API's paths start with {server.prefix}." if server.prefix else ""
    assert error["message"] == f"Path /no/such/path not found.{hint}"


async def test_wrong_method(server: Server) -> None:
    method, path = server.json_route
    resp, error = await server.call("PATCH", path)
    assert resp.status == 405 and error["code"] == "METHOD_NOT_ALLOWED"
    assert error["details"]["method"] == "PATCH" and method in error["details"]["allowed"]
    assert method in resp.headers["Allow"]


async def test_not_json(server: Server) -> None:
    resp, error = await server.call(*server.json_route, data=b"x=1",
                                    headers={"Content-Type": "text/plain"})
    assert resp.status == 415 and error["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert error["details"] == {"expected": "application/json", "received": "text/plain"}


async def test_malformed_json(server: Server) -> None:
    resp, error = await server.call(*server.json_route, data=b'{"a": ',
                                    headers={"Content-Type": "application/json"})
    assert resp.status == 400 and error["code"] == "INVALID_JSON"
    assert set(error["details"]) == {"line", "column"}


async def test_body_too_large(server: Server) -> None:
    body = b'{"pad": "' + b"x" * server.limit_bytes + b'"}'
    resp, error = await server.call(*server.json_route, data=body,
                                    headers={"Content-Type": "application/json"})
    assert resp.status == 413 and error["code"] == "PAYLOAD_TOO_LARGE"
    assert error["details"] == {"limit_bytes": server.limit_bytes}
    assert error["message"].endswith(f"(tối đa {server.limit_bytes / MIB:g} MiB)")


async def test_body_that_does_not_fit_the_model(server: Server) -> None:
    resp, error = await server.call(*server.json_route, json=[1, 2],
                                    headers={"Accept-Language": "en"})
    assert resp.status == 422 and error["code"] == "VALIDATION_FAILED"
    assert error["message"].startswith("Invalid data: ")
    if server.name != "control":  # its one field is checked by hand, not by a model
        assert error["details"]["errors"] == [{"field": "(body)", "type": "model_type"}]
        assert error["message"] == "Invalid data: The request body must be a JSON object {…}"
