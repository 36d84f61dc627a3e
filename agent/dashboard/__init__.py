"""The node's web dashboard: one static page (HTML, JS, CSS; no build step, nothing from a CDN)
served on the LAN port at ``/`` and ``/static/<file>``.

Only these files are public. The page holds no data: it pairs like any workstation
(``POST /api/v1/pair``) and reads everything from the authenticated LAN API and its event
WebSocket. The LAN app's auth middleware guards every route it does not know to be public, so
:func:`setup_dashboard` puts a small middleware in front that answers the dashboard's own
routes (and nothing else) before authentication.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from agent.dashboard.texts import texts_document
from httpkit import error_response
from protocol.errors import ErrorCode, ProtocolError
from protocol.i18n import Text

STATIC_DIR = Path(__file__).parent / "static"

# The files served, with their exact content types (independent of the OS's mime tables).
STATIC_FILES: dict[str, str] = {
    "index.html": "text/html",
    "api.js": "text/javascript",
    "app.js": "text/javascript",
    "issues.js": "text/javascript",
    "record.js": "text/javascript",
    "admin.js": "text/javascript",
    "style.css": "text/css",
    "texts.json": "application/json",  # made from agent/dashboard/texts.py, not a file
}

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

PAGES = web.AppKey("dashboard_pages", dict)
ROUTE_NAMES = frozenset({"dashboard", "dashboard-static"})


def load_pages(directory: Path = STATIC_DIR) -> dict[str, bytes]:
    """The dashboard's files, read once (a few tens of KB), and its texts in both languages."""
    pages = {name: (directory / name).read_bytes()
             for name in STATIC_FILES if name != "texts.json"}
    pages["texts.json"] = orjson.dumps(texts_document())
    return pages


def _file_response(request: web.Request, name: str) -> web.Response:
    body = request.app[PAGES].get(name)
    if body is None:
        what = Text(f"tệp {name}", f"File {name}")
        raise ProtocolError(ErrorCode.NOT_FOUND, {"what": what}, {"path": request.path})
    return web.Response(body=body, content_type=STATIC_FILES[name], charset="utf-8",
                        headers=SECURITY_HEADERS)


async def index(request: web.Request) -> web.Response:
    return _file_response(request, "index.html")


async def static_file(request: web.Request) -> web.Response:
    return _file_response(request, request.match_info["name"])


@web.middleware
async def public_dashboard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Serve the dashboard's routes without a token; every other request goes on as usual."""
    route = request.match_info.route
    if request.match_info.http_exception is None and route.name in ROUTE_NAMES:
        try:
            return await route.handler(request)
        except ProtocolError as err:  # the same JSON error body as the API's
            return error_response(request, err)
    return await handler(request)


def setup_dashboard(app: web.Application) -> None:
    """Register ``GET /`` and ``GET /static/{name}`` on the LAN app (call after the API)."""
    app[PAGES] = load_pages()
    app.router.add_get("/", index, name="dashboard")
    app.router.add_get("/static/{name}", static_file, name="dashboard-static")
    app.middlewares.insert(0, public_dashboard)
