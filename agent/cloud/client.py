"""The hub client: the only node code that talks to the cloud hub (routes: docs/protocol.md).

Every failure is converted at this boundary into one of a few exceptions the sync engine and
the connectivity monitor act on: unreachable (no network / cloud unavailable), auth failed,
upgrade required, rate limited, or a rejection with a protocol error code. *Any* exception met
while sending, reading or decoding (aiohttp's, a ``RuntimeError("Connection closed.")`` from
reading a cut body, a JSON or model error, an answer that breaks the protocol) becomes a
:class:`HubError`; only a cancellation passes through.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import aiohttp
import orjson
from pydantic import BaseModel, ValidationError

from protocol.connectivity import Connectivity
from protocol.errors import ErrorBody, ErrorCode
from protocol.models import (
    SNAPSHOT_ROWS,
    ChangesPage,
    DigestResponse,
    EnrollResponse,
    Health,
    HubRecord,
    LeaseResponse,
    Op,
    OpResult,
    OpStatus,
    PushResponse,
    SnapshotPage,
    SnapshotRow,
)
from protocol.query import RecordQuery
from protocol.version import PROTOCOL_HEADER, PROTOCOL_VERSION

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
_NO_NETWORK_ERRNOS = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN})


class HubError(Exception):
    """Base of every hub client error."""


class HubUnreachable(HubError):
    def __init__(self, kind: Connectivity, reason: str) -> None:
        super().__init__(f"{kind.value}: {reason}")
        self.kind = kind
        self.reason = reason


class HubAuthFailed(HubError):
    def __init__(self, status: int, code: ErrorCode | None, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code


class HubUpgradeRequired(HubError):
    pass


class HubRateLimited(HubError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited, retry after {retry_after:g} s")
        self.retry_after = retry_after


class HubRejected(HubError):
    def __init__(self, code: ErrorCode, status: int, message: str,
                 details: dict[str, Any]) -> None:
        super().__init__(f"{status} {code.value}: {message}")
        self.code = code
        self.status = status
        self.message = message
        self.details = details


def classify_connection_error(err: BaseException) -> Connectivity:
    """NO_NETWORK for name resolution and unreachable networks, CLOUD_UNAVAILABLE otherwise."""
    if isinstance(err, aiohttp.ClientConnectorDNSError | socket.gaierror):
        return Connectivity.NO_NETWORK
    os_error = getattr(err, "os_error", None) or err
    if isinstance(os_error, socket.gaierror):
        return Connectivity.NO_NETWORK
    if isinstance(os_error, OSError) and os_error.errno in _NO_NETWORK_ERRNOS:
        return Connectivity.NO_NETWORK
    return Connectivity.CLOUD_UNAVAILABLE


def _retry_after(headers: Any, default: float = 1.0) -> float | None:
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return default


def error_for_status(status: int, headers: Any, body: bytes) -> HubError | None:
    """The exception an HTTP answer stands for, or ``None`` for a success."""
    if status < 400:
        return None
    retry_after = _retry_after(headers)
    if status == 429 or (status == 503 and retry_after is not None):
        return HubRateLimited(retry_after if retry_after is not None else 1.0)
    if status >= 500:
        return HubUnreachable(Connectivity.CLOUD_UNAVAILABLE, f"HTTP {status}")
    try:
        error = ErrorBody.model_validate(orjson.loads(body)).error
    except (orjson.JSONDecodeError, ValidationError):
        error = None
    if status == 426:
        return HubUpgradeRequired(error.message if error else "upgrade required")
    if status in (401, 403):
        return HubAuthFailed(status, error.code if error else None,
                             error.message if error else f"HTTP {status}")
    if error is None:  # not our hub's answer (a proxy, a wrong URL)
        return HubUnreachable(Connectivity.CLOUD_UNAVAILABLE, f"HTTP {status} without error body")
    return HubRejected(error.code, status, error.message, error.details)


_PLAIN_JSON_ONLY = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _not_plain(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def push_body(ops: Sequence[Op]) -> bytes:
    """The push request body, the same JSON as ``model_dump(mode="json")`` of every op.

    Ops whose data holds only JSON types (what the outbox stores) are written by orjson
    straight from their fields; any other value (datetime, Decimal, subclasses…) takes
    pydantic's serialiser so its JSON form stays pydantic's.
    """
    try:
        return orjson.dumps({"ops": [
            {"op_id": op.op_id, "collection": op.collection, "id": op.id,
             "action": str(op.action), "base_version": op.base_version, "data": op.data,
             "workstation": op.workstation}
            for op in ops
        ]}, default=_not_plain, option=_PLAIN_JSON_ONLY)
    except TypeError:
        return orjson.dumps({"ops": [op.model_dump(mode="json") for op in ops]})


def invalid_response(reason: str) -> HubUnreachable:
    """An answer that is not what the protocol says: the hub (or what answers in its place)
    is not usable right now."""
    return HubUnreachable(Connectivity.CLOUD_UNAVAILABLE, f"invalid response: {reason}")


def _parse(model: type[M], body: bytes) -> M:
    return _checked(lambda: model.model_validate(orjson.loads(body)))


_BAD_TEXT = "SELECT min(key) FROM json_each(?) WHERE NOT json_valid(value)"


def first_bad_text(texts: list[str]) -> int | None:
    """The index of the first of ``texts`` that is not valid JSON (None: every one is).

    A snapshot page in the rows form brings each record's data as JSON text, stored as it
    comes: ``SnapshotPage.from_json`` checked that each is in braces, so valid JSON here is a
    JSON object. One SQLite statement (json_valid), 6 ms for a page of 2,500 with the GIL
    released, where parsing each with orjson took 10 ms holding it."""
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        found = conn.execute(_BAD_TEXT, (orjson.dumps(texts).decode(),)).fetchone()[0]
    return None if found is None else int(found)


def _checked(read: Callable[[], T]) -> T:
    """``read()`` of a hub's answer; anything it raises makes the answer invalid."""
    try:
        return read()
    except Exception as err:  # JSON, validation, or anything a mangled body may cause
        first = (str(err).splitlines() or [type(err).__name__])[0]
        raise invalid_response(first) from err


def check_push_results(ops: Sequence[Op], results: list[OpResult]) -> list[OpResult]:
    """A push answer holds at most one result per op sent (an op without one stays pending
    and goes again), each ``applied`` one with its new ``version`` (storing an applied op
    without it would raise the record's revision later and show a false
    ``STALE_LOCAL_COPY``), each ``rejected`` one with its error."""
    sent = {op.op_id for op in ops}
    answered = [r.op_id for r in results]
    if len(set(answered)) != len(answered) or not sent.issuperset(answered):
        raise invalid_response("push results do not match the ops sent")
    for result in results:  # an unknown status failed the parse already (OpStatus)
        if result.status is OpStatus.APPLIED:
            if result.version is None or result.version < 1:
                raise invalid_response(f"applied op {result.op_id} without a version")
        elif result.error is None:
            raise invalid_response(f"rejected op {result.op_id} without an error")
    return results


class HubClient:
    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 30.0,
                 language: str = "vi") -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.language = language
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def reset(self) -> None:
        """Drop the HTTP session (and its pooled connections); the next call opens a new one."""
        await self.close()

    def _headers(self) -> dict[str, str]:
        headers = {PROTOCOL_HEADER: str(PROTOCOL_VERSION), "Accept-Language": self.language}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers(), json_serialize=lambda o: orjson.dumps(o).decode()
            )
        return self._session

    async def _request(self, method: str, path: str, *, body: Any = None,
                       params: dict[str, Any] | None = None,
                       seconds: float | None = None) -> tuple[int, bytes]:
        data = body if body is None or isinstance(body, bytes) else orjson.dumps(body)
        headers = {"Content-Type": "application/json"} if data is not None else None
        limit = aiohttp.ClientTimeout(total=seconds if seconds is not None else self.timeout)
        try:
            async with self._http().request(
                method, self.base_url + path, data=data, params=params, headers=headers,
                timeout=limit,
            ) as response:
                payload = await response.read()
                status, answer_headers = response.status, response.headers
        except TimeoutError as err:
            raise HubUnreachable(Connectivity.CLOUD_UNAVAILABLE, "timed out") from err
        except (aiohttp.ClientError, OSError) as err:
            raise HubUnreachable(classify_connection_error(err),
                                 str(err) or type(err).__name__) from err
        except Exception as err:  # e.g. RuntimeError("Connection closed.") from read()
            raise HubUnreachable(Connectivity.CLOUD_UNAVAILABLE,
                                 f"{type(err).__name__}: {err}") from err
        try:
            error = error_for_status(status, answer_headers, payload)
        except Exception as err:  # a malformed header or error body
            raise invalid_response(f"{type(err).__name__}: {err}") from err
        if error is not None:
            raise error
        return status, payload

    async def health(self, timeout: float | None = None) -> Health:  # noqa: ASYNC109
        _, body = await self._request("GET", "/v1/health", seconds=timeout)
        return _parse(Health, body)

    async def enroll(self, code: str, node_name: str) -> EnrollResponse:
        _, body = await self._request(
            "POST", "/v1/enroll", body={"code": code, "node_name": node_name}
        )
        return _parse(EnrollResponse, body)

    async def datasets(self) -> list[str]:
        _, body = await self._request("GET", "/v1/datasets")
        return _parse(_Datasets, body).datasets

    async def push(self, dataset: str, ops: Sequence[Op]) -> list[OpResult]:
        _, body = await self._request("POST", f"/v1/datasets/{dataset}/push", body=push_body(ops))
        return check_push_results(ops, _parse(PushResponse, body).results)

    async def changes(self, dataset: str, since: int, limit: int = 1000,
                      wait: float = 0) -> ChangesPage:
        params: dict[str, Any] = {"since": since, "limit": limit}
        if wait > 0:
            params["wait"] = f"{wait:g}"
        _, body = await self._request(
            "GET", f"/v1/datasets/{dataset}/changes", params=params, seconds=wait + self.timeout
        )
        return _parse(ChangesPage, body)

    async def snapshot(self, dataset: str, after: str | None = None,
                       limit: int = 1000) -> SnapshotPage | None:
        """A page of the dataset's records in id order at their latest versions (a first
        download); ``None`` from a hub without the route (an older one answers 404
        ``NOT_FOUND``: the node then reads the feed from 0)."""
        params: dict[str, Any] = {"limit": limit, "form": SNAPSHOT_ROWS}
        if after is not None:
            params["after"] = after
        try:
            _, body = await self._request(
                "GET", f"/v1/datasets/{dataset}/snapshot", params=params)
        except HubRejected as err:
            if err.status == 404 and err.code is ErrorCode.NOT_FOUND:
                return None
            raise
        page = _checked(lambda: SnapshotPage.from_json(body))
        texts = [r.text for r in page.records if isinstance(r, SnapshotRow)]
        if texts:  # off the loop: SQLite parses them with the GIL released
            bad = await asyncio.to_thread(first_bad_text, texts)
            if bad is not None:
                raise invalid_response(f"rows[{bad}]: data is not a JSON object")
        return page

    async def get_record(self, dataset: str, collection: str, id: str) -> HubRecord | None:
        try:
            _, body = await self._request(
                "GET", f"/v1/datasets/{dataset}/records/{collection}/{id}"
            )
        except HubRejected as err:
            if err.code is ErrorCode.NOT_FOUND:
                return None
            raise
        return _parse(HubRecord, body)

    async def record_history(self, dataset: str, collection: str, id: str) -> dict[str, Any]:
        """Every version of one record the hub's feed holds (``{"versions": [...]}``), with
        the office and workstation that made each; ``HubRejected`` NOT_FOUND when none."""
        _, body = await self._request(
            "GET", f"/v1/datasets/{dataset}/records/{collection}/{id}/history")
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError as err:
            raise invalid_response("history is not JSON") from err
        if not isinstance(answer, dict) or not isinstance(answer.get("versions"), list):
            raise invalid_response("history without versions")
        return answer

    async def list_records(self, dataset: str, collection: str,
                           query: RecordQuery | None = None, *,
                           include_deleted: bool = False) -> dict[str, Any]:
        """One page of the hub's records (``{"items": [HubRecord], "next"}``); with
        ``include_deleted`` the tombstones too (the repair tools compare them)."""
        params = (query or RecordQuery()).params()
        if include_deleted:
            params["include_deleted"] = "true"
        _, body = await self._request(
            "GET", f"/v1/datasets/{dataset}/records/{collection}", params=params,
        )
        page = _parse(_RecordPage, body)
        return {"items": page.items, "next": page.next}

    async def digest(self, dataset: str, collection: str, date_from: str,
                     date_to: str) -> DigestResponse:
        _, body = await self._request(
            "POST", f"/v1/datasets/{dataset}/digest",
            body={"collection": collection, "date_from": date_from, "date_to": date_to},
        )
        return _parse(DigestResponse, body)

    async def lease(self, dataset: str, series: str, count: int) -> LeaseResponse:
        _, body = await self._request(
            "POST", f"/v1/datasets/{dataset}/series/{series}/lease", body={"count": count}
        )
        return _parse(LeaseResponse, body)


class _Datasets(BaseModel):
    datasets: list[str]


class _RecordPage(BaseModel):
    items: list[HubRecord]
    next: str | None = None
