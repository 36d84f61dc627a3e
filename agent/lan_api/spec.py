"""Routes described once, next to their handlers: the same list registers them on the app and
builds the OpenAPI 3.1 document served at ``/api/v1/openapi.json``.

A module adding LAN routes exports ``ROUTES: list[ApiRoute]`` and is listed in
:data:`agent.lan_api.ROUTE_MODULES`; ``tests/agent/test_openapi.py`` checks the document and the
router agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel

from protocol.errors import ErrorBody
from protocol.version import PACKAGE_VERSION, PROTOCOL_VERSION

API_PREFIX = "/api/v1"
# Answers every route may give, declared without each route listing them: 400 for a request
# the HTTP parser refuses (a URL or header over 8 KB, garbage) or a WebSocket route called
# without upgrading; with a JSON body, also 408 (body too slow), 413 (too large), 415 (not
# JSON), 400 (malformed JSON) and 422 (valid JSON, invalid content).
ALWAYS = frozenset({400})
WITH_BODY = frozenset({400, 408, 413, 415, 422})
_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


@dataclass(frozen=True)
class QueryParam:
    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str  # below /api/v1, e.g. "/datasets/{ds}/records/{collection}"
    handler: Handler
    summary: str
    public: bool = False  # True: no workstation token needed
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    query: tuple[QueryParam, ...] = ()
    headers: tuple[str, ...] = ()  # required request headers, e.g. ("If-Match",)
    websocket: bool = False
    errors: tuple[int, ...] = ()

    @property
    def full_path(self) -> str:
        return API_PREFIX + self.path

    @property
    def openapi_path(self) -> str:
        return _PARAM.sub(r"{\1}", self.full_path)


def register(app: web.Application, routes: Iterable[ApiRoute]) -> None:
    for route in routes:
        app.router.add_route(route.method, route.full_path, route.handler)


def public_handlers(routes: Iterable[ApiRoute]) -> frozenset[Handler]:
    return frozenset(r.handler for r in routes if r.public)


def websocket_handlers(routes: Iterable[ApiRoute]) -> frozenset[Handler]:
    return frozenset(r.handler for r in routes if r.websocket)


class _Schemas:
    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def ref(self, model: type[BaseModel]) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        self.components.update(schema.pop("$defs", {}))
        self.components[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(route: ApiRoute, schemas: _Schemas) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(route.full_path)
    ]
    params += [
        {"name": q.name, "in": "query", "required": False, "description": q.description,
         "schema": q.schema}
        for q in route.query
    ]
    params += [
        {"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
        for h in route.headers
    ]
    ok: dict[str, Any] = {"description": "Switching protocols (WebSocket)" if route.websocket
                          else "Success"}
    if route.response is not None:
        ok["content"] = {"application/json": {"schema": schemas.ref(route.response)}}
    error = {"description": "Error", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    codes = set(route.errors) | ALWAYS | ({401} if not route.public else set())
    if route.request is not None:
        codes |= WITH_BODY
    slug = re.sub(r"\W+", "_", route.path).strip("_")
    op: dict[str, Any] = {
        "summary": route.summary,
        "operationId": f"{route.method.lower()}_{slug}",
        "parameters": params,
        "responses": {str(101 if route.websocket else route.status): ok,
                      **{str(c): error for c in sorted(codes)}},
    }
    if route.public:
        op["security"] = []
    if route.request is not None:
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": schemas.ref(route.request)}}}
    return op


def build_openapi(routes: Iterable[ApiRoute]) -> dict[str, Any]:
    schemas = _Schemas()
    schemas.ref(ErrorBody)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.openapi_path, {})[route.method.lower()] = _operation(route, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OfficeSync node LAN API",
            "version": PACKAGE_VERSION,
            "description": f"Workstations ↔ primary node, protocol {PROTOCOL_VERSION}. "
            "Errors are {\"error\": {\"code\", \"message\", \"details\"}}.",
        },
        "servers": [{"url": "/"}],
        "security": [{"workstationToken": []}],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {"workstationToken": {"type": "http", "scheme": "bearer"}},
        },
    }
