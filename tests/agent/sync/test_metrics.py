"""The node's GET /metrics on the control port after real pushes, refusals and pulls against an
in-process hub: counters move by what happened, the queue and the feed lag are read from the
store, the LAN latency is labelled by route template (bounded), JSON log lines carry the
dataset."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from agent.app import NodeContext, build_context, create_control_app, create_lan_app
from agent.cli import setup_logging
from agent.cloud.client import HubClient
from agent.config import CloudSection, LogSection
from agent.logs import dataset_log
from agent.metrics import workers_of
from agent.runtime import read_control_token
from agent.selfcheck import SETTING as SELFCHECK
from agent.store.node import Job
from agent.sync.api import SyncControl
from agent.sync.engine import SyncEngine
from protocol.models import Action, Op
from tests.agent.conftest import make_config, pair_workstation
from tests.agent.sync.conftest import DS, Hub, eventually
from tests.hub.helpers import make_code

AppClient = TestClient[Any, Any]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


async def _enroll(hub: Hub, name: str) -> tuple[str, str]:
    enroller = HubClient(hub.url)
    try:
        answer = await enroller.enroll(make_code(hub.db_url, DS), name)
    finally:
        await enroller.close()
    return answer.node_id, answer.token


@pytest.fixture
async def node(tmp_path: Path, hub: Hub) -> AsyncIterator[NodeContext]:
    """A node enrolled with the hub, the user's toggle off: the test drives its worker."""
    node_id, token = await _enroll(hub, "office-a")

    async def factory(ctx: NodeContext) -> SyncControl:
        for store in ctx.stores.connected():
            store.local_numbering = False
        engine = SyncEngine(
            ctx.stores, ctx.node_db, ctx.bus, HubClient(hub.url, token, timeout=5),
            CloudSection(probe_interval_s=0.1, probe_timeout_s=1.0, batch_size=50,
                         long_poll_s=0.5, max_backoff_s=0.2),
            hub_node_id=node_id, online=False)
        await engine.start()
        ctx.on_close.append(engine.stop)
        return engine

    ctx = await build_context(make_config(tmp_path / "node", datasets=[{"id": DS}]),
                              sync_factory=factory)
    yield ctx
    await ctx.close()


@pytest.fixture
async def control(node: NodeContext,
                  aiohttp_client: Callable[..., Awaitable[AppClient]]) -> AppClient:
    return await aiohttp_client(create_control_app(node, status_interval=0.01))


async def scrape(control: AppClient, ctx: NodeContext) -> Samples:
    token = read_control_token(ctx.config.data_dir)
    response = await control.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain")
    return parse(await response.text())


async def test_counters_queue_and_feed_lag_follow_real_syncs(
        node: NodeContext, control: AppClient, hub: Hub) -> None:
    store = node.stores.get(DS)
    worker = workers_of(node)[DS]
    await worker.catch_up(await store.cursor(), wait=0.0)  # the feed is empty: cursor 0
    # Another office pushes KH9 that this node has not pulled: this node's KH9 is refused.
    other = HubClient(hub.url, (await _enroll(hub, "office-b"))[1], timeout=5)
    try:
        [first] = await other.push(DS, [Op(op_id="00000000-0000-4000-8000-000000000001",
                                           collection="customers",
                                           id="00000000-0000-4000-8000-0000000000aa",
                                           action=Action.CREATE,
                                           data={"code": "KH9", "name": "Office B"})])
        assert first.seq == 1
    finally:
        await other.close()

    for code in ("KH1", "KH2", "KH3", "KH9"):
        await store.create("customers", {"code": code, "name": f"Khách {code}"})
    found = await scrape(control, node)
    assert value(found, "officesync_node_queue_ops", dataset=DS) == 4
    assert value(found, "officesync_node_queue_failed_ops", dataset=DS) == 0
    age = value(found, "officesync_node_queue_oldest_age_seconds", dataset=DS)
    assert age is not None and 0 <= age < 60
    assert value(found, "officesync_node_ops_pushed_total", dataset=DS) == 0
    assert value(found, "officesync_node_connectivity", state="offline_by_user") == 1
    assert value(found, "officesync_node_connectivity", state="online") == 0
    assert value(found, "officesync_node_online") == 0
    assert value(found, "officesync_node_selfcheck_state", dataset=DS, state="never") == 1

    assert await worker.drain() == 4
    found = await scrape(control, node)
    assert value(found, "officesync_node_ops_pushed_total", dataset=DS) == 3
    assert value(found, "officesync_node_ops_refused_total", dataset=DS,
                 code="DUPLICATE_KEY") == 1
    assert value(found, "officesync_node_queue_ops", dataset=DS) == 1  # the refused one stays
    assert value(found, "officesync_node_queue_failed_ops", dataset=DS) == 1
    assert value(found, "officesync_node_queue_oldest_age_seconds", dataset=DS) == 0
    # The hub answered seqs 2..4; this node's feed cursor is still 0.
    assert value(found, "officesync_node_feed_cursor", dataset=DS) == 0
    assert value(found, "officesync_node_feed_hub_seq", dataset=DS) == 4
    assert value(found, "officesync_node_feed_lag", dataset=DS) == 4

    await worker.catch_up(await store.cursor(), wait=0.0)
    found = await scrape(control, node)
    assert value(found, "officesync_node_changes_pulled_total", dataset=DS) == 4
    assert value(found, "officesync_node_feed_cursor", dataset=DS) == 4
    assert value(found, "officesync_node_feed_lag", dataset=DS) == 0

    await node.sync.set_online(True)

    async def online() -> bool:
        shown = await scrape(control, node)
        return value(shown, "officesync_node_connectivity", state="online") == 1

    await eventually(online)


async def test_metrics_need_the_control_token(node: NodeContext, control: AppClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}):
        response = await control.get("/metrics", headers=headers)
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "UNAUTHORIZED"


async def test_lan_latency_is_by_route_template_and_bounded(
        node: NodeContext, control: AppClient,
        aiohttp_client: Callable[..., Awaitable[AppClient]]) -> None:
    lan = await aiohttp_client(create_lan_app(node))
    auth = {"Authorization": "Bearer " + (await pair_workstation(lan, node))["token"]}
    for i in range(1000):
        response = await lan.get(f"/api/v1/nothing-{i}", headers=auth)
        assert response.status == 404
    customer = await node.stores.get(DS).create("customers", {"code": "KH1", "name": "A"})
    for _ in range(3):
        response = await lan.get(f"/api/v1/datasets/{DS}/records/customers/{customer.id}",
                                 headers=auth)
        assert response.status == 200
    found = await scrape(control, node)
    name = "officesync_node_lan_request_duration_seconds_count"
    series = [labels for key, labels in found if key == name]
    assert len(series) <= 5, series
    assert value(found, name, route="unmatched", method="GET", status="4xx") == 1000
    assert value(found, name, route="/api/v1/datasets/{ds}/records/{collection}/{id}",
                 method="GET", status="2xx") == 3


def test_json_log_lines_parse_and_carry_the_dataset(tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    path = tmp_path / "node.log"
    try:
        setup_logging(LogSection(file=path, format="json", level="INFO"))
        dataset_log(logging.getLogger("officesync.sync"), DS).warning("push %s", "failed")
        logging.getLogger("officesync.node").info("ready", extra={"dataset": None})
        try:
            raise OSError("disk full")
        except OSError:
            logging.getLogger("officesync.store").exception("write failed",
                                                            extra={"dataset": "cty-b"})
        for handler in root.handlers:
            handler.flush()
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 3
    assert {k: lines[0][k] for k in ("level", "logger", "message", "dataset")} == {
        "level": "WARNING", "logger": "officesync.sync", "message": "push failed",
        "dataset": DS}
    assert lines[0]["time"].endswith("Z")
    assert "dataset" not in lines[1]
    assert lines[2]["dataset"] == "cty-b"
    assert "OSError: disk full" in lines[2]["exception"]


def test_log_format_is_line_or_json() -> None:
    assert LogSection().format == "line"
    with pytest.raises(ValidationError):
        LogSection.model_validate({"format": "xml"})


async def test_job_progress_and_selfcheck_result(node: NodeContext, control: AppClient) -> None:
    await node.node_db.save_job(Job(id="job-1", dataset=DS, kind="download", state="running",
                                    done=420, total=1000, created_at="2026-12-02T04:00:00Z"))
    await node.node_db.save_job(Job(id="job-0", dataset=DS, kind="maintenance", state="done",
                                    done=5, total=5, created_at="2026-12-01T04:00:00Z"))
    await node.node_db.set_setting(SELFCHECK.format(dataset=DS), {
        "state": "repaired", "checked_at": "2026-12-02T03:00:00+00:00", "full": False})
    found = await scrape(control, node)
    assert value(found, "officesync_node_job_active", dataset=DS, kind="download",
                 state="running") == 1
    assert value(found, "officesync_node_job_items_done", dataset=DS, kind="download") == 420
    assert value(found, "officesync_node_job_items_expected", dataset=DS,
                 kind="download") == 1000
    assert value(found, "officesync_node_job_items_done", dataset=DS,
                 kind="maintenance") is None  # a finished job is not shown
    assert value(found, "officesync_node_selfcheck_state", dataset=DS, state="repaired") == 1
    assert value(found, "officesync_node_selfcheck_state", dataset=DS, state="never") == 0
    assert value(found, "officesync_node_selfcheck_checked_timestamp_seconds",
                 dataset=DS) == 1796180400.0


async def test_the_search_backlog_after_a_first_download(node: NodeContext,
                                                         control: AppClient) -> None:
    store = node.stores.get(DS)
    assert value(await scrape(control, node), "officesync_node_search_backlog_records",
                 dataset=DS) == 0
    store.search_backlog = 420_000  # as a first download's end leaves it
    assert value(await scrape(control, node), "officesync_node_search_backlog_records",
                 dataset=DS) == 420_000
