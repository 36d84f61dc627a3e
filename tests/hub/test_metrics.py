"""The hub's GET /metrics: Prometheus text after real pushes, replays and refusals; behind its
token; label cardinality bounded by the route templates."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from hub import nodes
from hub.app import create_app
from hub.cli import hub
from tests.agent.sync.conftest import eventually
from tests.hub.conftest import ClientFactory, enroll
from tests.hub.helpers import DS, Node, admin, customer, make_code, new_id, op

TOKEN = "metrics-secret-0123456789"
PUSH_ROUTE = "/v1/datasets/{ds}/push"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: TestClient[Any, Any]) -> dict[tuple[str, frozenset[tuple[str, str]]],
                                                       float]:
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain")
    return samples(await response.text())


@pytest.fixture
def hub_db(db_url: str) -> str:
    """Both backends (the conftest's ``db_url``: SQLite, and PostgreSQL when reachable)."""
    for dataset in (DS, "cty-other"):
        admin(db_url, nodes.create_dataset, dataset)
    return db_url


@pytest.fixture
async def metrics_client(aiohttp_client: ClientFactory, hub_db: str) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(hub_db, metrics_token=TOKEN))


@pytest.fixture
async def office(metrics_client: TestClient[Any, Any], hub_db: str) -> Node:
    db_url = hub_db
    answer = await enroll(metrics_client, make_code(db_url, DS), "office-a")
    return Node(metrics_client, answer["token"], answer["node_id"])


async def test_push_counts_applied_replayed_and_refused_by_code(
        metrics_client: TestClient[Any, Any], office: Node) -> None:
    before = await scrape(metrics_client)
    a, b = op("create", "customers", new_id(), customer("KH001")), \
        op("create", "customers", new_id(), customer("KH002"))
    missing = op("update", "customers", new_id(), customer("KH003"), base=1)
    duplicate = op("create", "customers", new_id(), customer("KH001"))
    await office.push(a, b, missing, duplicate)
    await office.push(a, missing)  # both answered before: replayed, nothing applied
    after = await scrape(metrics_client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ops = "officesync_hub_push_ops_total"
    assert moved(ops, result="applied", code="") == 2
    assert moved(ops, result="rejected", code="NOT_FOUND") == 1
    assert moved(ops, result="rejected", code="DUPLICATE_KEY") == 1
    assert moved(ops, result="replayed", code="") == 1
    assert moved(ops, result="replayed", code="NOT_FOUND") == 1
    assert value(after, "officesync_hub_feed_last_seq", dataset=DS) == 2
    assert value(after, "officesync_hub_feed_last_seq", dataset="cty-other") == 0
    assert value(after, "officesync_hub_nodes", state="active") == 1
    count = "officesync_hub_request_duration_seconds_count"
    assert moved(count, route=PUSH_ROUTE, method="POST", status="2xx") == 2


async def test_metrics_need_the_token_and_are_off_without_one(
        metrics_client: TestClient[Any, Any], aiohttp_client: ClientFactory,
        tmp_path: Path) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = await metrics_client.get("/metrics", headers=headers)
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "UNAUTHORIZED"
    off = await aiohttp_client(create_app(f"sqlite:///{tmp_path}/off.db"))
    response = await off.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}",
                                                  "Accept-Language": "en"})
    body = await response.json()
    assert response.status == 403
    assert body["error"]["code"] == "FORBIDDEN"
    assert "--metrics-token-file" in body["error"]["details"]["reason"]


async def test_a_thousand_paths_make_one_series(metrics_client: TestClient[Any, Any]) -> None:
    headers = {"OfficeSync-Protocol": "1"}
    for i in range(1000):
        response = await metrics_client.get(f"/v1/scan/{i}", headers=headers)
        assert response.status == 404
    for i in range(50):  # real routes with different values: one template each
        response = await metrics_client.get(f"/v1/datasets/ds-{i}/changes", headers=headers)
        assert response.status == 401
    found = await scrape(metrics_client)
    series = {labels for name, labels in found
              if name == "officesync_hub_request_duration_seconds_count"}
    assert len(series) <= 5, series
    assert value(found, "officesync_hub_request_duration_seconds_count",
                 route="unmatched", method="GET", status="4xx") == 1000
    assert value(found, "officesync_hub_request_duration_seconds_count",
                 route="/v1/datasets/{ds}/changes", method="GET", status="4xx") == 50


async def test_active_long_polls(metrics_client: TestClient[Any, Any], office: Node) -> None:
    waiting = asyncio.create_task(office.changes(0, wait="10"))

    async def polls(n: float) -> bool:
        return value(await scrape(metrics_client), "officesync_hub_long_polls") == n

    await eventually(lambda: polls(1))
    await office.create("customers", customer("KH010"))
    page = await asyncio.wait_for(waiting, 10)
    assert len(page["changes"]) == 1
    await eventually(lambda: polls(0))
    found = await scrape(metrics_client)  # the long-poll's wait is not a request latency
    assert not any(name == "officesync_hub_request_duration_seconds_count"
                   and ("route", "/v1/datasets/{ds}/changes") in labels
                   for name, labels in found)


def test_serve_refuses_an_empty_or_missing_token_file(tmp_path: Path) -> None:
    empty = tmp_path / "token"
    empty.write_text("\n")
    db = f"sqlite:///{tmp_path}/hub.db"
    for path in (empty, tmp_path / "missing"):
        result = CliRunner().invoke(hub, ["serve", "--db", db, "--port", "0", "--lang", "en",
                                          "--metrics-token-file", str(path)])
        assert result.exit_code == 2, result.output
        assert "Cannot read the metrics token (--metrics-token-file)" in result.output
        assert "Traceback" not in result.output
