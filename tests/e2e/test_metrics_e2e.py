"""Monitoring with real processes: ``officesync hub serve --metrics-token-file … --log-format
json`` and a node with ``[log] format = "json"``; Prometheus scrapes both ``/metrics`` with
their tokens after a workstation's writes sync, and every log line is one JSON object (a
line about one dataset names it as a field)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.agent.sync.conftest import eventually
from workstation.client import WorkstationClient

from .hub_procs import HubProcess, enroll_node
from .procs import NO_KEYRING, NodeProcess, free_port, write_node_config

pytestmark = pytest.mark.e2e
DS = "cty-abc"
NOT_GRANTED = "cty-other"  # on the hub, not granted to the node: its worker logs a refusal
HUB_TOKEN = "hub-metrics-token-for-prometheus"
FAST_CLOUD = {"probe_interval_s": 0.3, "probe_timeout_s": 2, "max_backoff_s": 1,
              "long_poll_s": 5, "batch_size": 100}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class MonitoredHub(HubProcess):
    def __init__(self, db_url: str, port: int, log_dir: Path, token_file: Path,
                 env: Mapping[str, str]) -> None:
        super().__init__(db_url, port, log_dir, env=env)
        self.args = [*self.args, "--metrics-token-file", str(token_file), "--log-format", "json"]


def scrape(url: str, token: str) -> Samples:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = answer.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def pairing_code(node: NodeProcess) -> str:
    request = urllib.request.Request(f"{node.control_url}/control/v1/pairing-code",
                                     method="POST",
                                     headers={"Authorization": f"Bearer {node.control_token()}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(json.loads(answer.read())["code"])


def json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    token_file = tmp_path / "hub-metrics.token"
    token_file.write_text(HUB_TOKEN + "\n")
    proc = MonitoredHub(f"sqlite:///{tmp_path}/hub.db", free_port(), tmp_path / "logs",
                        token_file, NO_KEYRING)
    proc.create_dataset(DS)
    proc.create_dataset(NOT_GRANTED)
    proc.start()
    yield proc
    proc.kill()


@pytest.fixture
def node(tmp_path: Path, hub: HubProcess) -> Iterator[NodeProcess]:
    config = write_node_config(tmp_path, name="office-a", datasets=[DS, NOT_GRANTED],
                               cloud_url=hub.url, cloud=FAST_CLOUD, log={"format": "json"})
    enroll_node(config, hub, hub.enroll_code(DS), NO_KEYRING)
    proc = NodeProcess(config, env=NO_KEYRING)
    proc.start()
    yield proc
    proc.kill()


async def test_both_metrics_after_real_sync_and_json_logs(hub: HubProcess,
                                                          node: NodeProcess) -> None:
    control_token = node.control_token()
    code = pairing_code(node)
    ws = WorkstationClient(node.lan_url, language="en")
    try:
        ws.token = (await ws.pair(code, "ws-1")).token
        for n in range(3):
            await ws.create(DS, "customers", {"code": f"KH{n}", "name": f"Khách {n}"})
    finally:
        await ws.close()

    node_metrics = f"{node.control_url}/metrics"

    async def node_synced() -> bool:
        found = scrape(node_metrics, control_token)
        return (value(found, "officesync_node_ops_pushed_total", dataset=DS) == 3
                and value(found, "officesync_node_queue_ops", dataset=DS) == 0
                and value(found, "officesync_node_sync_state", dataset=NOT_GRANTED,
                          state="refused") == 1)

    await eventually(node_synced, 30)
    found = scrape(node_metrics, control_token)
    assert value(found, "officesync_node_connectivity", state="online") == 1
    assert value(found, "officesync_node_lan_request_duration_seconds_count",
                 route="/api/v1/datasets/{ds}/records/{collection}", method="POST",
                 status="2xx") == 3

    async def pulled_back() -> bool:  # the node's own changes come back through the feed
        shown = scrape(node_metrics, control_token)
        return value(shown, "officesync_node_feed_cursor", dataset=DS) == 3

    await eventually(pulled_back, 30)
    assert value(scrape(node_metrics, control_token), "officesync_node_feed_lag",
                 dataset=DS) == 0

    hub_found = scrape(f"{hub.url}/metrics", HUB_TOKEN)
    assert value(hub_found, "officesync_hub_push_ops_total", result="applied", code="") == 3
    assert value(hub_found, "officesync_hub_feed_last_seq", dataset=DS) == 3
    assert value(hub_found, "officesync_hub_nodes", state="active") == 1
    with pytest.raises(urllib.error.HTTPError) as refused:
        scrape(f"{hub.url}/metrics", "not-the-token")
    assert refused.value.code == 401

    lines = json_lines(node.stderr_path)  # every line parses; none is a bare text line
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    about = [line for line in lines if line.get("dataset") == NOT_GRANTED]
    assert any(line["level"] == "WARNING" and "refused" in line["message"] for line in about)
    json_lines(hub.stderr_path)
