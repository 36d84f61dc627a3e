"""XML export and import of a dataset (docs/xml.md, docs/lan-api.md).

``GET /datasets/{ds}/export`` streams the document (``application/xml``, an attachment);
``POST /datasets/{ds}/import`` takes one as its body and answers the per-record report. The
same two handlers serve the control API (``/control/v1/datasets/{ds}/export|import``) for
``officesync export|import`` on the node's own machine: there the body limit is ``[inbox]
max_file_mb``, on the LAN ``[lan] max_body_mb``.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from aiohttp import web

from agent import keys, xmlio
from agent.lan_api.spec import ApiRoute, QueryParam
from agent.store import DatasetStore
from httpkit import json_response
from protocol.errors import ErrorCode, ProtocolError
from protocol.local import CONTROL_PREFIX

MIB = 1024 * 1024
XML_TYPES = frozenset({"application/xml", "text/xml", "application/octet-stream", ""})
# Marks the control app: its import limit is the inbox's file limit.
FILE_LIMIT: web.AppKey[bool] = web.AppKey("xml_file_limit")


def _store(request: web.Request) -> DatasetStore:
    return request.app[keys.STORES].get(request.match_info["ds"])


async def export_dataset(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    q = request.query
    scope, date_from, date_to = xmlio.check_scope(q.get("scope"), q.get("date_from"),
                                                  q.get("date_to"))
    node = request.app[keys.CONTEXT].config.node.name
    chunks = xmlio.export_chunks(store, scope, date_from, date_to, node=node)
    first = await anext(chunks)  # a refusal still gets its error answer, before any header
    day = dt.date.today().isoformat()
    name = f"{store.dataset_id}-{scope}-{day}.xml"
    response = web.StreamResponse(headers={
        "Content-Type": f"{xmlio.CONTENT_TYPE}; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{name}"',
    })
    await response.prepare(request)
    await response.write(first)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


def _limit(request: web.Request) -> int:
    config = request.app[keys.CONTEXT].config
    mb = config.inbox.max_file_mb if request.app.get(FILE_LIMIT) else config.lan.max_body_mb
    return int(mb * MIB)


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The body, refused with ``PAYLOAD_TOO_LARGE`` past ``limit`` (by its Content-Length
    before reading, else by its size)."""
    if request.content_type not in XML_TYPES:
        raise ProtocolError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, {"expected": xmlio.CONTENT_TYPE},
                            {"expected": xmlio.CONTENT_TYPE, "received": request.content_type})
    if request.content_length is not None and request.content_length > limit:
        raise xmlio.too_large(limit)
    # The listener's body-timeout middleware has read it already, bounded by the app's
    # client_max_size (aiohttp's 413, worded by the error middleware); read() returns it.
    body = await request.read()
    if len(body) > limit:
        raise xmlio.too_large(limit)
    return body


async def import_dataset(request: web.Request) -> web.Response:
    store = _store(request)
    duplicates = xmlio.check_duplicates(request.query.get("duplicates"))
    limit = _limit(request)
    body = await _read_body(request, limit)
    parsed = await asyncio.to_thread(xmlio.parse_chunks, [body], store.registry, limit)
    report = await xmlio.import_file(store, parsed, duplicates)
    return json_response(report)


_EXPORT_QUERY = (
    QueryParam("scope", "pending (records with queued changes, the default) or range"),
    QueryParam("date_from", "first date (YYYY-MM-DD), scope=range",
               {"type": "string", "format": "date"}),
    QueryParam("date_to", "last date (YYYY-MM-DD), scope=range",
               {"type": "string", "format": "date"}),
)
_IMPORT_QUERY = (
    QueryParam("duplicates", "skip (the default) or renumber: a voucher whose number the "
               "dataset has"),
)

ROUTES: list[ApiRoute] = [
    ApiRoute("GET", "/datasets/{ds}/export", export_dataset,
             "Export records as an XML file (application/xml attachment, docs/xml.md)",
             query=_EXPORT_QUERY, errors=(404, 409, 422)),
    ApiRoute("POST", "/datasets/{ds}/import", import_dataset,
             "Import an XML file (application/xml body): the per-record report",
             response=xmlio.ImportReport, query=_IMPORT_QUERY,
             errors=(404, 408, 409, 413, 415, 422)),
]


def setup_control_xml(app: web.Application) -> None:
    """The same routes on the control API, for ``officesync export|import``."""
    app[FILE_LIMIT] = True
    app.router.add_get(CONTROL_PREFIX + "/datasets/{ds}/export", export_dataset)
    app.router.add_post(CONTROL_PREFIX + "/datasets/{ds}/import", import_dataset)
