"""The dashboard's admin actions on the LAN API (docs/dashboard.md): paired devices and their
revocation, a pairing code with its link and QR code, connecting / disconnecting a dataset and
the diagnostics bundle. The same logic as the control API's (agent/control_api); here only a
browser session on the node's own machine may use them (:func:`session.require_admin`), and
every change passes the session's CSRF checks (the auth middleware).
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel

from agent import keys
from agent.control_api import revoke_workstation
from agent.control_api.admin import _change, diagnostics
from agent.discovery import advertised_addresses
from agent.lan_api.models import LocalizedText
from agent.lan_api.pairing import CODE_TTL_S, iso
from agent.lan_api.session import COOKIE, VIA_COOKIE, is_loopback, require_admin
from agent.lan_api.spec import ApiRoute
from httpkit import json_response

LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


class WorkstationEntry(BaseModel):
    """A paired device: ``kind`` ``workstation`` (bearer token) or ``browser`` (dashboard);
    ``address`` it was last seen from; times as ISO 8601 UTC; ``current``: this browser."""

    id: str
    name: str
    kind: str
    address: str | None
    created_at: str
    last_seen: str | None
    current: bool


class WorkstationsResponse(BaseModel):
    workstations: list[WorkstationEntry]


class PairingCodeResponse(BaseModel):
    """A one-time code, when it expires (and in how many seconds, by the node's clock), the
    link that opens the dashboard with the code filled in, and that link as a QR code (an SVG
    ``data:`` URI)."""

    code: str
    expires_at: str
    expires_in_s: float
    link: str
    qr_svg: str


class ChangeResponse(BaseModel):
    """What connecting or disconnecting did (the control API's answer): the dataset's records
    not synced yet (``pending``, kept in its file while disconnected), by state, and a
    message."""

    dataset: str
    connected: bool
    pending: int
    counts: dict[str, int]
    message: LocalizedText


def _guard(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        require_admin(request)
        return await handler(request)

    guarded.__name__ = getattr(handler, "__name__", "admin")
    return guarded


async def list_workstations(request: web.Request) -> web.Response:
    require_admin(request)
    me = request[keys.WORKSTATION]
    found = await request.app[keys.PAIRING].workstations()
    return json_response(WorkstationsResponse(workstations=[WorkstationEntry(
        id=w.id, name=w.name, kind=w.kind, address=w.address, created_at=iso(w.created_at),
        last_seen=iso(w.last_seen) if w.last_seen is not None else None,
        current=w.id == me) for w in found]))


async def revoke(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    response = await revoke_workstation(request)
    if request.match_info["id"] == request[keys.WORKSTATION] and VIA_COOKIE in request:
        response.del_cookie(COOKIE, path="/")
    return response


def pairing_link(request: web.Request, code: str) -> str:
    """The dashboard's address with ``?pair=CODE``, reachable from another device: on the
    node's own machine (opened as 127.0.0.1 / localhost) its first LAN address instead."""
    host = request.host
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.partition("]")[0] + "]"
    if name.lower() in LOCAL_NAMES or is_loopback(name):
        port = request.url.port or request.app[keys.CONFIG].lan.port
        addresses = advertised_addresses(request.app[keys.CONFIG].lan.host)
        if addresses:
            host = f"{addresses[0]}:{port}"
    return f"{request.scheme}://{host}/?pair={code}"


def qr_svg(text: str) -> str:
    import segno

    return str(segno.make(text, error="m").svg_data_uri(scale=5, border=2))


async def pairing_code(request: web.Request) -> web.Response:
    require_admin(request)
    pairing = request.app[keys.PAIRING]
    issued = pairing.issue_code()
    link = pairing_link(request, issued.code)
    return json_response(PairingCodeResponse(
        code=issued.code, expires_at=iso(issued.expires_at), expires_in_s=CODE_TTL_S,
        link=link, qr_svg=qr_svg(link)), status=201)


ROUTES: list[ApiRoute] = [
    ApiRoute("GET", "/workstations", list_workstations,
             "Paired devices (admin: a browser session on the node's machine)",
             response=WorkstationsResponse, errors=(403,)),
    ApiRoute("DELETE", "/workstations/{id}", revoke,
             "Revoke a paired device: its token is refused from its next request (admin)",
             errors=(403, 404)),
    ApiRoute("POST", "/pairing-code", pairing_code,
             "A one-time pairing code with its expiry, link and QR code (admin, 201)",
             response=PairingCodeResponse, status=201, errors=(403,)),
    ApiRoute("POST", "/datasets/{id}/connect", _guard(_change(True)),
             "Connect a kept dataset again (admin)", response=ChangeResponse,
             errors=(403, 404, 409, 503)),
    ApiRoute("POST", "/datasets/{id}/disconnect", _guard(_change(False)),
             "Disconnect a dataset, keeping its file and pending changes (admin)",
             response=ChangeResponse, errors=(403, 404, 409, 503)),
    ApiRoute("GET", "/diagnostics", _guard(diagnostics),
             "The diagnostics bundle, a zip without secrets (admin)", errors=(403,)),
]
