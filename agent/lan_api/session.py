"""The dashboard's browser sessions on the LAN API (docs/dashboard.md, "Access and safety").

A browser pairs with ``POST /api/v1/session`` (a one-time code, like a workstation's
``POST /pair``): it becomes a paired device of kind ``browser`` whose token is never shown to
the page's script — it travels only in the ``officesync_session`` cookie (``HttpOnly``,
``SameSite=Strict``, ``Secure`` when the LAN API is on TLS). Workstation clients keep their
bearer token and none of this applies to them.

Every state-changing request authenticated by the cookie must come from the node's own page:

- ``Sec-Fetch-Site``, when the browser sends it, must be ``same-origin``, and ``Origin``, when
  sent, must be this server's own origin; else 403 ``CSRF_REJECTED``;
- and it must carry ``X-CSRF-Token``: a value derived from the session token (HMAC-SHA256),
  given to the page by ``POST``/``GET /session`` and held in its memory only.

The WebSocket of events, opened with the cookie, must have this server's ``Origin`` too.

The admin actions (workstations, pairing codes, datasets, diagnostics: agent/lan_api/admin.py)
are for a browser session on the node's own machine only (a loopback address, or one of this
machine's own addresses): 403
``ADMIN_ONLY`` otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import time

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from agent import keys
from agent.discovery import local_addresses
from agent.lan_api.spec import ApiRoute
from httpkit import json_response, read_model
from protocol.errors import ErrorCode, ProtocolError
from protocol.i18n import Text

COOKIE = "officesync_session"
CSRF_HEADER = "X-CSRF-Token"
# A paired browser stays paired until it is revoked or unpaired (400 days: browsers' cap).
COOKIE_MAX_AGE_S = 400 * 86400
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
VIA_COOKIE: web.RequestKey[str] = web.RequestKey("session_cookie_token")



class SessionRequest(BaseModel):
    """A browser's pairing: the one-time code and a name for this device."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)


class SessionResponse(BaseModel):
    """This browser's device entry, the CSRF token its page sends on every change, and
    whether it may use the admin actions (a browser on the node's own machine). The session
    token itself is only in the HttpOnly cookie."""

    workstation_id: str
    name: str
    csrf_token: str
    admin: bool


_CSRF_CONTEXT = b"officesync-dashboard-csrf-v1"

_REASONS: dict[str, Text] = {
    "cross_site": Text("gửi từ một trang web khác", "sent from another web site"),
    "foreign_origin": Text("gửi từ một địa chỉ khác", "sent from another origin"),
    "missing_token": Text("thiếu mã chống giả mạo (CSRF)", "the anti-forgery (CSRF) token is "
                          "missing"),
    "wrong_token": Text("mã chống giả mạo (CSRF) không đúng", "wrong anti-forgery (CSRF) token"),
}


def csrf_token(session_token: str) -> str:
    """The session's CSRF token: derived, so nothing more is stored, and one-way, so it does
    not reveal the session token."""
    digest = hmac.new(session_token.encode(), _CSRF_CONTEXT, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _refuse(reason: str, **details: str) -> ProtocolError:
    return ProtocolError(ErrorCode.CSRF_REJECTED, {"reason": _REASONS[reason]},
                         {"reason": reason, **details})


def own_origin(request: web.BaseRequest) -> str:
    return f"{request.scheme}://{request.host}"


def check_same_origin(request: web.BaseRequest) -> None:
    """403 ``CSRF_REJECTED`` for a request a browser says came from another site."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        raise _refuse("cross_site", sec_fetch_site=site)
    origin = request.headers.get("Origin")
    if origin is not None and origin != own_origin(request):
        raise _refuse("foreign_origin", origin=origin)


def check_csrf(request: web.BaseRequest, session_token: str) -> None:
    """The checks of a state-changing request authenticated by the session cookie."""
    check_same_origin(request)
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent:
        raise _refuse("missing_token")
    if not hmac.compare_digest(sent.encode(), csrf_token(session_token).encode()):
        raise _refuse("wrong_token")


def session_token(request: web.BaseRequest) -> str | None:
    return request.cookies.get(COOKIE) or None


def is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


_OWN_TTL_S = 60.0
_own: list[tuple[float, frozenset[str]]] = []


def own_addresses() -> frozenset[str]:
    """This machine's own interface addresses (a browser here may reach the node through its
    LAN address instead of 127.0.0.1); read at most once a minute."""
    now = time.monotonic()
    if not _own or now - _own[0][0] > _OWN_TTL_S:
        _own[:] = [(now, frozenset(local_addresses()))]
    return _own[0][1]


def on_this_machine(address: str | None) -> bool:
    return is_loopback(address) or (address is not None and address in own_addresses())


def is_admin(request: web.Request) -> bool:
    """A browser session (cookie) on the node's own machine."""
    return VIA_COOKIE in request and on_this_machine(request.remote)


def require_admin(request: web.Request) -> None:
    if is_admin(request):
        return
    reason = "not_a_browser_session" if VIA_COOKIE not in request else "not_on_the_node"
    port = request.url.port or request.app[keys.CONFIG].lan.port
    raise ProtocolError(ErrorCode.ADMIN_ONLY, {"port": port}, {"reason": reason})


def set_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(COOKIE, token, max_age=COOKIE_MAX_AGE_S, path="/", httponly=True,
                        samesite="Strict", secure=request.secure)


def _answer(request: web.Request, ws_id: str, name: str, token: str) -> SessionResponse:
    return SessionResponse(workstation_id=ws_id, name=name, csrf_token=csrf_token(token),
                           admin=on_this_machine(request.remote))


async def start_session(request: web.Request) -> web.Response:
    """Pair this browser: the token goes into the HttpOnly cookie, never into the answer. A
    browser that still holds a valid session is paired again in its place (one entry)."""
    check_same_origin(request)
    body = await read_model(request, SessionRequest)
    pairing = request.app[keys.PAIRING]
    old = session_token(request)
    replaces = pairing.authenticate(old) if old else None
    ws_id, token = await pairing.pair(body.code, body.name, request.remote or "unknown",
                                      kind="browser", replaces=replaces)
    name = next((w.name for w in await request.app[keys.NODE_DB].list_workstations()
                 if w.id == ws_id), body.name)
    response = json_response(_answer(request, ws_id, name, token), status=201)
    set_cookie(request, response, token)
    return response


def _cookie_session(request: web.Request) -> str:
    if VIA_COOKIE not in request:  # a bearer-token workstation: it has no browser session
        raise ProtocolError(ErrorCode.UNAUTHORIZED,
                            headers={"WWW-Authenticate": 'Bearer realm="officesync"'})
    return request[VIA_COOKIE]


async def get_session(request: web.Request) -> web.Response:
    """Who this browser is, and the CSRF token its page needs (after a reload)."""
    token = _cookie_session(request)
    ws_id = request[keys.WORKSTATION]
    name = next((w.name for w in await request.app[keys.NODE_DB].list_workstations()
                 if w.id == ws_id), "")
    return json_response(_answer(request, ws_id, name, token))


async def end_session(request: web.Request) -> web.Response:
    """Unpair this browser: its device entry is revoked and the cookie cleared."""
    _cookie_session(request)
    ws_id = request[keys.WORKSTATION]
    await request.app[keys.PAIRING].revoke(ws_id)
    response = json_response({"workstation_id": ws_id, "revoked": True})
    response.del_cookie(COOKIE, path="/")
    return response


ROUTES: list[ApiRoute] = [
    ApiRoute("POST", "/session", start_session,
             "Pair this browser (the dashboard): the token is set as an HttpOnly SameSite=Strict "
             "cookie, the answer carries the CSRF token (201)", public=True,
             request=SessionRequest, response=SessionResponse, status=201,
             errors=(403, 409, 429)),
    ApiRoute("GET", "/session", get_session,
             "This browser's session: device id, name, CSRF token, admin",
             response=SessionResponse),
    ApiRoute("DELETE", "/session", end_session,
             "Unpair this browser (its entry is revoked, the cookie cleared)", errors=(403,)),
]
