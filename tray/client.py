"""The only code in the tray that talks to the node: its control API (DESIGN §6), over aiohttp.

Errors are converted at this boundary: the node not answering (or its token file missing)
becomes :class:`ControlUnavailable` with a :class:`DownReason`; an answered request that the
node refused becomes :class:`ControlRefused` carrying the node's own message.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Final

import aiohttp
from pydantic import ValidationError

from protocol.i18n import Lang
from tray.settings import Endpoint
from tray.status import NodeStatus, parse_status
from tray.viewmodel import DownReason, PairingCode, parse_pairing

REQUEST_TIMEOUT: Final = aiohttp.ClientTimeout(total=10, sock_connect=3)
WS_HEARTBEAT_S: Final = 15.0
POLL_INTERVAL_S: Final = 2.0


class ControlUnavailable(Exception):
    def __init__(self, reason: DownReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason


class ControlRefused(Exception):
    """The node answered with an error; ``str()`` is its message in the tray's language."""


def _error_message(status: int, body: str) -> str:
    try:
        error = json.loads(body).get("error", {})
        message = error.get("message") or error.get("code")
    except (ValueError, AttributeError):
        message = None
    return str(message) if message else f"HTTP {status}"


class ControlClient:
    def __init__(self, session: aiohttp.ClientSession, endpoint: Endpoint, lang: Lang) -> None:
        self._session = session
        self.endpoint = endpoint
        self._headers = {
            "Authorization": f"Bearer {endpoint.token}",
            "Accept-Language": lang,
        }

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        url = self.endpoint.base_url + path
        try:
            async with self._session.request(
                method, url, json=body, headers=self._headers, timeout=REQUEST_TIMEOUT
            ) as resp:
                text = await resp.text()
                if resp.status == 401:
                    raise ControlUnavailable(DownReason.UNAUTHORIZED, "token refused")
                if resp.status >= 400:
                    raise ControlRefused(_error_message(resp.status, text))
                return json.loads(text) if text.strip() else None
        except (TimeoutError, aiohttp.ClientError, ValueError) as err:
            raise ControlUnavailable(DownReason.NOT_RUNNING, str(err)) from err

    async def status(self) -> NodeStatus:
        raw = await self._call("GET", "/status")
        try:
            return parse_status(raw)
        except ValidationError as err:
            raise ControlUnavailable(DownReason.NOT_RUNNING, "not a status document") from err

    async def set_online(self, online: bool) -> None:
        await self._call("PUT", "/online", {"online": online})

    async def sync_now(self) -> None:
        await self._call("POST", "/sync")

    async def pairing_code(self) -> PairingCode:
        raw = await self._call("POST", "/pairing-code")
        if not isinstance(raw, dict) or not raw.get("code"):
            raise ControlRefused("no pairing code in the answer")
        return parse_pairing(raw)

    async def events(self) -> AsyncGenerator[NodeStatus, None]:
        """The current status, then every status the node pushes, until it goes away.

        Falls back to polling ``/status`` when the node has no ``/events`` socket.
        """
        yield await self.status()
        try:
            ws = await self._session.ws_connect(
                self.endpoint.base_url + "/events", headers=self._headers,
                heartbeat=WS_HEARTBEAT_S, timeout=aiohttp.ClientWSTimeout(ws_close=5),
            )
        except aiohttp.WSServerHandshakeError as err:
            if err.status == 401:
                raise ControlUnavailable(DownReason.UNAUTHORIZED, "token refused") from err
            async for status in self._poll():
                yield status
            return
        except (TimeoutError, aiohttp.ClientError) as err:
            raise ControlUnavailable(DownReason.NOT_RUNNING, str(err)) from err
        async with ws:
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                pushed = _status_event(msg.data)
                if pushed is not None:
                    yield pushed
        raise ControlUnavailable(DownReason.NOT_RUNNING, "event stream closed")

    async def _poll(self) -> AsyncIterator[NodeStatus]:
        while True:
            await asyncio.sleep(POLL_INTERVAL_S)
            yield await self.status()


def _status_event(data: str) -> NodeStatus | None:
    """The status carried by a ``status`` event; None for other events.

    Both shapes are accepted: ``{"type":"status","status":{…}}`` (the tray's brief) and the
    status fields inline, ``{"type":"status","online":…}`` (what the node sends).
    """
    try:
        event = json.loads(data)
        if isinstance(event, dict) and event.get("type") == "status":
            inner = event.get("status")
            return parse_status(inner if isinstance(inner, dict) else event)
    except (ValueError, ValidationError):
        return None
    return None
