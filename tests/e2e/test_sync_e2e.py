"""Hub + two nodes + workstation clients as real processes (issue "Cloud hub, sync engine…"):
offline work drains by itself when toggled online (S2), reaches the other office (S1, S4),
survives the hub going away and the node being killed mid-drain, and an old node is told to
upgrade (S7)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protocol.query import RecordQuery
from tests.agent.sync.conftest import eventually
from workstation.client import WorkstationClient

from .hub_procs import HubProcess, enroll_node, hub_with
from .procs import NO_KEYRING, NodeProcess, free_port, run_cli, write_node_config

pytestmark = pytest.mark.e2e
DS = "cty-abc"
FAST_CLOUD = {"probe_interval_s": 0.3, "probe_timeout_s": 2, "max_backoff_s": 1,
              "long_poll_s": 5, "batch_size": 100}


def control(node: NodeProcess, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"{node.control_url}/control/v1{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {node.control_token()}",
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def status(node: NodeProcess) -> dict[str, Any]:
    return dict(control(node, "GET", "/status"))


async def workstation(node: NodeProcess, name: str) -> WorkstationClient:
    code = control(node, "POST", "/pairing-code")["code"]
    client = WorkstationClient(node.lan_url, language="en")
    paired = await client.pair(code, name)
    client.token = paired.token
    return client


def counts(node: NodeProcess) -> dict[str, int]:
    return dict(status(node)["datasets"][0]["counts"])


class Office:
    def __init__(self, tmp: Path, name: str, hub: HubProcess, **cloud: Any) -> None:
        self.config = write_node_config(tmp, name=name, datasets=[DS], cloud_url=hub.url,
                                        filename=f"{name}.toml",
                                        cloud={**FAST_CLOUD, **cloud})
        enroll_node(self.config, hub, hub.enroll_code(DS), NO_KEYRING)
        self.node = NodeProcess(self.config, env=NO_KEYRING)


def two_offices(tmp: Path, hub: HubProcess) -> Iterator[tuple[Office, Office]]:
    """Offices A and B enrolled on ``hub``, both nodes running, killed at the end (the body of
    an ``offices`` fixture: ``yield from two_offices(tmp_path, hub)``)."""
    a, b = Office(tmp, "office-a", hub), Office(tmp, "office-b", hub)
    a.node.start()
    b.node.start()
    try:
        yield a, b
    finally:
        a.node.kill()
        b.node.kill()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    yield from hub_with(tmp_path, DS)


@pytest.fixture
def offices(tmp_path: Path, hub: HubProcess) -> Iterator[tuple[Office, Office]]:
    yield from two_offices(tmp_path, hub)


async def wait_online(node: NodeProcess) -> None:
    async def check() -> bool:
        return bool(status(node)["connectivity"] == "online")
    await eventually(check, 30)


async def catalog(ws: WorkstationClient, prefix: str) -> dict[str, str]:
    cash = await ws.create(DS, "accounts", {"number": f"{prefix}111", "name": "Tiền mặt"})
    recv = await ws.create(DS, "accounts", {"number": f"{prefix}131", "name": "Phải thu"})
    return {"cash": cash.record.id, "recv": recv.record.id}


def voucher(ids: dict[str, str], customer: str) -> dict[str, Any]:
    return {"type": "receipt", "date": "2026-11-25", "customer": customer,
            "lines": [{"debit": ids["cash"], "credit": ids["recv"], "amount": 120_000}]}


async def test_offline_office_catches_up_by_itself(offices: tuple[Office, Office]) -> None:
    a, b = offices
    ws_a = await workstation(a.node, "ke-toan-a")
    ws_b = await workstation(b.node, "ke-toan-b")
    try:
        await wait_online(a.node)
        first = await ws_a.create(DS, "customers", {"code": "KH000", "name": "Đầu tiên"})

        async def first_synced() -> bool:  # by then A has leased its voucher numbers
            got = await ws_a.get(DS, "customers", first.record.id)
            return got.record.sync.state == "synced"

        await eventually(first_synced, 30)
        off = run_cli("offline", "--config", str(a.config), env=NO_KEYRING)
        assert off.returncode == 0, off.stderr
        assert status(a.node)["connectivity"] == "offline_by_user"

        ids = await catalog(ws_a, "")
        customers = [
            (await ws_a.create(DS, "customers", {"code": f"KH{i:03d}", "name": f"Khách {i}"}))
            .record.id for i in range(1, 48)
        ]
        for i in range(150):
            await ws_a.create(DS, "vouchers", voucher(ids, customers[i % len(customers)]))
        assert counts(a.node)["pending"] == 199  # 2 accounts + 47 customers + 150 vouchers

        on = run_cli("online", "--config", str(a.config), env=NO_KEYRING)
        assert on.returncode == 0, on.stderr
        shown = run_cli("status", "--config", str(a.config), env=NO_KEYRING)
        assert shown.returncode == 0, shown.stderr
        # No OS keyring in tests: status says plainly that the hub token is in a 0600 file.
        assert "hub.token" in shown.stdout and "0600" in shown.stdout

        async def b_sees_everything() -> bool:
            vouchers = await ws_b.list_records(DS, "vouchers", RecordQuery(limit=1000))
            customers_b = await ws_b.list_records(DS, "customers", RecordQuery(limit=1000))
            return len(vouchers.items) == 150 and len(customers_b.items) == 48

        await eventually(b_sees_everything, 60)
        assert counts(a.node)["synced"] == 200
        page = await ws_b.list_records(DS, "vouchers", RecordQuery(limit=1000))
        assert len({r.data["number"] for r in page.items}) == 150
        assert all(r.sync.state == "synced" for r in page.items)
    finally:
        await ws_a.close()
        await ws_b.close()


async def test_hub_outage_queues_and_drains(offices: tuple[Office, Office],
                                            hub: HubProcess) -> None:
    a, _ = offices
    ws = await workstation(a.node, "ke-toan")
    try:
        await wait_online(a.node)
        hub.kill()
        for i in range(40):
            await ws.create(DS, "customers", {"code": f"OUT{i:02d}", "name": "x"})

        async def unavailable() -> bool:
            return bool(status(a.node)["connectivity"] == "cloud_unavailable")

        await eventually(unavailable, 30)
        assert counts(a.node)["synced"] == 0
        hub.start()

        async def drained() -> bool:
            return counts(a.node)["synced"] == 40

        await eventually(drained, 60)
        assert status(a.node)["connectivity"] == "online"
    finally:
        await ws.close()


async def test_node_killed_mid_drain_applies_everything_exactly_once(
    tmp_path: Path, hub: HubProcess
) -> None:
    # Small batches make the drain long enough to be caught in the middle.
    a = Office(tmp_path, "office-a", hub, batch_size=5)
    b = Office(tmp_path, "office-b", hub)
    a.node.start()
    b.node.start()
    ws = await workstation(a.node, "ke-toan")
    try:
        await wait_online(a.node)
        control(a.node, "PUT", "/online", {"online": False})
        for i in range(600):
            await ws.create(DS, "customers", {"code": f"K{i:04d}", "name": "x"})
        control(a.node, "PUT", "/online", {"online": True})

        async def draining() -> bool:
            c = counts(a.node)
            return 0 < c["synced"] < 600

        await eventually(draining, 30)
        a.node.kill()  # SIGKILL in the middle of the drain
        a.node.start()

        async def all_synced() -> bool:
            return counts(a.node)["synced"] == 600

        await eventually(all_synced, 60)
        # The hub holds each record exactly once: B (fed only by the hub) has 600 distinct
        # records, and the feed has one change per record.
        ws_b = await workstation(b.node, "ke-toan-b")
        try:
            async def b_has_all() -> bool:
                page = await ws_b.list_records(DS, "customers", RecordQuery(limit=1000))
                return len(page.items) == 600
            await eventually(b_has_all, 60)
        finally:
            await ws_b.close()
        from agent.cloud.client import HubClient
        from agent.secrets import NodeSecrets
        secret = NodeSecrets(a.node.data_dir).load()
        assert secret is not None
        client = HubClient(hub.url, secret[0])
        try:
            page = await client.changes(DS, since=0, limit=5000)
        finally:
            await client.close()
        ids = [c.id for c in page.changes]
        assert len(ids) == len(set(ids)) == 600
        assert all(c.version == 1 for c in page.changes)
    finally:
        await ws.close()
        a.node.kill()
        b.node.kill()


async def test_newer_hub_puts_the_node_in_upgrade_required(tmp_path: Path) -> None:
    hub = HubProcess(f"sqlite:///{tmp_path}/hub2.db", free_port(), tmp_path / "logs2",
                     env=NO_KEYRING)
    hub.create_dataset(DS)
    hub.start()
    office = None
    try:
        office = Office(tmp_path, "office-old", hub)
        hub.kill()
        hub.args[hub.args.index("--min-protocol") + 1] = "2"
        hub.start()
        office.node.start()

        async def upgrade() -> bool:
            return bool(status(office.node)["connectivity"] == "upgrade_required")

        await eventually(upgrade, 30)
        message = status(office.node)["message"]
        assert "upgrade" in message["en"].lower() and "cập nhật" in message["vi"]
    finally:
        if office is not None:
            office.node.kill()
        hub.kill()
        await asyncio.sleep(0)
