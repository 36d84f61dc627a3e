"""Control API v1 (tray, local admin ↔ node; docs/control-api.md): loopback only, the local admin
token from ``<data_dir>/control.token``, and a 403 for a non-local ``Host`` header (a web page
on a rebinding DNS name must not reach it)."""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Handler

from agent import keys
from agent.control_api.admin import setup_admin_routes
from agent.control_api.status import build_status, status_event, status_watcher_ctx
from agent.events import Event, EventType
from agent.lan_api.tools import add_control_routes as add_tool_routes
from agent.lan_api.websocket import stream_events
from agent.metrics import add_metrics_route
from httpkit import bearer_token, configure, error_middleware, json_response, read_json
from protocol.errors import ErrorCode, ProtocolError
from protocol.i18n import Text
from protocol.local import CONTROL_PREFIX
from protocol.wording import invalid

PREFIX = CONTROL_PREFIX
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def host_name(host_header: str) -> str:
    """``[::1]:8471`` → ``::1``; ``localhost:8471`` → ``localhost``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host


@web.middleware
async def guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if host_name(request.headers.get("Host", "")) not in LOCAL_HOSTS:
        raise ProtocolError(ErrorCode.FORBIDDEN, details={"reason": "non-local Host header"})
    token = bearer_token(request) or ""
    if not hmac.compare_digest(token.encode(), request.app[keys.CONTROL_TOKEN].encode()):
        raise ProtocolError(
            ErrorCode.UNAUTHORIZED, headers={"WWW-Authenticate": 'Bearer realm="officesync"'}
        )
    return await handler(request)


async def get_status(request: web.Request) -> web.Response:
    return json_response(await build_status(request.app))


async def put_online(request: web.Request) -> web.Response:
    body = await read_json(request)
    online = body.get("online") if isinstance(body, dict) else None
    if not isinstance(online, bool):
        raise invalid("online", "Trực tuyến (online) phải là true hoặc false",
                      "Online must be true or false", "bool_type")
    await request.app[keys.SYNC].set_online(online)
    return json_response(await build_status(request.app))


async def post_sync(request: web.Request) -> web.Response:
    await request.app[keys.SYNC].sync_now(None)
    return json_response({"accepted": True}, status=202)


async def pairing_code(request: web.Request) -> web.Response:
    return json_response(request.app[keys.PAIRING].issue_code().as_json(), status=201)


async def list_workstations(request: web.Request) -> web.Response:
    found = await request.app[keys.PAIRING].workstations()
    return json_response({"workstations": [w.as_json() for w in found]})


async def revoke_workstation(request: web.Request) -> web.Response:
    ws_id = request.match_info["id"]
    if not await request.app[keys.PAIRING].revoke(ws_id):
        raise ProtocolError(
            ErrorCode.NOT_FOUND,
            {"what": Text(f"máy trạm {ws_id}", f"Workstation {ws_id}")},
            {"workstation_id": ws_id}
        )
    return json_response({"workstation_id": ws_id, "revoked": True})


async def events(request: web.Request) -> web.WebSocketResponse:
    async def first() -> list[Event]:
        return [await status_event(request.app)]

    return await stream_events(request, lambda event: event, first, types={EventType.STATUS})


def setup_control_api(app: web.Application) -> None:
    configure(app, language=lambda: app[keys.CONTEXT].config.node.language,
              api_prefix=PREFIX + "/")
    app.middlewares.append(error_middleware)
    app.middlewares.append(guard_middleware)
    app.router.add_get(PREFIX + "/status", get_status)
    app.router.add_put(PREFIX + "/online", put_online)
    app.router.add_post(PREFIX + "/sync", post_sync)
    app.router.add_post(PREFIX + "/pairing-code", pairing_code)
    app.router.add_get(PREFIX + "/workstations", list_workstations)
    app.router.add_delete(PREFIX + "/workstations/{id}", revoke_workstation)
    app.router.add_get(PREFIX + "/events", events)
    setup_admin_routes(app, PREFIX)
    add_metrics_route(app)  # GET /metrics (Prometheus), behind the same token
    add_tool_routes(app, PREFIX)
    app.cleanup_ctx.append(status_watcher_ctx)
