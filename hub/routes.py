"""HTTP handlers of the hub API v1 (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import contextlib
import re

from aiohttp import web

from httpkit import bearer_token, json_response, read_json, read_model, request_lang, validate
from hub import history, keys
from hub.metrics import METRICS
from hub.records import DEFAULT_LIMIT
from protocol.accounting import ACCOUNTING_PACK
from protocol.errors import ErrorCode, ProtocolError
from protocol.i18n import Text
from protocol.models import (
    MAX_PUSH_OPS,
    SNAPSHOT_ROWS,
    UUID_PATTERN,
    DigestRequest,
    EnrollRequest,
    LeaseRequest,
    PushRequest,
)
from protocol.query import RecordQuery, parse_date
from protocol.version import PROTOCOL_VERSION
from protocol.wording import ID_EXAMPLE, invalid, wire_labeller

MAX_WAIT = 60.0
FALLBACK_POLL = 5.0  # re-check the feed even without a wake-up (lost NOTIFY, restarts)
MAX_LIMIT = 5000
_INTEGER = re.compile(r"-?[0-9]{1,19}")
_SECONDS = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,6})?")
SERIES = frozenset(
    prefix for schema in ACCOUNTING_PACK if schema.series
    for prefix in schema.series.prefixes.values()
)


def _invalid(name: str, vi: str, en: str) -> ProtocolError:
    """``VALIDATION_FAILED`` about one parameter, worded in both languages."""
    label = wire_labeller((name,))
    return invalid(name, f"{label.vi} {vi}", f"{label.en} {en}", "query")


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    value = int(raw) if _INTEGER.fullmatch(raw) else None
    if value is None or not low <= value <= high:
        raise _invalid(name, f"phải là số nguyên từ {low} đến {high}",
                       f"must be a whole number from {low} to {high}")
    return value


def _float_param(request: web.Request, name: str, high: float) -> float:
    raw = request.query.get(name) or "0"
    value = float(raw) if _SECONDS.fullmatch(raw) else -1.0
    if not 0 <= value <= 1e9:
        raise _invalid(name, "phải là số giây không âm, ví dụ 30 hoặc 2.5",
                       "must be a number of seconds, not negative, e.g. 30 or 2.5")
    return min(value, high)


async def health(request: web.Request) -> web.Response:
    return json_response({"service": "officesync-hub", "protocol": PROTOCOL_VERSION,
                          "min_protocol": request.app[keys.MIN_PROTOCOL]})


async def enroll(request: web.Request) -> web.Response:
    body = await read_model(request, EnrollRequest)
    node_id, token, datasets = await request.app[keys.STORE].enroll(body.code, body.node_name)
    return json_response({"node_id": node_id, "token": token, "datasets": datasets})


async def datasets(request: web.Request) -> web.Response:
    node = await request.app[keys.STORE].authenticate(bearer_token(request))
    return json_response({"datasets": sorted(node.datasets)})


async def push(request: web.Request) -> web.Response:
    obj = await read_json(request)
    ops = obj.get("ops") if isinstance(obj, dict) else None
    if isinstance(ops, list) and len(ops) > MAX_PUSH_OPS:
        raise ProtocolError(ErrorCode.PAYLOAD_TOO_LARGE, {"limit": f"{MAX_PUSH_OPS} ops"},
                            {"max_ops": MAX_PUSH_OPS, "ops": len(ops)})
    body = validate(PushRequest, obj)
    dataset = request.match_info["ds"]
    lang = request_lang(request)
    results = await request.app[keys.STORE].push(bearer_token(request), dataset, body.ops, lang)
    if any(r.applied and not r.replayed for r in results):
        request.app[keys.NOTIFIER].notify(dataset)
    request.app[METRICS].count_push(results)
    return json_response({"results": results})


async def changes(request: web.Request) -> web.Response:
    dataset = request.match_info["ds"]
    since = _int_param(request, "since", 0, 0, 2**62)
    limit = _int_param(request, "limit", 1000, 1, MAX_LIMIT)
    wait = _float_param(request, "wait", MAX_WAIT)
    store, notifier = request.app[keys.STORE], request.app[keys.NOTIFIER]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        woken = notifier.event(dataset)  # before the read: a commit after it sets this event
        page = await store.changes(bearer_token(request), dataset, since, limit)
        if page is not None:
            return json_response(page)
        remaining = deadline - loop.time()
        if remaining <= 0 or notifier.closing:
            return json_response({"changes": [], "last_seq": since, "has_more": False})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), min(remaining, FALLBACK_POLL))


async def snapshot(request: web.Request) -> web.Response:
    """The dataset's records in id order at their latest versions (a first download)."""
    after = request.query.get("after") or None
    if after is not None and not re.fullmatch(UUID_PATTERN, after):
        raise _invalid("after", "phải là mã định danh (id) của bản ghi cuối trang trước, dạng "
                       + ID_EXAMPLE, "must be the id of the last record of the page before, "
                       "such as " + ID_EXAMPLE)
    limit = _int_param(request, "limit", 1000, 1, MAX_LIMIT)
    form = request.query.get("form") or None
    if form is not None and form != SNAPSHOT_ROWS:
        raise _invalid("form", f"chỉ nhận '{SNAPSHOT_ROWS}' (hoặc bỏ trống)",
                       f"must be '{SNAPSHOT_ROWS}' (or left out)")
    page = await request.app[keys.STORE].snapshot(
        bearer_token(request), request.match_info["ds"], after, limit, form)
    return json_response(page)


async def get_record(request: web.Request) -> web.Response:
    m = request.match_info
    ACCOUNTING_PACK.get(m["collection"])
    record = await request.app[keys.STORE].get_record(
        bearer_token(request), m["ds"], m["collection"], m["id"]
    )
    return json_response(record)


async def list_records(request: web.Request) -> web.Response:
    m, q = request.match_info, request.query
    ACCOUNTING_PACK.get(m["collection"])
    key = q.get("key")
    query = RecordQuery(
        key=None if key is None else ACCOUNTING_PACK.get(m["collection"]).normalise_key(key),
        date_from=parse_date("date_from", q.get("date_from")),
        date_to=parse_date("date_to", q.get("date_to")), after=q.get("after"),
        limit=_int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
    )
    include_deleted = q.get("include_deleted", "").lower() in ("1", "true", "yes")
    page = await request.app[keys.STORE].list_records(
        bearer_token(request), m["ds"], m["collection"], query, include_deleted
    )
    return json_response(page)


async def digest(request: web.Request) -> web.Response:
    body = await read_model(request, DigestRequest)
    schema = ACCOUNTING_PACK.get(body.collection)
    if schema.date_field is None:
        raise invalid("collection", f"{schema.label.vi} không có trường ngày để so sánh theo "
                      "ngày", f"{schema.label.en} records have no date to compare by",
                      "no_date_field", collection=body.collection)
    date_from = parse_date("date_from", body.date_from)
    date_to = parse_date("date_to", body.date_to)
    assert date_from is not None and date_to is not None
    answer = await request.app[keys.STORE].digest(
        bearer_token(request), request.match_info["ds"], body.collection, date_from, date_to
    )
    return json_response(answer)


async def lease(request: web.Request) -> web.Response:
    body = await read_model(request, LeaseRequest)
    name = request.match_info["series"]
    if name not in SERIES:
        known = ", ".join(sorted(SERIES))
        raise ProtocolError(ErrorCode.NOT_FOUND,
                            {"what": Text(f"sổ đánh số {name}", f"Series {name}"),
                             "hint": Text(f". Các sổ có: {known}", f" The series are: {known}.")},
                            {"series": name, "known": sorted(SERIES)})
    answer = await request.app[keys.STORE].lease(
        bearer_token(request), request.match_info["ds"], name, body.count
    )
    return json_response(answer)


async def record_history(request: web.Request) -> web.Response:
    m = request.match_info
    ACCOUNTING_PACK.get(m["collection"])
    answer = await request.app[keys.STORE].read(
        history.authorized_history, bearer_token(request), m["ds"], m["collection"], m["id"])
    return json_response(answer)


def setup_routes(app: web.Application) -> None:
    ds = "/v1/datasets/{ds}"
    app.router.add_get("/v1/health", health)
    app.router.add_post("/v1/enroll", enroll)
    app.router.add_get("/v1/datasets", datasets)
    app.router.add_post(f"{ds}/push", push)
    app.router.add_get(f"{ds}/changes", changes)
    app.router.add_get(f"{ds}/snapshot", snapshot)
    app.router.add_get(f"{ds}/records/{{collection}}", list_records)
    app.router.add_get(f"{ds}/records/{{collection}}/{{id}}", get_record)
    app.router.add_get(f"{ds}/records/{{collection}}/{{id}}/history", record_history)
    app.router.add_post(f"{ds}/digest", digest)
    app.router.add_post(f"{ds}/series/{{series}}/lease", lease)
