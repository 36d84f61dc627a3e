"""Control routes of the node's admin tools: connect / disconnect a dataset (S3) and the
diagnostics bundle (S12). docs/control-api.md."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler

from agent import keys
from agent.config import Config
from agent.datasets_admin import outcome, set_connected
from agent.lifecycle import apply_config
from httpkit import json_response
from protocol.errors import ErrorCode, ProtocolError

if TYPE_CHECKING:
    from agent.app import NodeContext

APPLY_WAIT_S = 10.0


async def _apply(ctx: NodeContext, new: Config, dataset_id: str, connected: bool) -> None:
    """Have the running node apply the edited file now (not at the watcher's next event), and
    wait, bounded, until the dataset is open or closed as asked."""
    watcher = ctx.config_watcher
    if watcher is not None:
        await watcher.reload()
    else:  # a node built without its watcher (tests): apply the same way the watcher does
        await apply_config(ctx, ctx.config.model_copy(deep=True), new)
    deadline = time.monotonic() + APPLY_WAIT_S
    while time.monotonic() < deadline:
        hosted = {d for d, is_open in ctx.stores.hosted() if is_open}
        if (dataset_id in hosted) is connected:
            return
        await asyncio.sleep(0.05)
    raise ProtocolError(ErrorCode.UNAVAILABLE, details={"reason": "config_not_applied",
                                                        "dataset": dataset_id})


def _change(connected: bool) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        ctx = request.app[keys.CONTEXT]
        dataset_id = request.match_info["id"]
        source = ctx.config.source
        if source is None:
            raise ProtocolError(ErrorCode.UNAVAILABLE, details={"reason": "no_config_file"})
        new = await asyncio.to_thread(set_connected, source, dataset_id, connected)
        await _apply(ctx, new, dataset_id, connected)
        done = await asyncio.to_thread(outcome, ctx.config, dataset_id, connected)
        return json_response(done.as_json())

    return handler


async def diagnostics(request: web.Request) -> web.Response:
    from agent.diagnostics import build_bundle, bundle_name

    data = await build_bundle(request.app)
    return web.Response(body=data, content_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{bundle_name()}"'})


def setup_admin_routes(app: web.Application, prefix: str) -> None:
    app.router.add_post(prefix + "/datasets/{id}/connect", _change(True))
    app.router.add_post(prefix + "/datasets/{id}/disconnect", _change(False))
    app.router.add_get(prefix + "/diagnostics", diagnostics)
