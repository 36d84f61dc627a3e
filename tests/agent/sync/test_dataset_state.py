"""A dataset the hub does not have or does not grant shows ``refused`` with the hub's code in
every API, and syncs by itself once granted (issue 8, defect 3); "sync now" says why it
cannot sync (defect 12)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from agent.app import NodeContext, build_context, create_control_app, create_lan_app
from agent.cloud.client import HubClient
from agent.config import CloudSection
from agent.events import EventType, Subscription
from agent.runtime import read_control_token
from agent.sync.api import SyncControl
from agent.sync.engine import SyncEngine
from hub import nodes
from hub.db import grants
from hub.store import HubStore
from tests.agent.conftest import make_config, pair_workstation
from tests.agent.sync.conftest import DS, Hub, eventually
from tests.hub.helpers import admin, make_code

NOT_GRANTED = "cty-chua-cap"   # exists on the hub, not granted to this node
MISSING = "cty-khong-co"       # does not exist on the hub at all

AppClient = TestClient[Any, Any]


def _grant(db_url: str, node_id: str, dataset: str) -> None:
    def run(conn: sa.Connection) -> None:
        nodes.create_dataset(conn, dataset)
        conn.execute(grants.insert().values(node_id=node_id, dataset=dataset))

    store = HubStore(db_url)
    try:
        store.transaction(run, write=True)
    finally:
        store.engine.dispose()


@pytest.fixture
async def node(tmp_path: Path, hub: Hub
               ) -> AsyncIterator[tuple[NodeContext, str, str, Subscription]]:
    admin(hub.db_url, nodes.create_dataset, NOT_GRANTED)
    enroller = HubClient(hub.url)
    try:
        enrolled = await enroller.enroll(make_code(hub.db_url, DS), "office-a")
    finally:
        await enroller.close()
    config = make_config(tmp_path / "node", datasets=[{"id": DS}, {"id": NOT_GRANTED},
                                                       {"id": MISSING}])

    followed: list[Subscription] = []

    async def factory(ctx: NodeContext) -> SyncControl:
        for store in ctx.stores.connected():
            store.local_numbering = False
        engine = SyncEngine(
            ctx.stores, ctx.node_db, ctx.bus, HubClient(hub.url, enrolled.token, timeout=5),
            CloudSection(probe_interval_s=0.1, probe_timeout_s=1.0, batch_size=50,
                         long_poll_s=0.5, max_backoff_s=0.2),
            hub_node_id=enrolled.node_id, online=True)
        # Follow the bus from before the engine's first call, so the test sees every sync
        # event the engine ever publishes (a subscription taken later missed the first
        # "refused" about one run in five).
        followed.append(ctx.bus.subscribe(types={EventType.SYNC}))
        await engine.start()
        ctx.on_close.append(engine.stop)
        return engine

    ctx = await build_context(config, sync_factory=factory)
    yield ctx, enrolled.node_id, enrolled.token, followed[0]
    await ctx.close()


@pytest.fixture
async def apis(
    node: tuple[NodeContext, str, str, Subscription],
    aiohttp_client: Callable[..., Awaitable[AppClient]],
) -> tuple[AppClient, AppClient, dict[str, str], dict[str, str]]:
    ctx = node[0]
    control = await aiohttp_client(create_control_app(ctx, status_interval=0.01))
    lan = await aiohttp_client(create_lan_app(ctx))
    token = (await pair_workstation(lan, ctx))["token"]
    return (control, lan, {"Authorization": "Bearer " + read_control_token(ctx.config.data_dir)},
            {"Authorization": "Bearer " + token, "Accept-Language": "en"})


async def _status(control: AppClient, headers: dict[str, str]) -> dict[str, Any]:
    return {d["id"]: d["sync"] for d in
            (await (await control.get("/control/v1/status", headers=headers)).json())["datasets"]}


async def test_a_refused_dataset_shows_everywhere_then_syncs_by_itself_once_granted(
    node: tuple[NodeContext, str, str, Subscription], hub: Hub,
    apis: tuple[AppClient, AppClient, dict[str, str], dict[str, str]],
) -> None:
    ctx, node_id, token, sync_events = node
    control, lan, control_auth, ws_auth = apis
    events = sync_events
    writes = {ds: await ctx.stores.get(ds).create("customers", {"code": "KH1", "name": ds})
              for ds in (DS, NOT_GRANTED, MISSING)}

    async def refused() -> bool:
        shown = await _status(control, control_auth)
        return shown[NOT_GRANTED]["state"] == shown[MISSING]["state"] == "refused"

    await eventually(refused, 10)
    shown = await _status(control, control_auth)
    assert shown[DS] == {"state": "ok", "code": None, "message": None}
    assert shown[NOT_GRANTED]["code"] == "FORBIDDEN"
    assert shown[MISSING]["code"] == "DATASET_NOT_FOUND"
    for state in (shown[NOT_GRANTED], shown[MISSING]):
        assert "Ask the hub administrator to grant this dataset" in state["message"]["en"]
        assert "re-enroll" in state["message"]["en"]
        assert "quản trị viên Cloud cấp dữ liệu này" in state["message"]["vi"]

    summary = await (await lan.get(f"/api/v1/datasets/{NOT_GRANTED}/sync",
                                   headers=ws_auth)).json()
    assert (summary["state"], summary["code"]) == ("refused", "FORBIDDEN")
    assert summary["message"] == shown[NOT_GRANTED]["message"]
    assert summary["counts"]["pending"] == 1
    issues = await (await lan.get(f"/api/v1/datasets/{MISSING}/sync/issues",
                                  headers=ws_auth)).json()
    assert issues["dataset"] == shown[MISSING]
    ok_issues = await (await lan.get(f"/api/v1/datasets/{DS}/sync/issues",
                                     headers=ws_auth)).json()
    assert "dataset" not in ok_issues

    # The hub admin grants both (and creates the missing one): no restart, no click.
    await asyncio.to_thread(_grant, hub.db_url, node_id, MISSING)
    await asyncio.to_thread(
        lambda: admin(hub.db_url, lambda c: c.execute(
            grants.insert().values(node_id=node_id, dataset=NOT_GRANTED))))

    async def all_synced() -> bool:
        shown = await _status(control, control_auth)
        if any(s["state"] != "ok" for s in shown.values()):
            return False
        for ds, record in writes.items():
            if (await ctx.stores.get(ds).get("customers", record.id)).sync.state != "synced":
                return False
        return True

    await eventually(all_synced, 10)
    reader = HubClient(hub.url, token)
    try:
        for ds, record in writes.items():  # the pending writes reached the hub
            on_hub = await reader.get_record(ds, "customers", record.id)
            assert on_hub is not None and on_hub.data is not None
            assert on_hub.data["name"] == ds
    finally:
        await reader.close()

    events.close()
    states = [(event["dataset"], event["sync"]["state"]) async for event in events
              if event.get("type") == "sync" and "sync" in event]
    for ds in (NOT_GRANTED, MISSING):  # published live, each change once
        assert [s for d, s in states if d == ds] == ["refused", "ok"]


# --- "sync now" that cannot sync -----------------------------------------------------------


@pytest.mark.parametrize(("cloud", "online", "code"), [
    ({}, True, "NOT_CONFIGURED"),
    ({}, False, "OFFLINE_BY_USER"),
    ({"url": "http://127.0.0.1:9"}, True, "NOT_ENROLLED"),
    ({"url": "http://127.0.0.1:9"}, False, "OFFLINE_BY_USER"),
])
async def test_sync_now_says_why_nothing_can_sync(
    tmp_path: Path, aiohttp_client: Callable[..., Awaitable[AppClient]],
    cloud: dict[str, str], online: bool, code: str,
) -> None:
    config = make_config(tmp_path / "n", **({"cloud": cloud} if cloud else {}))
    ctx = await build_context(config)
    try:
        await ctx.sync.set_online(online)
        control = await aiohttp_client(create_control_app(ctx))
        lan = await aiohttp_client(create_lan_app(ctx))
        token = (await pair_workstation(lan, ctx))["token"]
        answer = await control.post("/control/v1/sync", headers={
            "Authorization": "Bearer " + read_control_token(config.data_dir),
            "Accept-Language": "vi"})
        assert answer.status == 409
        error = (await answer.json())["error"]
        assert error["code"] == code
        if code == "OFFLINE_BY_USER":
            assert error["message"] == (
                "Máy chủ đang làm việc offline theo lựa chọn của người dùng: bật \"Làm việc "
                "online\" (officesync online) để đồng bộ")
        for lang, words in (("vi", "officesync"), ("en", "officesync")):
            answer = await lan.post(f"/api/v1/datasets/{DS}/sync", headers={
                "Authorization": "Bearer " + token, "Accept-Language": lang})
            assert answer.status == 409
            error = (await answer.json())["error"]
            assert error["code"] == code and words in error["message"]
        assert "Work online" in error["message"] or code != "OFFLINE_BY_USER"
    finally:
        await ctx.close()
