"""A workstation's client of the node's LAN API v1 (docs/lan-api.md).

Every failure comes back as one exception, :class:`WorkstationError`, carrying the protocol
error code, the HTTP status (0 when the node could not be reached), the message in the chosen
language and the machine-readable details (``STALE_LOCAL_COPY`` carries ``details["current"]``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any, NamedTuple, get_args

import aiohttp
import orjson
from pydantic import ValidationError

from protocol.backoff import Backoff
from protocol.errors import ErrorCode, code_for_status, render
from protocol.i18n import Lang
from protocol.models import PairResponse, Record, RecordPage, ResolveRequest
from protocol.query import RecordQuery
from workstation import messages
from workstation.tls import pinned_fingerprint

API = "/api/v1"
# The actions of ``POST …/{id}/resolve`` (``protocol.models.ResolveRequest``).
RESOLVE_ACTIONS: tuple[str, ...] = get_args(ResolveRequest.model_fields["action"].annotation)
# ``WorkstationError.details["reason"]`` when the node's certificate is not the pinned one;
# ``details["expected"]`` / ``details["got"]`` are the two SHA-256 fingerprints (hex).
FINGERPRINT_MISMATCH = "tls_fingerprint_mismatch"


class WorkstationError(Exception):
    """An error answer of the node, or a failure to reach it (``status == 0``)."""

    def __init__(
        self,
        code: ErrorCode,
        status: int,
        message: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.code = code
        self.status = status
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        super().__init__(f"{code.value}: {message}")

    @property
    def current(self) -> Record | None:
        """The node's current record sent with ``STALE_LOCAL_COPY``, if any."""
        raw = self.details.get("current")
        if not isinstance(raw, dict):
            return None
        try:
            return Record.model_validate(raw)
        except ValidationError:
            return None


class Stored(NamedTuple):
    """A record and its ETag (the value to send back in ``If-Match``)."""

    record: Record
    etag: str


class Waiting(NamedTuple):
    """The answer of ``GET …/sync/issues``: the waiting records, and the dataset's state
    (``{"state", "code", "message"}``) when the whole dataset does not sync, else None."""

    items: list[Record]
    dataset: dict[str, Any] | None


def etag_of(record: Record) -> str:
    """The ETag of ``record`` as the node sends it (its local revision, quoted)."""
    return f'"{record.local_rev}"'


def if_match(etag: str | int) -> str:
    """Normalise an ETag given as ``7``, ``"7"``, ``'"7"'`` or ``W/"7"`` for ``If-Match``."""
    if isinstance(etag, int):
        return f'"{etag}"'
    value = etag.strip()
    return f'"{value}"' if value.isdigit() else value


def parse_error(status: int, body: bytes, lang: Lang) -> WorkstationError:
    """Turn an error answer into a :class:`WorkstationError` (pure; tested directly)."""
    try:
        payload = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        payload = None
    err = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(err, dict):
        try:
            code = ErrorCode(str(err.get("code")))
        except ValueError:
            code = code_for_status(status)
        message = str(err.get("message") or render(code, lang))
        details = err.get("details")
        return WorkstationError(code, status, message, details if isinstance(details, dict) else {})
    code = code_for_status(status)
    return WorkstationError(code, status, render(code, lang), {})


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def _ssl_for(fingerprint: str | None, verify: bool) -> aiohttp.Fingerprint | bool:
    """A pinned certificate, CA verification (the default), or none at all (``verify`` off:
    only for the first contact of trust-on-first-use pairing, see ``workstation.pairing``).
    A malformed fingerprint raises ``ValueError``."""
    if fingerprint:
        return pinned_fingerprint(fingerprint)
    return verify


class WorkstationClient:
    """Talks to one node. Use as ``async with WorkstationClient(url, token) as client:``."""

    def __init__(
        self,
        node_url: str,
        token: str | None = None,
        *,
        language: Lang | None = None,
        fingerprint: str | None = None,
        verify_certificate: bool = True,
        timeout: float = 30.0,
        connector_limit: int = 100,
    ) -> None:
        self.node_url = node_url.rstrip("/")
        self.token = token
        self.language: Lang = language or "vi"
        self._accept_language = language
        self._ssl = _ssl_for(fingerprint, verify_certificate)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._limit = connector_limit
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> WorkstationClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session (the client opens a new one if used again)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- plumbing ------------------------------------------------------------------------

    def _session_(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Accept": "application/json"}
            if self._accept_language:
                headers["Accept-Language"] = self._accept_language
            self._session = aiohttp.ClientSession(
                headers=headers,
                timeout=self._timeout,
                json_serialize=_dumps,
                connector=aiohttp.TCPConnector(limit=self._limit, ssl=self._ssl),
            )
        return self._session

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _unreachable(self, err: BaseException) -> WorkstationError:
        details: dict[str, Any] = {"url": self.node_url}
        if isinstance(err, aiohttp.ServerFingerprintMismatch):
            key, reason = "fingerprint", ""
            details.update(reason=FINGERPRINT_MISMATCH, expected=err.expected.hex(),
                           got=err.got.hex())
        else:
            key, reason = "unreachable", (str(err) or type(err).__name__)
        message = messages.text(key, self.language, url=self.node_url, reason=reason)
        return WorkstationError(messages.code_of(key), 0, message, details)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any, Mapping[str, str]]:
        all_headers = {**self._auth(), **(headers or {})}
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self._session_().request(
                method, self.node_url + API + path, json=json, params=query, headers=all_headers
            ) as resp:
                body = await resp.read()
                status, resp_headers = resp.status, resp.headers
        except (aiohttp.ClientError, TimeoutError) as err:
            raise self._unreachable(err) from err
        if status >= 400:
            raise parse_error(status, body, self.language)
        try:
            payload = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            raise self._bad_response(status) from None
        return status, payload, resp_headers

    def _bad_response(self, status: int) -> WorkstationError:
        message = messages.text("bad_response", self.language, status=status)
        return WorkstationError(ErrorCode.INTERNAL, status, message)

    def _stored(self, status: int, payload: Any, headers: Mapping[str, str]) -> Stored:
        try:
            record = Record.model_validate(payload)
        except ValidationError:
            raise self._bad_response(status) from None
        return Stored(record, headers.get("ETag") or etag_of(record))

    @staticmethod
    def _record_path(ds: str, collection: str, id: str | None = None) -> str:
        path = f"/datasets/{ds}/records/{collection}"
        return f"{path}/{id}" if id else path

    # --- node and pairing ------------------------------------------------------------------

    async def info(self) -> dict[str, Any]:
        """The node's public ``/info``: name, version, protocol, datasets, TLS fingerprint."""
        _, payload, _ = await self._call("GET", "/info")
        return dict(payload or {})

    async def pair(self, code: str, name: str) -> PairResponse:
        """Pair with a one-time code; the client uses the new token from then on."""
        status, payload, _ = await self._call("POST", "/pair", json={"code": code, "name": name})
        try:
            answer = PairResponse.model_validate(payload)
        except ValidationError:
            raise self._bad_response(status) from None
        self.token = answer.token
        return answer

    async def datasets(self) -> list[dict[str, Any]]:
        """The datasets this node serves."""
        _, payload, _ = await self._call("GET", "/datasets")
        if isinstance(payload, dict):
            payload = payload.get("datasets", payload.get("items", []))
        return list(payload or [])

    # --- records ---------------------------------------------------------------------------

    async def list_records(
        self, ds: str, collection: str, query: RecordQuery | None = None
    ) -> RecordPage:
        """One page of records matching ``query`` (all, first page, when ``None``)."""
        params = (query or RecordQuery()).params()
        status, payload, _ = await self._call(
            "GET", self._record_path(ds, collection), params=params
        )
        try:
            return RecordPage.model_validate(payload)
        except ValidationError:
            raise self._bad_response(status) from None

    async def iter_records(
        self, ds: str, collection: str, query: RecordQuery | None = None
    ) -> AsyncIterator[Record]:
        """Every record matching ``query``, following the ``next`` cursor page by page."""
        page_query = query or RecordQuery()
        while True:
            page = await self.list_records(ds, collection, page_query)
            for record in page.items:
                yield record
            if not page.next:
                return
            page_query = replace(page_query, after=page.next)

    async def get(self, ds: str, collection: str, id: str) -> Stored:
        """One record with its ETag."""
        return self._stored(*await self._call("GET", self._record_path(ds, collection, id)))

    async def create(
        self, ds: str, collection: str, data: Mapping[str, Any], id: str | None = None
    ) -> Stored:
        """Create a record (the node makes its id when ``id`` is None); the stored record."""
        body: dict[str, Any] = {"data": dict(data)}
        if id is not None:
            body["id"] = id
        return self._stored(
            *await self._call("POST", self._record_path(ds, collection), json=body)
        )

    async def update(
        self, ds: str, collection: str, id: str, data: Mapping[str, Any], etag: str | int
    ) -> Stored:
        """Replace a record's data; ``etag`` is the one last read (``If-Match``)."""
        return self._stored(
            *await self._call(
                "PUT", self._record_path(ds, collection, id),
                json={"data": dict(data)}, headers={"If-Match": if_match(etag)},
            )
        )

    async def delete(self, ds: str, collection: str, id: str, etag: str | int) -> Stored | None:
        """Delete a record read at ``etag``; the tombstone, or None when the node sends none."""
        status, payload, headers = await self._call(
            "DELETE", self._record_path(ds, collection, id), headers={"If-Match": if_match(etag)}
        )
        return None if payload is None else self._stored(status, payload, headers)

    async def post(self, ds: str, collection: str, id: str, etag: str | int) -> Stored:
        """Post a voucher read at ``etag``."""
        return await self._action(ds, collection, id, "post", etag)

    async def unpost(self, ds: str, collection: str, id: str, etag: str | int) -> Stored:
        """Unpost a voucher read at ``etag``."""
        return await self._action(ds, collection, id, "unpost", etag)

    async def refresh(self, ds: str, collection: str, id: str) -> Stored:
        """Download this record's cloud version now (S9/S11)."""
        return await self._action(ds, collection, id, "refresh", None)

    async def resolve(
        self,
        ds: str,
        collection: str,
        id: str,
        action: str,
        *,
        data: Mapping[str, Any] | None = None,
        choices: Mapping[str, str] | None = None,
        new_key: str | None = None,
        renumber: bool = False,
        cascade: bool = False,
    ) -> Stored:
        """Settle a record in conflict, error or blocked (docs/lan-api.md, "Resolutions").

        ``action`` is one of :data:`RESOLVE_ACTIONS`: ``take_cloud``, ``keep_local``,
        ``merge`` (with ``data``, the merged record, or ``choices``, ``{field: "local" |
        "cloud"}``), ``restore``, ``discard`` (``cascade``: the records that depend on it
        too), ``link_existing``, ``rename`` (``new_key``, or ``renumber`` for a voucher).
        The node checks the request; a refusal is a :class:`WorkstationError`. Returns the
        settled record."""
        body: dict[str, Any] = {"action": action}
        if data is not None:
            body["data"] = dict(data)
        if choices:
            body["choices"] = dict(choices)
        if new_key is not None:
            body["new_key"] = new_key
        if renumber:
            body["renumber"] = True
        if cascade:
            body["cascade"] = True
        path = self._record_path(ds, collection, id) + "/resolve"
        return self._stored(*await self._call("POST", path, json=body))

    async def conflict(self, ds: str, collection: str, id: str) -> dict[str, Any]:
        """What differs for a record in ``conflict``: the node's ``…/{id}/conflict`` answer
        (base, local and cloud data and the clashing fields)."""
        path = self._record_path(ds, collection, id) + "/conflict"
        _, payload, _ = await self._call("GET", path)
        return dict(payload or {})

    async def find_key(self, ds: str, collection: str, key: str) -> Record | None:
        """The record of ``collection`` whose key is ``key`` (compared as the node compares
        codes: ``kh100`` finds ``KH100``), or None."""
        page = await self.list_records(ds, collection, RecordQuery(key=key, limit=2))
        return page.items[0] if page.items else None

    async def _action(
        self, ds: str, collection: str, id: str, action: str, etag: str | int | None
    ) -> Stored:
        headers = {"If-Match": if_match(etag)} if etag is not None else {}
        path = self._record_path(ds, collection, id) + "/" + action
        return self._stored(*await self._call("POST", path, headers=headers))

    # --- sync state ------------------------------------------------------------------------

    async def sync_summary(self, ds: str) -> dict[str, Any]:
        """The dataset's connectivity and sync counts."""
        _, payload, _ = await self._call("GET", f"/datasets/{ds}/sync")
        return dict(payload or {})

    async def sync_issues(self, ds: str) -> list[Record]:
        """The dataset's records in error, conflict or blocked."""
        return (await self.waiting(ds)).items

    async def waiting(self, ds: str) -> Waiting:
        """What waits to be settled in ``ds``: the records in error, conflict or blocked, and
        the dataset's own state when the whole dataset does not sync."""
        status, payload, _ = await self._call("GET", f"/datasets/{ds}/sync/issues")
        items = payload.get("items", []) if isinstance(payload, dict) else payload
        state = payload.get("dataset") if isinstance(payload, dict) else None
        try:
            records = [Record.model_validate(item) for item in items or []]
        except (ValidationError, TypeError):
            raise self._bad_response(status) from None
        return Waiting(records, dict(state) if isinstance(state, dict) else None)

    async def sync_now(self, ds: str) -> dict[str, Any]:
        """Ask the node to sync the dataset now; its answer."""
        _, payload, _ = await self._call("POST", f"/datasets/{ds}/sync")
        return dict(payload or {})

    # --- events ----------------------------------------------------------------------------

    async def events(
        self, dataset: str | None = None, *, reconnect: bool = False, max_backoff: float = 5.0
    ) -> AsyncIterator[dict[str, Any]]:
        """Events pushed by the node's ``/events`` WebSocket, as dicts.

        With ``dataset``, events about another dataset are skipped (events without a
        ``dataset`` field, e.g. connectivity, always pass). With ``reconnect``, a dropped
        connection is reopened with capped backoff (:class:`protocol.backoff.Backoff`, from
        0.2 s up to ``max_backoff``) (a refusal, or a certificate
        that is not the pinned one, is raised instead); otherwise the iterator ends.
        """
        backoff = Backoff(base=0.2, cap=max_backoff)
        while True:
            try:
                async for event in self._one_connection():
                    backoff.reset()
                    if dataset is None or event.get("dataset") in (None, dataset):
                        yield event
            except WorkstationError as err:
                mismatch = err.details.get("reason") == FINGERPRINT_MISMATCH
                if not reconnect or err.status != 0 or mismatch:
                    raise
            if not reconnect:
                return
            await asyncio.sleep(backoff.next_delay())

    async def _one_connection(self) -> AsyncIterator[dict[str, Any]]:
        url = self.node_url + API + "/events"
        try:
            async with self._session_().ws_connect(
                url, headers=self._auth(), heartbeat=30
            ) as ws:
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        event = orjson.loads(msg.data)
                        if isinstance(event, dict):
                            yield event
                    elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                        return
        except aiohttp.WSServerHandshakeError as err:
            code = code_for_status(err.status)
            raise WorkstationError(code, err.status, render(code, self.language)) from err
        except (aiohttp.ClientError, TimeoutError) as err:
            raise self._unreachable(err) from err
