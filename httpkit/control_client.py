"""The one client of a node's control API (``/control/v1``), used by the tray and by the
``officesync`` commands that talk to a running node (``status``, ``pair-code``,
``online``/``offline``, ``sync``).

It finds the node from ``<data_dir>/runtime.json`` (written by a running node with the ports
it really bound), falling back to the configured control host and port, and authenticates
with ``<data_dir>/control.token``; both are read fresh for every :func:`resolve_endpoint`, so
a node restarted on a new port or with a new token is found again.

Every failure is one :class:`ControlError` whose :class:`ControlFailure` says what happened
and whose message is already in the caller's language (ours, or the node's own message when
it answered with an error).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

import aiohttp
from pydantic import ValidationError

from protocol.i18n import Lang, Text
from protocol.local import (
    CONTROL_PREFIX,
    CONTROL_TOKEN_FILE,
    RUNTIME_FILE,
    NodeStatus,
    parse_status,
    read_control_token,
    read_runtime,
)

REQUEST_TIMEOUT: Final = aiohttp.ClientTimeout(total=10, sock_connect=3)
WS_HEARTBEAT_S: Final = 15.0
POLL_INTERVAL_S: Final = 2.0
T = TypeVar("T")


class ControlFailure(StrEnum):
    """Why a control call did not give an answer."""

    NOT_RUNNING = "not_running"  # nothing answers (or no address to call yet)
    NO_TOKEN = "no_token"  # control.token is missing or empty: the node never ran here
    TOKEN_UNREADABLE = "token_unreadable"  # control.token exists, this user may not read it
    UNAUTHORIZED = "unauthorized"  # the node refused the token (HTTP 401)
    REFUSED = "refused"  # the node answered with an error
    BAD_ANSWER = "bad_answer"  # the answer is not what the control API sends


_TEXTS: Final[dict[str, Text]] = {
    "not_running": Text(
        "máy chủ OfficeSync không chạy (không kết nối được {url})",
        "node is not running (cannot reach {url})",
    ),
    "not_started": Text(
        "máy chủ OfficeSync không chạy (chưa có {path})",
        "node is not running (there is no {path} yet)",
    ),
    "no_token": Text(
        "không đọc được {path}: máy chủ chưa từng chạy với thư mục dữ liệu này, "
        "hoặc bạn không có quyền đọc",
        "cannot read {path}: the node never ran with this data dir, or you may not read it",
    ),
    "token_unreadable": Text(
        "bạn không có quyền đọc {path}: chỉ tài khoản dịch vụ và nhóm quản trị của máy chủ "
        "(officesync) được đọc",
        "you may not read {path}: only the node's service account and its administrators "
        "group (officesync) may",
    ),
    "bad_answer": Text(
        "máy chủ trả lời không hợp lệ (HTTP {status})",
        "the node gave an invalid answer (HTTP {status})",
    ),
    "no_pairing_code": Text(
        "máy chủ không trả về mã ghép nối",
        "the node's answer has no pairing code",
    ),
}


class ControlError(Exception):
    """A control call that failed: ``reason``, ``message`` in the caller's language and, when
    the node answered with an error, its ``code``. ``str()`` is the one line to show."""

    def __init__(self, reason: ControlFailure, message: str, code: str | None = None) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.reason = reason
        self.message = message
        self.code = code


def _fail(reason: ControlFailure, key: str, lang: Lang, **params: Any) -> ControlError:
    return ControlError(reason, _TEXTS[key].format(**params).get(lang))


# --- where the node is -------------------------------------------------------------------------


class NodeLocation(Protocol):
    """Where to look for a node: its data dir and its configured control address."""

    @property
    def data_dir(self) -> Path: ...

    @property
    def control_host(self) -> str: ...

    @property
    def control_port(self) -> int: ...


@dataclass(frozen=True)
class ControlTarget:
    """A :class:`NodeLocation` for callers without settings of their own (the CLI)."""

    data_dir: Path
    control_host: str = "127.0.0.1"
    control_port: int = 8471


@dataclass(frozen=True)
class Endpoint:
    """Where and how to call the node right now."""

    base_url: str  # ends with /control/v1
    token: str


def control_base(url: str) -> str:
    """``http://host:port`` or ``…/control/v1`` (with or without a slash) -> ``…/control/v1``."""
    url = url.rstrip("/")
    return url if url.endswith(CONTROL_PREFIX) else url + CONTROL_PREFIX


def control_url(where: NodeLocation) -> str | None:
    """The control URL from ``runtime.json``, else the configured one; None when the port is
    chosen at start (0) and the node has not said which yet."""
    info = read_runtime(where.data_dir)
    if info is not None and info.control_url:
        return info.control_url
    if where.control_port == 0:
        return None
    host = where.control_host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{where.control_port}"


def read_token(where: NodeLocation, lang: Lang = "vi") -> str:
    """The control token; a :class:`ControlError` when it is missing, empty or unreadable."""
    path = where.data_dir / CONTROL_TOKEN_FILE
    try:
        token = read_control_token(where.data_dir)
    except PermissionError:
        raise _fail(ControlFailure.TOKEN_UNREADABLE, "token_unreadable", lang,
                    path=path) from None
    except OSError:
        token = ""
    if not token:
        raise _fail(ControlFailure.NO_TOKEN, "no_token", lang, path=path)
    return token


def resolve_endpoint(where: NodeLocation, lang: Lang = "vi") -> Endpoint:
    """Where and how to call the node right now (the files are read fresh every time)."""
    token = read_token(where, lang)
    url = control_url(where)
    if url is None:
        raise _fail(ControlFailure.NOT_RUNNING, "not_started", lang,
                    path=where.data_dir / RUNTIME_FILE)
    return Endpoint(base_url=control_base(url), token=token)


# --- the calls ---------------------------------------------------------------------------------


def as_status(raw: Any, lang: Lang) -> NodeStatus:
    """An answer as the status document; a ``BAD_ANSWER`` error when it is not one."""
    try:
        return parse_status(raw)
    except ValidationError:
        raise _fail(ControlFailure.BAD_ANSWER, "bad_answer", lang, status=200) from None


def _error_of(body: str) -> tuple[str | None, str | None]:
    """``(code, message)`` of an error answer ``{"error": {"code", "message"}}``."""
    try:
        error = json.loads(body).get("error", {})
        code, message = error.get("code"), error.get("message")
    except (ValueError, AttributeError):
        return None, None
    return (code if isinstance(code, str) else None,
            message if isinstance(message, str) and message else None)


class ControlClient:
    """Calls one node's control API over an aiohttp session the caller owns."""

    def __init__(self, session: aiohttp.ClientSession, endpoint: Endpoint, lang: Lang) -> None:
        self._session = session
        self.endpoint = endpoint
        self.lang: Lang = lang
        self._headers = {"Authorization": f"Bearer {endpoint.token}", "Accept-Language": lang}

    def _not_running(self) -> ControlError:
        return _fail(ControlFailure.NOT_RUNNING, "not_running", self.lang,
                     url=self.endpoint.base_url.removesuffix(CONTROL_PREFIX))

    def _refused(self, status: int, body: str) -> ControlError:
        code, message = _error_of(body)
        reason = ControlFailure.UNAUTHORIZED if status == 401 else ControlFailure.REFUSED
        if message is None:
            return ControlError(reason, _TEXTS["bad_answer"].format(status=status).get(self.lang))
        return ControlError(reason, message, code)

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request to ``/control/v1{path}``; the decoded JSON answer (None when empty)."""
        try:
            async with self._session.request(
                method, self.endpoint.base_url + path, json=body, headers=self._headers,
                timeout=REQUEST_TIMEOUT,
            ) as resp:
                text = await resp.text()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as err:
            raise self._not_running() from err
        if status >= 400:
            raise self._refused(status, text)
        try:
            return json.loads(text) if text.strip() else None
        except ValueError:
            raise _fail(ControlFailure.BAD_ANSWER, "bad_answer", self.lang,
                        status=status) from None

    async def download(self, path: str, timeout_s: float = 120) -> bytes:
        """``GET /control/v1{path}``: the answer's bytes as they are (e.g. a zip)."""
        try:
            async with self._session.get(
                self.endpoint.base_url + path, headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as resp:
                data = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as err:
            raise self._not_running() from err
        if status >= 400:
            raise self._refused(status, data.decode("utf-8", errors="replace"))
        return data

    async def status(self) -> NodeStatus:
        """``GET /status``, parsed."""
        return as_status(await self.call("GET", "/status"), self.lang)

    async def set_online(self, online: bool) -> NodeStatus:
        """``PUT /online``: the status after the change."""
        return as_status(await self.call("PUT", "/online", {"online": online}), self.lang)

    async def sync_now(self) -> None:
        """``POST /sync``: every dataset syncs now."""
        await self.call("POST", "/sync")

    async def pairing_code(self) -> dict[str, Any]:
        """``POST /pairing-code``: ``{"code", "expires_at"}``."""
        raw = await self.call("POST", "/pairing-code")
        if not isinstance(raw, dict) or not raw.get("code"):
            raise _fail(ControlFailure.REFUSED, "no_pairing_code", self.lang)
        return raw

    async def events(self) -> AsyncGenerator[NodeStatus, None]:
        """The current status, then every status the node pushes, until it goes away (then a
        ``NOT_RUNNING`` error). Polls ``/status`` when the node has no ``/events`` socket."""
        yield await self.status()
        try:
            ws = await self._session.ws_connect(
                self.endpoint.base_url + "/events", headers=self._headers,
                heartbeat=WS_HEARTBEAT_S, timeout=aiohttp.ClientWSTimeout(ws_close=5),
            )
        except aiohttp.WSServerHandshakeError as err:
            if err.status == 401:
                raise self._refused(401, "") from err
            async for status in self._poll():
                yield status
            return
        except (TimeoutError, aiohttp.ClientError, OSError) as err:
            raise self._not_running() from err
        async with ws:
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                pushed = status_event(msg.data)
                if pushed is not None:
                    yield pushed
        raise self._not_running()

    async def _poll(self) -> AsyncIterator[NodeStatus]:
        while True:
            await asyncio.sleep(POLL_INTERVAL_S)
            yield await self.status()


def status_event(data: str) -> NodeStatus | None:
    """The status carried by a ``status`` event; None for other events.

    Both shapes are accepted: the status fields inline, ``{"type":"status","online":…}``
    (what the node sends), and nested, ``{"type":"status","status":{…}}``.
    """
    try:
        event = json.loads(data)
        if isinstance(event, dict) and event.get("type") == "status":
            inner = event.get("status")
            return parse_status(inner if isinstance(inner, dict) else event)
    except (ValueError, ValidationError):
        return None
    return None


# --- from synchronous code (the CLI) -----------------------------------------------------------


def run_once(where: NodeLocation, lang: Lang,
             use: Callable[[ControlClient], Awaitable[T]]) -> T:
    """``use`` a client of the node at ``where`` once, from synchronous code: finds the node,
    opens a session for the call and closes it (``asyncio.run``)."""

    async def once() -> T:
        endpoint = resolve_endpoint(where, lang)
        async with aiohttp.ClientSession() as session:
            return await use(ControlClient(session, endpoint, lang))

    return asyncio.run(once())


def call_once(where: NodeLocation, lang: Lang, method: str, path: str, body: Any = None) -> Any:
    """One control request from synchronous code; the decoded JSON answer."""
    return run_once(where, lang, lambda client: client.call(method, path, body))
