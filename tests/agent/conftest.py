"""Fixtures for the node's APIs: a node context on a temp data dir with a controlled clock,
the LAN and control apps behind the aiohttp test client, and a paired workstation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.app import NodeContext, build_context, create_control_app, create_lan_app
from agent.config import Config
from agent.runtime import read_control_token

DATASET = "cty-abc"

AppClient = TestClient[Any, Any]


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_config(data_dir: Path, **sections: Any) -> Config:
    raw: dict[str, Any] = {
        "node": {"name": "test-node", "data_dir": str(data_dir), "language": "vi"},
        "lan": {"host": "127.0.0.1", "port": 0, "max_body_mb": 0.05},
        "control": {"host": "127.0.0.1", "port": 0},
        "datasets": [{"id": DATASET}],
    }
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values} if isinstance(values, dict) else values
    return Config.model_validate(raw)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path / "node")


@pytest.fixture
async def ctx(config: Config, clock: FakeClock) -> AsyncIterator[NodeContext]:
    context = await build_context(config, clock=clock)
    yield context
    await context.close()


@pytest.fixture
async def lan(
    ctx: NodeContext, aiohttp_client: Callable[..., Awaitable[AppClient]]
) -> AppClient:
    return await aiohttp_client(create_lan_app(ctx))


@pytest.fixture
async def control(
    ctx: NodeContext, aiohttp_client: Callable[..., Awaitable[AppClient]]
) -> AppClient:
    app = create_control_app(ctx, status_interval=0.01)
    return await aiohttp_client(app)


@pytest.fixture
def control_headers(ctx: NodeContext, control: AppClient) -> dict[str, str]:
    return {"Authorization": "Bearer " + read_control_token(ctx.config.data_dir)}


async def pair_workstation(lan: AppClient, ctx: NodeContext, name: str = "ws-1") -> dict[str, Any]:
    code = ctx.pairing.issue_code().code
    resp = await lan.post("/api/v1/pair", json={"code": code, "name": name})
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


@pytest.fixture
async def auth(lan: AppClient, ctx: NodeContext) -> dict[str, str]:
    """Headers of a paired workstation."""
    answer = await pair_workstation(lan, ctx)
    return {"Authorization": "Bearer " + answer["token"]}


async def wait_subscribed(ctx: NodeContext, count: int, deadline_s: float = 5.0) -> None:
    """Wait until ``count`` bus subscribers exist (a WebSocket's server side is listening)."""
    async with asyncio.timeout(deadline_s):
        while ctx.bus.subscribers < count:  # noqa: ASYNC110 - no event to await on the bus
            await asyncio.sleep(0.01)
