"""The LAN events WebSocket: authenticated, forwards bus events, closes with a reason."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from agent.app import NodeContext
from tests.agent.conftest import DATASET, AppClient, wait_subscribed

DEADLINE_S = 5.0


async def next_event(ws: aiohttp.ClientWebSocketResponse, type_: str) -> dict[str, Any]:
    async with asyncio.timeout(DEADLINE_S):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            event = msg.json()
            if event["type"] == type_:
                return dict(event)


async def test_record_event_after_create(
    lan: AppClient, ctx: NodeContext, auth: dict[str, str]
) -> None:
    base = ctx.bus.subscribers
    async with lan.ws_connect("/api/v1/events", headers=auth) as ws:
        await wait_subscribed(ctx, base + 1)
        resp = await lan.post(f"/api/v1/datasets/{DATASET}/records/customers", headers=auth,
                              json={"data": {"code": "KH001", "name": "A"}})
        created = await resp.json()
        event = await next_event(ws, "record")
        assert event["dataset"] == DATASET and event["record"]["id"] == created["id"]


async def test_browser_token_in_query(
    lan: AppClient, ctx: NodeContext, auth: dict[str, str]
) -> None:
    token = auth["Authorization"].removeprefix("Bearer ")
    base = ctx.bus.subscribers
    async with lan.ws_connect(f"/api/v1/events?token={token}") as ws:
        await wait_subscribed(ctx, base + 1)
        await ctx.sync.set_online(False)
        event = await next_event(ws, "connectivity")
        assert event["connectivity"] == "offline_by_user" and event["online"] is False


@pytest.mark.parametrize("query", ["", "?token=wrong"])
async def test_unpaired_socket_is_refused(lan: AppClient, query: str) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await lan.ws_connect("/api/v1/events" + query)
    assert err.value.status == 401


async def test_shutdown_closes_with_reason(
    lan: AppClient, ctx: NodeContext, auth: dict[str, str]
) -> None:
    ws = await lan.ws_connect("/api/v1/events", headers=auth)
    await wait_subscribed(ctx, 1)
    await lan.app.shutdown()
    async with asyncio.timeout(DEADLINE_S):
        msg = await ws.receive()
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert msg.data == 1001 and msg.extra == "node shutting down"
    await ws.close()
