"""S3 with real processes: a node hosting two datasets, a workstation with pending work on the
second while the hub is down; ``officesync dataset disconnect`` keeps that work on disk and the
workstation's next request is refused ``DATASET_NOT_CONNECTED`` naming the connected dataset;
``connect`` brings it back and everything reaches the hub — nothing lost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protocol.query import RecordQuery
from tests.agent.sync.conftest import eventually
from workstation.client import WorkstationError

from .hub_procs import HubProcess, enroll_node, hub_with
from .procs import NO_KEYRING, NodeProcess, run_cli, write_node_config
from .test_sync_e2e import FAST_CLOUD, control, status, workstation

pytestmark = pytest.mark.e2e
DS1, DS2 = "cty-a", "cty-b"
COMMENT = "# the second company's books (kept even while disconnected)"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    yield from hub_with(tmp_path, DS1, DS2)


@pytest.fixture
def node(tmp_path: Path, hub: HubProcess) -> Iterator[NodeProcess]:
    config = write_node_config(tmp_path, name="office", datasets=[DS1, DS2],
                               cloud_url=hub.url, cloud=FAST_CLOUD, language="en")
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(f'id = "{DS2}"', f'{COMMENT}\nid = "{DS2}"'),
                      encoding="utf-8")
    enroll_node(config, hub, hub.enroll_code(DS1, DS2), NO_KEYRING)
    proc = NodeProcess(config, env=NO_KEYRING)
    proc.start()
    yield proc
    proc.kill()


def cli(node: NodeProcess, *args: str) -> Any:
    return run_cli(*args, "--config", str(node.config), "--lang", "en", env=NO_KEYRING)


def dataset_of(node: NodeProcess, ds: str) -> dict[str, Any]:
    return next(d for d in status(node)["datasets"] if d["id"] == ds)


def hub_records(hub: HubProcess) -> dict[str, int]:
    listed = json.loads(hub.admin("dataset", "list", "--json"))
    return {d["id"]: d["records"] for d in listed}


async def test_disconnect_keeps_pending_work_and_connect_syncs_it(
    node: NodeProcess, hub: HubProcess
) -> None:
    ws = await workstation(node, "ke-toan")
    try:
        async def online() -> bool:
            return bool(status(node)["connectivity"] == "online")

        await eventually(online, 30)
        hub.kill()  # the hub is down: the work on DS2 stays pending on the node

        async def offline() -> bool:
            return bool(status(node)["connectivity"] != "online")

        await eventually(offline, 30)
        made = [(await ws.create(DS2, "customers", {"code": f"KH{i:03d}", "name": f"K {i}"}))
                .record.id for i in range(5)]
        await ws.create(DS1, "customers", {"code": "KH900", "name": "A"})
        assert dataset_of(node, DS2)["counts"]["pending"] == 5

        done = cli(node, "dataset", "disconnect", DS2)
        assert done.returncode == 0, done.stderr
        assert f"Dataset {DS2} disconnected" in done.stdout and "5 unsynced" in done.stdout

        # The file is the source of truth: the table stays, marked, its comment kept.
        text = node.config.read_text(encoding="utf-8")
        assert COMMENT in text and f'id = "{DS2}"' in text and "connected = false" in text
        assert (node.data_dir / "datasets" / f"{DS2}.db").exists()

        with pytest.raises(WorkstationError) as refused:
            await ws.get(DS2, "customers", made[0])
        assert refused.value.code == "DATASET_NOT_CONNECTED"
        assert DS2 in refused.value.message and DS1 in refused.value.message
        with pytest.raises(WorkstationError) as refused_write:
            await ws.create(DS2, "customers", {"code": "KH999", "name": "late"})
        assert refused_write.value.code == "DATASET_NOT_CONNECTED"

        listed = {d["id"]: d for d in await ws.datasets()}
        assert listed[DS2]["connected"] is False and listed[DS2]["pending"] == 5
        assert listed[DS1]["connected"] is True
        kept = dataset_of(node, DS2)
        assert kept["connected"] is False and kept["counts"]["pending"] == 5
        shown = cli(node, "status")
        assert shown.returncode == 0, shown.stderr
        assert f"{DS2}: not connected · 5 unsynced records kept" in shown.stdout

        again = cli(node, "dataset", "disconnect", DS2)
        assert again.returncode != 0 and again.stdout == ""
        assert again.stderr.strip().startswith("DATASET_NOT_CONNECTED")
        assert len(again.stderr.strip().splitlines()) == 1
        twice = cli(node, "dataset", "connect", DS1)
        assert twice.returncode != 0 and "already connected" in twice.stderr

        # The control API does the same (the dashboard's button): connect DS2 back.
        hub.start()
        answer = control(node, "POST", f"/datasets/{DS2}/connect")
        assert answer["connected"] is True and answer["pending"] == 5
        assert "connected = false" not in node.config.read_text(encoding="utf-8")

        async def all_synced() -> bool:
            page = await ws.list_records(DS2, "customers", RecordQuery(limit=100))
            return (sorted(r.id for r in page.items) == sorted(made)
                    and all(r.sync.state == "synced" for r in page.items))

        await eventually(all_synced, 60)
        assert hub_records(hub)[DS2] == 5  # nothing lost, nothing twice
        assert dataset_of(node, DS2)["connected"] is True

        # The hub's admin shuts this node out: its token is refused, it shows auth_failed.
        nodes = json.loads(hub.admin("nodes", "--json"))
        assert [(n["name"], n["datasets"]) for n in nodes] == [("office", [DS1, DS2])]
        assert nodes[0]["last_seen"] is not None
        hub.admin("revoke", "office")

        await ws.create(DS1, "customers", {"code": "KH901", "name": "after revoke"})

        async def shut_out() -> bool:
            return bool(status(node)["connectivity"] == "auth_failed")

        await eventually(shut_out, 30)
    finally:
        await ws.close()
