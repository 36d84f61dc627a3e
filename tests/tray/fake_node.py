"""A small fake of the node's control API (docs/control-api.md) for the tray's client tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, web

from tests.tray.helpers import status_doc

PREFIX = "/control/v1"


class FakeNode:
    """Serves /status, /online, /sync, /pairing-code and /events; records every call."""

    def __init__(self, token: str = "secret", *, events: bool = True, nested: bool = False):
        self.token = token
        self.doc: dict[str, Any] = status_doc()
        self.calls: list[tuple[str, str, Any]] = []
        self.sockets: set[web.WebSocketResponse] = set()
        self.events = events
        self.nested = nested  # {"type":"status","status":{…}} instead of inline fields
        self.refuse_sync = False

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get(PREFIX + "/status", self._status)
        app.router.add_put(PREFIX + "/online", self._online)
        app.router.add_post(PREFIX + "/sync", self._sync)
        app.router.add_post(PREFIX + "/pairing-code", self._pairing)
        if self.events:
            app.router.add_get(PREFIX + "/events", self._events)
        app.on_shutdown.append(self._close_sockets)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response(
                {"error": {"code": "UNAUTHORIZED", "message": "no", "details": {}}}, status=401
            )
        return await handler(request)

    def event(self, kind: str = "status") -> str:
        if kind != "status":
            return json.dumps({"type": kind, "whatever": 1})
        if self.nested:
            return json.dumps({"type": "status", "status": self.doc})
        return json.dumps({"type": "status", **self.doc})

    async def push(self, doc: dict[str, Any] | None = None) -> None:
        """Change the status and send it to every connected tray."""
        if doc is not None:
            self.doc = doc
        for ws in tuple(self.sockets):
            await ws.send_str(self.event("record"))  # unknown types must be ignored
            await ws.send_str(self.event())

    async def _status(self, request: web.Request) -> web.Response:
        self.calls.append(("GET", "/status", None))
        return web.json_response(self.doc)

    async def _online(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(("PUT", "/online", body))
        online = bool(body["online"])
        self.doc = {**self.doc, "online": online,
                    "connectivity": "online" if online else "offline_by_user"}
        await self.push()
        return web.json_response({"online": online})

    async def _sync(self, request: web.Request) -> web.Response:
        self.calls.append(("POST", "/sync", None))
        if self.refuse_sync:
            return web.json_response(
                {"error": {"code": "INTERNAL", "message": "Lỗi nội bộ", "details": {}}},
                status=500,
            )
        return web.json_response({"accepted": True}, status=202)

    async def _pairing(self, request: web.Request) -> web.Response:
        self.calls.append(("POST", "/pairing-code", None))
        return web.json_response({"code": "482913", "expires_at": "2099-01-01T10:30:00Z"},
                                 status=201)

    async def _events(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.add(ws)
        try:
            await ws.send_str(self.event())
            async for _msg in ws:
                pass
        finally:
            self.sockets.discard(ws)
        return ws

    async def _close_sockets(self, app: web.Application) -> None:
        for ws in tuple(self.sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY)


def write_runtime(data_dir: Path, control_url: str, token: str,
                  lan_url: str = "http://0.0.0.0:8470") -> None:
    """What the node leaves in its data dir when it starts."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "control.token").write_text(token + "\n", encoding="ascii")
    (data_dir / "runtime.json").write_text(
        json.dumps({"pid": 1, "lan_url": lan_url, "control_url": control_url}), encoding="utf-8"
    )
