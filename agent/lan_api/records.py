"""Records and per-dataset sync routes of the LAN API (docs/lan-api.md).

Writes carry ``If-Match`` (the record's ETag, its ``local_rev``): missing → 428
``PRECONDITION_REQUIRED``; stale → 409 ``STALE_LOCAL_COPY`` with ``details.current`` (S10).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from agent import keys
from agent.lan_api.http import etag, if_match
from agent.lan_api.models import Accepted, IssuesResponse, SyncSummary
from agent.lan_api.spec import ApiRoute, QueryParam
from agent.selfcheck import read_result
from agent.store import DatasetStore, conflicts
from httpkit import json_response, read_model, request_lang
from protocol.i18n import LANGUAGES
from protocol.local import search_backlog_message
from protocol.merge import ConflictView
from protocol.models import Record, RecordPage, RecordWrite, ResolveRequest
from protocol.query import MAX_LIMIT, RecordQuery
from protocol.wording import invalid

RECORD = "/datasets/{ds}/records/{collection}"
ONE = RECORD + "/{id}"


def _store(request: web.Request) -> DatasetStore:
    return request.app[keys.STORES].get(request.match_info["ds"])


def _record_response(record: Record, status: int = 200) -> web.Response:
    return json_response(record, status=status, headers={"ETag": etag(record.local_rev)})


async def list_records(request: web.Request) -> web.Response:
    query = RecordQuery.from_params(request.query)
    page = await _store(request).query(
        request.match_info["collection"], query, lang=request_lang(request)
    )
    return json_response(page)


async def create_record(request: web.Request) -> web.Response:
    store = _store(request)
    body = await read_model(request, RecordWrite)
    record = await store.create(request.match_info["collection"], body.data, id=body.id)
    response = _record_response(record, 201)
    response.headers["Location"] = f"{request.path}/{record.id}"
    return response


async def get_record(request: web.Request) -> web.Response:
    m = request.match_info
    record = await _store(request).get(m["collection"], m["id"], lang=request_lang(request))
    return _record_response(record)


async def update_record(request: web.Request) -> web.Response:
    m = request.match_info
    store = _store(request)
    rev = if_match(request)
    body = await read_model(request, RecordWrite)
    if body.id is not None and body.id != m["id"]:
        raise invalid("id", f"Mã định danh (id) {body.id} khác với id của bản ghi trong đường "
                      f"dẫn ({m['id']}); hãy bỏ trường id hoặc sửa cho đúng",
                      f"The id {body.id} differs from the record's id in the path ({m['id']}); "
                      "leave id out or correct it", "id_mismatch")
    record = await store.update(m["collection"], m["id"], body.data, if_match=rev)
    return _record_response(record)


def _guarded(action: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler of a bodyless write guarded by ``If-Match``: delete, post or unpost."""

    async def handler(request: web.Request) -> web.Response:
        m = request.match_info
        write = getattr(_store(request), action)
        record = await write(m["collection"], m["id"], if_match=if_match(request))
        return _record_response(record)

    handler.__name__ = f"{action}_record"
    return handler


delete_record = _guarded("delete")
post_record = _guarded("post")
unpost_record = _guarded("unpost")


async def resolve_record(request: web.Request) -> web.Response:
    m = request.match_info
    store = _store(request)
    body = await read_model(request, ResolveRequest)
    record = await store.resolve(m["collection"], m["id"], body)
    return _record_response(record)


async def get_conflict(request: web.Request) -> web.Response:
    m = request.match_info
    store = _store(request)
    schema, lang = store.schema(m["collection"]), request_lang(request)
    view = await store.readers.run(
        lambda conn: conflicts.conflict_view(conn, schema, m["id"], lang))
    return json_response(view)


async def sync_summary(request: web.Request) -> web.Response:
    ds = request.match_info["ds"]
    store = _store(request)
    counts = await store.sync_counts()
    sync = request.app[keys.SYNC]
    download = None
    progress = store.download_progress(sum(counts.values()))
    if progress is not None:  # a first download: what the dashboard shows instead of waiting
        download = {**progress.model_dump(),
                    "message": {lang: progress.message_in(lang) for lang in LANGUAGES}}
    return json_response({
        "connectivity": sync.connectivity.value,
        "online": sync.online,
        "counts": counts,
        **sync.timestamps(ds),
        **sync.dataset_state(ds).as_json(),  # "state", "code", "message": {"vi","en"}|null
        "selfcheck": (await read_result(request.app[keys.NODE_DB], ds)).as_json(),
        "download": download,
        # after a first download: the records still to enter the search indexes
        "search_backlog": None if not store.search_backlog else {
            "left": store.search_backlog,
            "message": {lang: search_backlog_message(store.search_backlog, lang)
                        for lang in LANGUAGES}},
    })


async def sync_issues(request: web.Request) -> web.Response:
    ds = request.match_info["ds"]
    items = await _store(request).sync_issues(lang=request_lang(request))
    answer: dict[str, object] = {"items": items}
    state = request.app[keys.SYNC].dataset_state(ds)
    if not state.ok:  # the whole dataset does not sync: say so before any record
        answer["dataset"] = state.as_json()
    return json_response(answer)


async def sync_now(request: web.Request) -> web.Response:
    _store(request)  # 404 / 409 for a dataset this node does not serve
    await request.app[keys.SYNC].sync_now(request.match_info["ds"])
    return json_response({"accepted": True}, status=202)


_LIST_QUERY = (
    QueryParam("key", "exact key, e.g. KH001 or receipt/PT000001"),
    QueryParam("q", "text search in key and data"),
    QueryParam("date_from", "first date (YYYY-MM-DD), collections with a date field",
               {"type": "string", "format": "date"}),
    QueryParam("date_to", "last date (YYYY-MM-DD)", {"type": "string", "format": "date"}),
    QueryParam("sync_state", "synced|pending|syncing|error|conflict|blocked"),
    QueryParam("limit", f"page size, 1-{MAX_LIMIT} (100)",
               {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
    QueryParam("after", "the previous page's `next` cursor"),
)
_DS_ERRORS = (404, 409)
_WRITE_ERRORS = (400, 404, 409, 413, 415, 422)
_IF_MATCH_ERRORS = (404, 409, 428)

ROUTES: list[ApiRoute] = [
    ApiRoute("GET", RECORD, list_records, "List records of a collection",
             response=RecordPage, query=_LIST_QUERY, errors=(404, 409, 422)),
    ApiRoute("POST", RECORD, create_record, "Create a record (201, ETag)", request=RecordWrite,
             response=Record, status=201, errors=_WRITE_ERRORS),
    ApiRoute("GET", ONE, get_record, "One record (ETag)", response=Record, errors=_DS_ERRORS),
    ApiRoute("PUT", ONE, update_record, "Update a record; If-Match required",
             request=RecordWrite, response=Record, headers=("If-Match",),
             errors=(*_WRITE_ERRORS, 428)),
    ApiRoute("DELETE", ONE, delete_record, "Delete a record; If-Match required",
             response=Record, headers=("If-Match",), errors=_IF_MATCH_ERRORS),
    ApiRoute("POST", ONE + "/post", post_record, "Post a voucher; If-Match required",
             response=Record, headers=("If-Match",), errors=(*_IF_MATCH_ERRORS, 422)),
    ApiRoute("POST", ONE + "/unpost", unpost_record, "Unpost a voucher; If-Match required",
             response=Record, headers=("If-Match",), errors=(*_IF_MATCH_ERRORS, 422)),
    ApiRoute("POST", ONE + "/resolve", resolve_record,
             "Settle a record in conflict or error: take_cloud, keep_local, merge, restore, "
             "discard, link_existing or rename",
             request=ResolveRequest, response=Record, errors=(*_DS_ERRORS, 422)),
    ApiRoute("GET", ONE + "/conflict", get_conflict,
             "A record in conflict: kind, clashing fields, base / local / cloud data, message "
             "(404 when it is not in conflict)", response=ConflictView, errors=_DS_ERRORS),
    ApiRoute("GET", "/datasets/{ds}/sync", sync_summary, "Connectivity and sync counts",
             response=SyncSummary, errors=_DS_ERRORS),
    ApiRoute("GET", "/datasets/{ds}/sync/issues", sync_issues,
             "Records in error, conflict or blocked, with reasons",
             response=IssuesResponse, errors=_DS_ERRORS),
    ApiRoute("POST", "/datasets/{ds}/sync", sync_now, "Sync this dataset now (202)",
             response=Accepted, status=202, errors=_DS_ERRORS),
]
