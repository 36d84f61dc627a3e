"""The dashboard's console routes of the LAN API (docs/lan-api.md): the Work-online switch and
a record's history; and the middleware that names the workstation behind each write.

``PUT /online`` is the tray's "Làm việc online" toggle (the control API's ``PUT /online``)
for a paired session: persisted, and turning it on forces a fresh reconnect.

``GET /datasets/{ds}/records/{collection}/{id}/history`` asks the hub for every version of
the record (when, which office, which workstation, what changed). When the hub cannot answer
(offline by choice, unreachable, not configured) it says why in ``message`` and gives what
the node knows itself: its current copy (``source: "local"``). Either way ``pending`` lists
the node's own changes not yet at the hub.
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, ConfigDict, StrictBool

from agent import keys
from agent.cloud.client import HubError, HubRejected, HubUnreachable
from agent.lan_api.spec import ApiRoute
from agent.store import rows
from httpkit import json_response, read_model, request_lang
from protocol.connectivity import Connectivity
from protocol.errors import ErrorCode, ProtocolError, messages
from protocol.i18n import Text

# ws_id -> name of every workstation ever paired (names of revoked ones stay for the history).
NAMES = web.AppKey("workstation_names", dict)


class OnlineRequest(BaseModel):
    """Body of ``PUT /online``."""

    model_config = ConfigDict(extra="forbid")
    online: StrictBool


class OnlineState(BaseModel):
    """The toggle as saved, and the connectivity it leads to."""

    online: bool
    connectivity: str
    message: dict[str, str]


class HistoryVersion(BaseModel):
    """One version of a record: who made it, when, and the top-level fields it changed."""

    version: int | None
    at: str | None
    node: str | None
    node_id: str | None = None
    workstation: str | None
    deleted: bool = False
    changed: list[str]
    data: dict[str, Any]


class PendingChange(BaseModel):
    """A change of this node's still waiting in its outbox."""

    action: str
    at: str
    workstation: str | None
    state: str


class RecordHistory(BaseModel):
    """``source``: ``cloud`` (the hub's feed) or ``local`` (the node's copy only, with the
    reason in ``message``); ``labels``: each field's label in both languages."""

    id: str
    collection: str
    source: Literal["cloud", "local"]
    message: dict[str, str] | None
    labels: dict[str, dict[str, str]]
    versions: list[HistoryVersion]
    pending: list[PendingChange]


def _state(request: web.Request) -> dict[str, Any]:
    sync = request.app[keys.SYNC]
    connectivity = sync.connectivity
    return {"online": sync.online, "connectivity": connectivity.value,
            "message": connectivity.messages()}


async def get_online(request: web.Request) -> web.Response:
    return json_response(_state(request))


async def put_online(request: web.Request) -> web.Response:
    body = await read_model(request, OnlineRequest)
    await request.app[keys.SYNC].set_online(body.online)
    return json_response(_state(request))


_UNREACHABLE = Text("Không hỏi được Cloud lúc này nên chỉ có bản trên máy chủ văn phòng: ",
                    "The cloud cannot be asked right now, so this is the office server's copy "
                    "only: ")


def _why_local(err: Exception) -> dict[str, str]:
    if isinstance(err, ProtocolError):
        said = messages(err.code, err.params)
    elif isinstance(err, HubUnreachable):
        said = err.kind.messages()
    elif isinstance(err, HubRejected):  # worded by the hub in the node's language
        said = {"vi": err.message, "en": err.message}
    else:
        said = Connectivity.CLOUD_UNAVAILABLE.messages()
    return {lang: _UNREACHABLE.get(lang) + said[lang] for lang in ("vi", "en")}


def _pending(conn: Any, record_id: str) -> list[dict[str, Any]]:
    found = conn.execute("SELECT action, created_at, workstation, state FROM outbox "
                         "WHERE record_id = ? ORDER BY seq", (record_id,)).fetchall()
    return [{"action": r["action"], "at": r["created_at"], "workstation": r["workstation"],
             "state": r["state"]} for r in found]


async def record_history(request: web.Request) -> web.Response:
    m = request.match_info
    ds, collection, record_id = m["ds"], m["collection"], m["id"]
    store = request.app[keys.STORES].get(ds)
    record = await store.get(collection, record_id, lang=request_lang(request))  # 404s
    schema = store.schema(collection)
    labels = {path: text.as_dict() for path, text in schema.fields.items() if "." not in path
              and "[" not in path}
    pending = await store.readers.run(lambda conn: _pending(conn, record_id))
    answer: dict[str, Any] = {"id": record_id, "collection": collection, "labels": labels,
                              "pending": pending}
    try:
        hub = await request.app[keys.SYNC].record_history(ds, collection, record_id)
    except (HubError, ProtocolError) as err:
        if isinstance(err, HubRejected) and err.code is ErrorCode.NOT_FOUND:
            # It never reached the hub: no version there yet, only the pending changes.
            return json_response({**answer, "source": "cloud", "message": None,
                                  "versions": []})
        local: dict[str, Any] = {"version": record.version, "at": record.updated_at,
                 "node": request.app[keys.CONFIG].node.name, "workstation": None,
                 "deleted": record.deleted, "changed": [], "data": record.data or {}}
        return json_response({**answer, "source": "local", "message": _why_local(err),
                              "versions": [local]})
    return json_response({**answer, "source": "cloud", "message": None,
                          "versions": hub["versions"]})


async def _workstation_name(app: web.Application, ws_id: str) -> str | None:
    names: dict[str, str] = app[NAMES]
    if ws_id not in names:
        found = await app[keys.NODE_DB].list_workstations(include_revoked=True)
        names.update({w.id: w.name for w in found})
    return names.get(ws_id)


@web.middleware
async def name_the_author(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Writes made for a paired workstation queue ops naming it (:data:`rows.AUTHOR`)."""
    ws_id = request.get(keys.WORKSTATION)
    if ws_id is None or request.method in ("GET", "HEAD", "OPTIONS"):
        return await handler(request)
    token = rows.AUTHOR.set(await _workstation_name(request.app, ws_id))
    try:
        return await handler(request)
    finally:
        rows.AUTHOR.reset(token)


def setup_authors(app: web.Application) -> None:
    """Install :func:`name_the_author` (after the auth middleware, which finds the id)."""
    app[NAMES] = {}
    app.middlewares.append(name_the_author)


_ONE = "/datasets/{ds}/records/{collection}/{id}"

ROUTES: list[ApiRoute] = [
    ApiRoute("GET", "/online", get_online,
             "The Work-online toggle and the connectivity it leads to", response=OnlineState),
    ApiRoute("PUT", "/online", put_online,
             "Work online or offline (the tray's toggle): persisted; on forces a fresh "
             "reconnect", request=OnlineRequest, response=OnlineState, errors=(400, 422)),
    ApiRoute("GET", _ONE + "/history", record_history,
             "A record's history: every version with when, which office and workstation, "
             "what changed (the hub's feed; offline: the node's copy and why)",
             response=RecordHistory, errors=(404, 409)),
]
