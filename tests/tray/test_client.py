"""The control API client against a fake node on 127.0.0.1, port 0."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from httpkit.control_client import ControlClient, ControlError, ControlFailure, Endpoint
from tests.tray.fake_node import FakeNode
from tests.tray.helpers import status_doc
from tray.viewmodel import parse_pairing

Serve = Callable[..., Awaitable[ControlClient]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[TestServer] = []
    session = aiohttp.ClientSession()

    async def start(node: FakeNode, token: str | None = None) -> ControlClient:
        server = TestServer(node.app(), host="127.0.0.1", port=0)
        await server.start_server()
        servers.append(server)
        base = str(server.make_url("/control/v1"))
        return ControlClient(session, Endpoint(base, token or node.token), "vi")

    yield start
    await session.close()
    for server in servers:
        await server.close()


async def _next(stream: Any) -> Any:
    return await asyncio.wait_for(anext(stream), 5)


async def test_status_with_the_token(serve: Serve) -> None:
    node = FakeNode()
    client = await serve(node)
    status = await client.status()
    assert status.is_online and status.datasets[0].id == "cty-abc"


async def test_wrong_token_is_unauthorized_not_down(serve: Serve) -> None:
    client = await serve(FakeNode(), token="stale")
    with pytest.raises(ControlError) as err:
        await client.status()
    assert err.value.reason is ControlFailure.UNAUTHORIZED


async def test_nothing_listening_is_not_running() -> None:
    async with aiohttp.ClientSession() as session:
        client = ControlClient(session, Endpoint("http://127.0.0.1:9/control/v1", "t"), "en")
        with pytest.raises(ControlError) as err:
            await client.status()
    assert err.value.reason is ControlFailure.NOT_RUNNING


async def test_actions_send_what_the_contract_says(serve: Serve) -> None:
    node = FakeNode()
    client = await serve(node)
    await client.set_online(False)
    await client.sync_now()
    pairing = parse_pairing(await client.pairing_code())
    assert pairing.code == "482913" and pairing.expires_at is not None
    assert node.calls == [("PUT", "/online", {"online": False}), ("POST", "/sync", None),
                          ("POST", "/pairing-code", None)]


async def test_refused_action_carries_the_nodes_message(serve: Serve) -> None:
    node = FakeNode()
    node.refuse_sync = True
    client = await serve(node)
    with pytest.raises(ControlError, match="Lỗi nội bộ") as err:
        await client.sync_now()
    assert err.value.reason is ControlFailure.REFUSED and err.value.message == "Lỗi nội bộ"


@pytest.mark.parametrize("nested", [False, True])
async def test_events_yield_current_then_pushed_statuses(serve: Serve, nested: bool) -> None:
    node = FakeNode(nested=nested)
    client = await serve(node)
    stream = client.events()
    assert (await _next(stream)).is_online  # GET /status
    assert (await _next(stream)).is_online  # first event on connect
    await node.push(status_doc("no_network", datasets={"a": {"pending": 3}}))
    pushed = await _next(stream)
    assert pushed.connectivity == "no_network" and pushed.totals.pending == 3
    await stream.aclose()


async def test_events_end_with_unavailable_when_the_node_goes_away(serve: Serve) -> None:
    node = FakeNode()
    client = await serve(node)
    stream = client.events()
    await _next(stream)
    await _next(stream)
    for ws in tuple(node.sockets):
        await ws.close()
    with pytest.raises(ControlError) as err:
        await _next(stream)
    assert err.value.reason is ControlFailure.NOT_RUNNING


async def test_polls_status_when_the_node_has_no_event_socket(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("httpkit.control_client.POLL_INTERVAL_S", 0.01)
    node = FakeNode(events=False)
    client = await serve(node)
    stream = client.events()
    await _next(stream)
    node.doc = status_doc("cloud_unavailable")
    for _ in range(500):  # bounded: ~5 s of polls at most
        if (await _next(stream)).connectivity == "cloud_unavailable":
            break
    else:
        pytest.fail("the polled status never changed")
    await stream.aclose()
