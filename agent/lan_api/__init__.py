"""The LAN API v1 (workstations ↔ node), docs/lan-api.md.

Routes are declared as :class:`~agent.lan_api.spec.ApiRoute` lists in the modules of
:data:`ROUTE_MODULES`; :func:`setup_lan_api` registers them, installs the error and auth
middlewares and serves the OpenAPI document built from the same list.
"""

from __future__ import annotations

import importlib

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from agent import keys
from agent.lan_api import session
from agent.lan_api.console import setup_authors
from agent.lan_api.node_routes import OPENAPI
from agent.lan_api.spec import (
    API_PREFIX,
    ApiRoute,
    build_openapi,
    public_handlers,
    register,
    websocket_handlers,
)
from httpkit import bearer_token, configure, dumps, error_middleware
from protocol.errors import ErrorCode, ProtocolError

# Modules exporting ROUTES: list[ApiRoute]. Add yours here to extend the API.
ROUTE_MODULES: tuple[str, ...] = ("agent.lan_api.node_routes", "agent.lan_api.records",
                                  "agent.lan_api.xml_routes", "agent.lan_api.tools",
                                  "agent.lan_api.session", "agent.lan_api.admin",
                                  "agent.lan_api.console")


def all_routes() -> list[ApiRoute]:
    routes: list[ApiRoute] = []
    for name in ROUTE_MODULES:
        routes.extend(importlib.import_module(name).ROUTES)
    return routes


def auth_middleware(
    public: frozenset[Handler], websockets: frozenset[Handler] = frozenset()
) -> Middleware:
    """Everything but the public routes needs a paired workstation's Bearer token, or a
    dashboard session's cookie (agent/lan_api/session.py: a state-changing request then passes
    the CSRF checks, a WebSocket the Origin check). A client that cannot set headers on a
    WebSocket may pass the token as ``?token=`` on the WebSocket routes only, when upgrading.
    Checked against memory only, never the database."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        match = request.match_info
        if match.http_exception is not None or match.route.handler in public:
            return await handler(request)
        token = bearer_token(request)
        cookie = session.session_token(request) if token is None else None
        upgrading = match.route.handler in websockets and _upgrading(request)
        if token is None and cookie is None and upgrading:
            token = request.query.get("token")
        token = token or cookie
        pairing = request.app[keys.PAIRING]
        ws_id = pairing.authenticate(token, request.remote) if token else None
        if ws_id is None:
            raise ProtocolError(
                ErrorCode.UNAUTHORIZED, headers={"WWW-Authenticate": 'Bearer realm="officesync"'}
            )
        if cookie is not None:
            if upgrading:
                session.check_same_origin(request)
            elif request.method not in session.SAFE_METHODS:
                session.check_csrf(request, cookie)
            request[session.VIA_COOKIE] = cookie
        request[keys.WORKSTATION] = ws_id
        return await handler(request)

    return authenticate


def _upgrading(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def setup_lan_api(app: web.Application, routes: list[ApiRoute] | None = None) -> None:
    routes = all_routes() if routes is None else routes
    configure(app, language=lambda: app[keys.CONTEXT].config.node.language,
              api_prefix=API_PREFIX + "/")
    app.middlewares.append(error_middleware)
    app.middlewares.append(auth_middleware(public_handlers(routes), websocket_handlers(routes)))
    setup_authors(app)  # after auth: the ops a write queues name its workstation
    register(app, routes)
    app[OPENAPI] = dumps(build_openapi(routes))
