"""Node-level LAN routes: info, pairing, datasets, the event stream and the OpenAPI document."""

from __future__ import annotations

import asyncio

from aiohttp import web

from agent import keys
from agent.datasets_admin import file_counts, unsynced
from agent.events import Event, WorkstationEvent
from agent.lan_api.models import DatasetsResponse, InfoResponse
from agent.lan_api.spec import ApiRoute, QueryParam
from agent.lan_api.websocket import Revoked, stream_events
from httpkit import json_response, read_model
from protocol.models import PairRequest, PairResponse
from protocol.version import PACKAGE_VERSION, PROTOCOL_VERSION

OPENAPI = web.AppKey("openapi", bytes)


async def _datasets(request: web.Request) -> list[dict[str, object]]:
    """Each dataset with its file here: connected or kept (disconnected), and how many of its
    records hold changes the hub does not have yet (a kept one's are read from its file)."""
    stores = request.app[keys.STORES]
    found: list[dict[str, object]] = []
    for ds, connected in stores.hosted():
        counts = (await stores.get(ds).sync_counts() if connected
                  else await asyncio.to_thread(file_counts, stores.path_of(ds)))
        found.append({"id": ds, "connected": connected, "pending": unsynced(counts)})
    return found


async def info(request: web.Request) -> web.Response:
    config = request.app[keys.CONFIG]
    tls = request.app[keys.CONTEXT].tls
    return json_response({
        "name": config.node.name,
        "version": PACKAGE_VERSION,
        "protocol": PROTOCOL_VERSION,
        # public: ids and connected only (counts are for paired workstations, GET /datasets)
        "datasets": [{"id": d, "connected": c} for d, c in request.app[keys.STORES].hosted()],
        "tls_fingerprint": tls.fingerprint_sha256 if tls is not None else None,
        "language": config.node.language,  # the dashboard's language until the user picks one
    })


async def pair(request: web.Request) -> web.Response:
    body = await read_model(request, PairRequest)
    address = request.remote or "unknown"
    ws_id, token = await request.app[keys.PAIRING].pair(body.code, body.name, address)
    return json_response({"workstation_id": ws_id, "token": token}, status=201)


async def datasets(request: web.Request) -> web.Response:
    return json_response({"datasets": await _datasets(request)})


async def openapi(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI])


async def events(request: web.Request) -> web.WebSocketResponse:
    me = request[keys.WORKSTATION]

    def select(event: Event) -> Event | None:
        if isinstance(event, WorkstationEvent):
            if event.action == "revoked" and event.workstation_id == me:
                raise Revoked
            return None  # other devices' pairings are not a workstation's business
        return event

    return await stream_events(request, select)


ROUTES: list[ApiRoute] = [
    ApiRoute("GET", "/info", info, "Node name, version, protocol, datasets", public=True,
             response=InfoResponse),
    ApiRoute("POST", "/pair", pair, "Pair a workstation with a one-time code (201)",
             public=True, request=PairRequest, response=PairResponse, status=201,
             errors=(403, 409, 429)),
    ApiRoute("GET", "/datasets", datasets,
             "Datasets hosted or kept, each with `connected` and `pending` (unsynced records)",
             response=DatasetsResponse),
    ApiRoute("GET", "/openapi.json", openapi, "This document", public=True),
    ApiRoute("GET", "/events", events,
             "WebSocket of events: record, sync, connectivity, dataset, status. "
             "A dashboard browser sends its session cookie; a client that cannot set headers "
             "may pass the token as ?token=", websocket=True,
             query=(QueryParam("token", "workstation token (instead of Authorization)"),)),
]
