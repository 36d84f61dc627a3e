"""The dashboard's browser sessions and admin routes on the LAN API (agent/lan_api/session.py,
agent/lan_api/admin.py): the token only in an HttpOnly SameSite=Strict cookie, CSRF defence on
every change, one entry per browser, admin actions for a browser on the node's machine only,
a revoked device refused on its next request."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import make_mocked_request

from agent.app import NodeContext
from agent.lan_api.session import COOKIE, VIA_COOKIE, csrf_token, is_admin, own_addresses
from tests.agent.conftest import DATASET, AppClient, pair_workstation

SESSION = "/api/v1/session"


async def browser_session(lan: AppClient, ctx: NodeContext, name: str = "Kế toán") -> Any:
    resp = await lan.post(SESSION, json={"code": ctx.pairing.issue_code().code, "name": name})
    assert resp.status == 201, await resp.text()
    return resp, await resp.json()


def origin(lan: AppClient) -> str:
    return str(lan.make_url("/")).rstrip("/")


async def test_the_token_is_only_in_an_httponly_strict_cookie(
    lan: AppClient, ctx: NodeContext
) -> None:
    resp, answer = await browser_session(lan, ctx)
    header = resp.headers["Set-Cookie"]
    assert header.startswith(COOKIE + "=")
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/" in header
    assert "Secure" not in header  # plain HTTP here; set on TLS
    token = resp.cookies[COOKIE].value
    assert token not in await resp.text() and "token" not in answer
    assert answer["csrf_token"] == csrf_token(token) and answer["admin"] is True
    # the cookie alone authenticates reads, and GET /session gives a reloaded page its token
    again = await (await lan.get(SESSION)).json()
    assert again["workstation_id"] == answer["workstation_id"]
    assert again["csrf_token"] == answer["csrf_token"]
    assert (await lan.get(f"/api/v1/datasets/{DATASET}/sync")).status == 200


async def test_changes_need_the_same_origin_and_the_csrf_token(
    lan: AppClient, ctx: NodeContext
) -> None:
    _resp, answer = await browser_session(lan, ctx)
    sync = f"/api/v1/datasets/{DATASET}/sync"
    csrf = {"X-CSRF-Token": answer["csrf_token"]}

    no_token = await lan.post(sync, headers={"Origin": origin(lan)})
    assert no_token.status == 403
    body = (await no_token.json())["error"]
    assert body["code"] == "CSRF_REJECTED" and body["details"]["reason"] == "missing_token"
    assert "Hãy tải lại trang" in body["message"]

    wrong = await lan.post(sync, headers={"X-CSRF-Token": "x" * 43})
    assert (await wrong.json())["error"]["details"]["reason"] == "wrong_token"

    foreign = await lan.post(sync, headers={**csrf, "Origin": "http://evil.example"})
    assert foreign.status == 403
    assert (await foreign.json())["error"]["details"] == {
        "reason": "foreign_origin", "origin": "http://evil.example"}
    cross = await lan.post(sync, headers={**csrf, "Sec-Fetch-Site": "cross-site"})
    assert (await cross.json())["error"]["details"]["reason"] == "cross_site"

    # from the page itself: accepted (the node answers NOT_CONFIGURED: it has no hub)
    ok = await lan.post(sync, headers={**csrf, "Origin": origin(lan),
                                       "Sec-Fetch-Site": "same-origin"})
    assert (await ok.json())["error"]["code"] == "NOT_CONFIGURED"


async def test_bearer_workstations_need_no_csrf_token(lan: AppClient, ctx: NodeContext) -> None:
    token = (await pair_workstation(lan, ctx))["token"]
    lan.session.cookie_jar.clear()
    resp = await lan.post(f"/api/v1/datasets/{DATASET}/records/customers",
                          headers={"Authorization": "Bearer " + token},
                          json={"data": {"code": "KH1", "name": "A"}})
    assert resp.status == 201


async def test_a_cross_site_pairing_is_refused(lan: AppClient, ctx: NodeContext) -> None:
    code = ctx.pairing.issue_code().code
    resp = await lan.post(SESSION, json={"code": code, "name": "x"},
                          headers={"Origin": "http://evil.example"})
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "CSRF_REJECTED"
    assert COOKIE not in resp.cookies
    assert (await browser_session(lan, ctx))[0].status == 201  # the code still works


async def test_the_same_browser_paired_twice_is_one_entry(
    lan: AppClient, ctx: NodeContext
) -> None:
    _resp, first = await browser_session(lan, ctx, "Kế toán")
    _resp, second = await browser_session(lan, ctx, "Kế toán")  # same cookie jar
    assert second["workstation_id"] != first["workstation_id"]
    listed = (await (await lan.get("/api/v1/workstations")).json())["workstations"]
    assert [(w["name"], w["kind"], w["current"]) for w in listed] == [
        ("Kế toán", "browser", True)]
    assert listed[0]["address"] == "127.0.0.1" and listed[0]["last_seen"].endswith("Z")
    # another device with the same name gets a number, not a second "Kế toán"
    await pair_workstation(lan, ctx, "Kế toán")
    listed = (await (await lan.get("/api/v1/workstations")).json())["workstations"]
    assert sorted(w["name"] for w in listed) == ["Kế toán", "Kế toán (2)"]


async def test_revoked_device_is_refused_on_its_next_request(
    lan: AppClient, ctx: NodeContext
) -> None:
    paired = await pair_workstation(lan, ctx, "ws-1")
    bearer = {"Authorization": "Bearer " + paired["token"]}
    assert (await lan.get("/api/v1/datasets", headers=bearer)).status == 200
    _resp, me = await browser_session(lan, ctx)
    resp = await lan.delete(f"/api/v1/workstations/{paired['workstation_id']}",
                            headers={"X-CSRF-Token": me["csrf_token"]})
    assert resp.status == 200, await resp.text()
    refused = await lan.get("/api/v1/datasets", headers=bearer)
    assert refused.status == 401
    unknown = await lan.delete("/api/v1/workstations/nope",
                               headers={"X-CSRF-Token": me["csrf_token"]})
    assert (await unknown.json())["error"]["code"] == "NOT_FOUND"


async def test_admin_routes_refuse_workstations(lan: AppClient, ctx: NodeContext) -> None:
    bearer = {"Authorization": "Bearer " + (await pair_workstation(lan, ctx))["token"]}
    for method, path in (("GET", "/api/v1/workstations"), ("POST", "/api/v1/pairing-code"),
                         ("POST", f"/api/v1/datasets/{DATASET}/disconnect"),
                         ("GET", "/api/v1/diagnostics")):
        resp = await lan.request(method, path, headers=bearer)
        body = (await resp.json())["error"]
        assert (resp.status, body["code"]) == (403, "ADMIN_ONLY"), path
        assert body["details"]["reason"] == "not_a_browser_session"
        assert "máy chủ OfficeSync" in body["message"]
    assert [d for d, c in ctx.stores.hosted() if c] == [DATASET]  # nothing changed


def test_a_browser_elsewhere_on_the_lan_is_not_admin() -> None:
    request = make_mocked_request("GET", "/api/v1/workstations",
                                  transport=_Transport(("192.168.1.23", 50000)))
    request[VIA_COOKIE] = "t"
    assert is_admin(request) is False
    local = make_mocked_request("GET", "/", transport=_Transport(("127.0.0.1", 50000)))
    local[VIA_COOKIE] = "t"
    assert is_admin(local) is True
    for own in own_addresses():  # this machine reached through its LAN address
        mine = make_mocked_request("GET", "/", transport=_Transport((own, 50000)))
        mine[VIA_COOKIE] = "t"
        assert is_admin(mine) is True


class _Transport:
    def __init__(self, peer: tuple[str, int]) -> None:
        self._peer = peer

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._peer if name == "peername" else default


async def test_pairing_code_has_a_link_and_a_qr_code(lan: AppClient, ctx: NodeContext) -> None:
    _resp, me = await browser_session(lan, ctx)
    resp = await lan.post("/api/v1/pairing-code", headers={"X-CSRF-Token": me["csrf_token"]})
    assert resp.status == 201
    answer = await resp.json()
    assert answer["expires_in_s"] == 600 and answer["expires_at"].endswith("Z")
    assert answer["link"].endswith("/?pair=" + answer["code"])
    assert answer["qr_svg"].startswith("data:image/svg+xml")
    # the code works (once) for another device
    other = await lan.post("/api/v1/pair", json={"code": answer["code"], "name": "ws"})
    assert other.status == 201


async def test_unpairing_this_browser_revokes_it(lan: AppClient, ctx: NodeContext) -> None:
    _resp, me = await browser_session(lan, ctx)
    resp = await lan.delete(SESSION, headers={"X-CSRF-Token": me["csrf_token"]})
    assert resp.status == 200
    assert (await lan.get(SESSION)).status == 401
    assert ctx.pairing.paired_count == 0


async def test_the_new_scripts_hold_no_wording_and_no_token_storage(lan: AppClient) -> None:
    """admin.js and api.js are served, take every word from texts.json, and the page keeps
    no token in localStorage any more (the session is the HttpOnly cookie)."""
    vietnamese = "ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệịỉĩọỏốồổỗộớờởỡợụủứừửữựỳỷỹỵ"
    for name in ("admin.js", "api.js"):
        resp = await lan.get(f"/static/{name}")
        assert (resp.status, resp.content_type) == (200, "text/javascript")
        script = (await resp.read()).decode()
        assert not [line for line in script.splitlines() if any(c in line for c in vietnamese)]
        assert "localStorage.setItem" not in script
    html = await (await lan.get("/")).text()
    assert html.index("/static/api.js") < html.index("/static/app.js") < html.index(
        "/static/admin.js")


async def test_the_event_stream_takes_the_cookie_from_this_origin_only(
    lan: AppClient, ctx: NodeContext
) -> None:
    await browser_session(lan, ctx)
    ws = await lan.ws_connect("/api/v1/events", headers={"Origin": origin(lan)})
    await ws.close()
    resp = await lan.get("/api/v1/events", headers={
        "Origin": "http://evil.example", "Upgrade": "websocket", "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "CSRF_REJECTED"
