"""The OpenAPI document served at /api/v1/openapi.json matches the LAN app's router exactly,
and declares every status the API really answers (probed with valid and hostile requests)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

from agent.app import NodeContext, create_lan_app
from agent.dashboard import ROUTE_NAMES as DASHBOARD_ROUTES
from tests.agent.conftest import DATASET, AppClient

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


# --- every answer the API gives is declared --------------------------------------------------

DS_VALUES = (DATASET, "khong-co")
COLLECTIONS = ("customers", "nope")
BAD_QUERY = ("x", "", "0", "-1", "2026-13-01", "99999999999999999999")
BODIES: tuple[tuple[bytes, str], ...] = (
    (b'{"data": {"code": "KH900", "name": "A"}}', "application/json"),
    (b"{}", "application/json"),
    (b"[]", "application/json"),
    (b'{"data": 5, "id": "KH001"}', "application/json"),
    (b'{"action": "explode"}', "application/json"),
    (b'{"code": "ABCD2345", "name": ""}', "application/json"),
    (b"{", "application/json"),
    (b"", "application/json"),
    (b"code=1", "text/plain"),
    (b'{"pad": "' + b"x" * 60_000 + b'"}', "application/json"),  # over max_body_mb 0.05
)


def _path_values(record_id: str) -> dict[str, tuple[str, ...]]:
    return {"ds": DS_VALUES, "collection": COLLECTIONS,
            "id": (record_id, "9b2f4c1e-0000-4000-8000-000000000000", "KH001")}


def _paths(template: str, values: dict[str, tuple[str, ...]]) -> list[str]:
    names = re.findall(r"\{(\w+)\}", template)
    return [template.format(**dict(zip(names, combo, strict=True)))
            for combo in itertools.product(*(values[n] for n in names))]


def _variants(op: dict[str, Any]) -> Iterator[tuple[str, dict[str, str], bytes | None]]:
    """(query string, headers, body) probes for one operation: valid-looking and hostile."""
    yield "", {}, None
    for param in (p["name"] for p in op["parameters"] if p["in"] == "query"):
        for value in BAD_QUERY:
            yield f"?{param}={value}", {}, None
    if any(p["name"] == "If-Match" for p in op["parameters"]):
        for value in ('"1"', "abc", '"999"'):
            yield "", {"If-Match": value}, None
    if "requestBody" in op:
        for body, ctype in BODIES:
            yield "", {"Content-Type": ctype, "If-Match": '"1"'}, body


async def test_every_status_the_api_answers_is_declared(
    lan: AppClient, auth: dict[str, str]
) -> None:
    doc = await (await lan.get("/api/v1/openapi.json")).json()
    created = await lan.post(f"/api/v1/datasets/{DATASET}/records/customers", headers=auth,
                             json={"data": {"code": "KH001", "name": "Công ty A"}})
    assert created.status == 201
    values = _path_values((await created.json())["id"])
    undeclared: dict[str, set[int]] = {}
    probes = 0
    for template, ops in doc["paths"].items():
        for method, op in ops.items():
            declared = {int(code) for code in op["responses"]}
            for path in _paths(template, values):
                for query, headers, body in _variants(op):
                    for who in (auth, {}):
                        resp = await lan.request(method.upper(), path + query, data=body,
                                                 headers={**who, **headers})
                        probes += 1
                        if resp.status not in declared:
                            undeclared.setdefault(f"{method} {template}", set()).add(
                                resp.status)
                        if resp.status >= 400:
                            assert (await resp.json())["error"]["code"], (method, path)
                        resp.release()
    print(f"\n{probes} probes over {len(doc['paths'])} paths")
    assert not undeclared, f"answers missing from the OpenAPI document: {undeclared}"
