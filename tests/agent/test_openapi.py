"""The OpenAPI document served at /api/v1/openapi.json matches the LAN app's router exactly."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from agent.app import NodeContext, create_lan_app
from agent.dashboard import ROUTE_NAMES as DASHBOARD_ROUTES
from tests.agent.conftest import AppClient

METHODS = {"get", "put", "post", "delete", "patch"}


def _router_operations(ctx: NodeContext) -> set[tuple[str, str]]:
    app = create_lan_app(ctx)
    found = set()
    for route in app.router.routes():
        method = route.method.lower()
        if method == "head" or route.name in DASHBOARD_ROUTES:  # HEAD: next to every GET
            continue
        assert route.resource is not None
        path = re.sub(r"\{(\w+)(?::[^}]*)?\}", r"{\1}", route.resource.canonical)
        found.add((method, path))
    return found


async def test_document_and_router_agree(lan: AppClient, ctx: NodeContext) -> None:
    resp = await lan.get("/api/v1/openapi.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops if m in METHODS}
    assert documented == _router_operations(ctx)


async def test_operations_are_described(lan: AppClient) -> None:
    doc = await (await lan.get("/api/v1/openapi.json")).json()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["summary"], (method, path)
            assert op["responses"], (method, path)
            declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert declared == set(re.findall(r"\{(\w+)\}", path)), (method, path)
    create = doc["paths"]["/api/v1/datasets/{ds}/records/{collection}"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "RecordWrite")
    assert doc["paths"]["/api/v1/pair"]["post"]["security"] == []
    refs = list(_refs(doc))
    assert len(refs) > 10
    for ref in refs:
        assert ref.removeprefix("#/components/schemas/") in doc["components"]["schemas"], ref


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)
