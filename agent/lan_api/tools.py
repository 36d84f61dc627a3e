"""The S11 repair tools on the LAN API (docs/lan-api.md), the same handlers on the control API:
refresh one record now, re-download collections, data maintenance of a date range, and the
job record of the last two.
"""

from __future__ import annotations

import contextlib

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from agent import keys
from agent.cloud.client import HubError
from agent.jobs import JobKind, JobManager, JobView, hub_failure, require_hub
from agent.lan_api.models import LocalizedText
from agent.lan_api.spec import ApiRoute
from agent.repair import OUTCOME_TEXT, REQUEUED, Repair
from agent.store import DatasetStore
from httpkit import json_response, read_model, request_lang
from protocol.errors import ProtocolError
from protocol.models import Record
from protocol.query import parse_date
from protocol.wording import invalid

DS = "/datasets/{ds}"


class DownloadRequest(BaseModel):
    """``collections``: the ones to re-download (all when left out)."""

    model_config = ConfigDict(extra="forbid")
    collections: list[str] | None = None


class MaintenanceRequest(BaseModel):
    """The days to reconcile (both included); ``collections``: all when left out."""

    model_config = ConfigDict(extra="forbid")
    date_from: str
    date_to: str
    collections: list[str] | None = None


class RefreshResponse(BaseModel):
    """What the refresh did (``replaced``, ``unchanged``, ``merged``, ``conflict``, …) and the
    record as it is now (absent if the node does not hold it)."""

    outcome: str
    message: LocalizedText
    record: Record | None = None


def _jobs(request: web.Request) -> JobManager:
    jobs = request.app[keys.CONTEXT].jobs
    assert jobs is not None
    return jobs


def _store(request: web.Request) -> DatasetStore:
    return request.app[keys.STORES].get(request.match_info["ds"])


def _collections(store: DatasetStore, names: list[str] | None) -> list[str] | None:
    if names is None:
        return None
    for name in names:
        store.schema(name)  # NOT_FOUND naming the collections there are
    return list(dict.fromkeys(names))


def check_range(date_from: str, date_to: str) -> tuple[str, str]:
    """Two valid days in order, else 422 naming the field."""
    first = parse_date("date_from", date_from)
    last = parse_date("date_to", date_to)
    assert first is not None and last is not None
    if first > last:
        raise invalid("date_to", f"Ngày cuối ({last}) phải không sớm hơn ngày đầu ({first})",
                      f"The last day ({last}) must not be before the first ({first})",
                      "date_order", date_from=first, date_to=last)
    return first, last


async def refresh_record(request: web.Request) -> web.Response:
    m = request.match_info
    store = _store(request)
    store.schema(m["collection"])
    client = require_hub(request.app[keys.SYNC])
    repair = Repair(store, client)
    try:
        outcome = await repair.refresh(m["collection"], m["id"])
    except HubError as err:
        raise hub_failure(err) from None
    if outcome == REQUEUED:
        with contextlib.suppress(ProtocolError):  # else the push loop takes it later
            await request.app[keys.SYNC].sync_now(store.dataset_id)
    try:
        record: Record | None = await store.get(m["collection"], m["id"],
                                                lang=request_lang(request))
    except ProtocolError:
        record = None
    answer = RefreshResponse(outcome=outcome,
                             message=LocalizedText(**OUTCOME_TEXT[outcome].as_dict()),
                             record=record)
    return json_response(answer)


async def start_download(request: web.Request) -> web.Response:
    store = _store(request)
    body = await read_model(request, DownloadRequest)
    params = {"collections": _collections(store, body.collections)}
    job = await _jobs(request).submit(store.dataset_id, JobKind.DOWNLOAD, params)
    return json_response(job, status=202)


async def start_maintenance(request: web.Request) -> web.Response:
    store = _store(request)
    body = await read_model(request, MaintenanceRequest)
    first, last = check_range(body.date_from, body.date_to)
    params = {"date_from": first, "date_to": last,
              "collections": _collections(store, body.collections)}
    job = await _jobs(request).submit(store.dataset_id, JobKind.MAINTENANCE, params)
    return json_response(job, status=202)


async def get_job(request: web.Request) -> web.Response:
    return json_response(await _jobs(request).get(request.match_info["id"]))


ROUTES: list[ApiRoute] = [
    ApiRoute("POST", "/datasets/{ds}/records/{collection}/{id}/refresh", refresh_record,
             "This record's cloud version now (a record with local changes is merged or "
             "becomes a conflict, never overwritten)", response=RefreshResponse,
             errors=(404, 409, 503)),
    ApiRoute("POST", DS + "/download", start_download,
             "Re-download whole collections from the cloud, as a job (202)",
             request=DownloadRequest, response=JobView, status=202, errors=(404, 409)),
    ApiRoute("POST", DS + "/maintenance", start_maintenance,
             "Data maintenance of a date range: compare with the cloud and repair, as a job "
             "(202)", request=MaintenanceRequest, response=JobView, status=202,
             errors=(404, 409)),
    ApiRoute("GET", "/jobs/{id}", get_job, "A job: state, progress, report",
             response=JobView, errors=(404,)),
]


def add_control_routes(app: web.Application, prefix: str) -> None:
    """The same tools on the control API (``officesync download|maintain|refresh``)."""
    for route in ROUTES:
        app.router.add_route(route.method, prefix + route.path, route.handler)
