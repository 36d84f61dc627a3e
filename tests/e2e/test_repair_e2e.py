"""S11 with real processes: the node's copy of a few records is corrupted and a few rows are
deleted in its SQLite file behind its back (while it is stopped); ``officesync maintain`` finds
and repairs them with a report; the self-check (a short interval) finds the same drift without
being asked and says so in ``/status``; a second job on the same dataset is refused naming the
first; a job running when the node stops is ``interrupted`` after the restart, never lost; a
refresh with the hub down is refused in words."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.sync.conftest import eventually
from workstation.client import WorkstationClient

from .hub_procs import HubProcess, enroll_node, hub_with
from .procs import NO_KEYRING, NodeProcess, run_cli, write_node_config
from .test_sync_e2e import FAST_CLOUD, control, status, workstation

pytestmark = pytest.mark.e2e
DS = "cty-abc"
TODAY = dt.date.today()
DAYS = [(TODAY - dt.timedelta(days=n)).isoformat() for n in (3, 2, 1)]


def post(node: NodeProcess, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{node.control_url}/control/v1{path}", method="POST", data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {node.control_token()}",
                 "Content-Type": "application/json", "Accept-Language": "en"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    yield from hub_with(tmp_path, DS)


def make_node(tmp_path: Path, hub: HubProcess, **selfcheck: Any) -> NodeProcess:
    config = write_node_config(tmp_path, name="office", datasets=[DS], cloud_url=hub.url,
                               cloud=FAST_CLOUD, language="en",
                               selfcheck={"enabled": False, **selfcheck})
    enroll_node(config, hub, hub.enroll_code(DS), NO_KEYRING)
    return NodeProcess(config, env=NO_KEYRING)


def cli(node: NodeProcess, *args: str) -> Any:
    return run_cli(*args, "--config", str(node.config), "--lang", "en", env=NO_KEYRING,
                   timeout=120)


async def books(ws: WorkstationClient) -> dict[str, str]:
    """Accounts, two customers and a receipt on each of three recent days; synced."""
    cash = (await ws.create(DS, "accounts", {"number": "111", "name": "Tiền mặt"})).record
    debt = (await ws.create(DS, "accounts", {"number": "131", "name": "Phải thu"})).record
    kh1 = (await ws.create(DS, "customers", {"code": "KH001", "name": "Công ty A"})).record
    kh2 = (await ws.create(DS, "customers", {"code": "KH002", "name": "Công ty B"})).record
    lines = [{"debit": cash.id, "credit": debt.id, "amount": 250000}]
    ids = {"kh1": kh1.id, "kh2": kh2.id}
    for n, day in enumerate(DAYS):
        made = await ws.create(DS, "vouchers", {"type": "receipt", "date": day,
                                                "customer": kh1.id, "lines": lines})
        ids[f"v{n}"] = made.record.id
    return ids


async def synced(node: NodeProcess) -> None:
    async def done() -> bool:
        counts = next(d for d in status(node)["datasets"] if d["id"] == DS)["counts"]
        return counts["pending"] == 0 and counts["syncing"] == 0 and counts["synced"] >= 7

    await eventually(done, 60)


def damage(node: NodeProcess, ids: dict[str, str]) -> None:
    """Behind the stopped node's back: a stale copy, a corrupt copy, three rows lost."""
    conn = sqlite3.connect(node.data_dir / "datasets" / f"{DS}.db")
    try:
        with conn:
            conn.execute("UPDATE records SET version = 0 WHERE id = ?", (ids["v0"],))
            conn.execute("UPDATE records SET data = json_set(data, '$.name', 'HỎNG'), "
                         "base_data = json_set(data, '$.name', 'HỎNG') WHERE id = ?",
                         (ids["kh2"],))
            conn.execute("DELETE FROM records WHERE id IN (?, ?, ?)",
                         (ids["v1"], ids["v2"], ids["kh1"]))
    finally:
        conn.close()


async def intact(ws: WorkstationClient, ids: dict[str, str]) -> None:
    assert (await ws.get(DS, "customers", ids["kh2"])).record.data["name"] == "Công ty B"
    assert (await ws.get(DS, "customers", ids["kh1"])).record.data["name"] == "Công ty A"
    for key in ("v0", "v1", "v2"):
        record = (await ws.get(DS, "vouchers", ids[key])).record
        assert record.version == 1 and record.sync.state == "synced"


async def test_maintain_finds_and_repairs_drift_and_jobs_are_one_at_a_time(
        tmp_path: Path, hub: HubProcess) -> None:
    node = make_node(tmp_path, hub)
    node.start()
    ws: WorkstationClient | None = None
    try:
        ws = await workstation(node, "ke-toan-1")
        ids = await books(ws)
        await synced(node)
        node.terminate()
        damage(node, ids)
        node.start()

        done = cli(node, "maintain", DS, "--from", DAYS[0], "--to", TODAY.isoformat())
        assert done.returncode == 0, done.stderr
        out = done.stdout
        assert "Repaired: fetched 3, replaced 2" in out, out
        for key in ("KH001", "KH002", "PT000001", "PT000002", "PT000003"):
            assert key in out, out
        await intact(ws, ids)
        again = cli(node, "maintain", DS, "--from", DAYS[0], "--to", TODAY.isoformat())
        assert again.returncode == 0 and "Data matches the cloud" in again.stdout

        bad = cli(node, "maintain", DS, "--from", "2026-13-01", "--to", "2026-12-01")
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
        assert "date_from" in bad.stderr and "Traceback" not in bad.stderr
        unknown = cli(node, "download", "cty-khong-co")
        assert unknown.returncode != 0 and len(unknown.stderr.strip().splitlines()) == 1
        assert "cty-khong-co" in unknown.stderr

        # the hub goes down: a job waits (idle) for it; a second one is refused naming it
        hub.terminate()
        await eventually(lambda: _async(status(node)["connectivity"] != "online"), 30)
        refused = cli(node, "refresh", DS, "customers", ids["kh1"])
        assert refused.returncode != 0 and "cloud" in refused.stderr.lower()
        code, job = post(node, f"/datasets/{DS}/download", {})
        assert code == 202 and job["state"] in ("queued", "running"), job
        code, second = post(node, f"/datasets/{DS}/maintenance",
                            {"date_from": DAYS[0], "date_to": DAYS[-1]})
        assert code == 409 and second["error"]["code"] == "JOB_RUNNING"
        assert job["id"] in second["error"]["message"]
        assert second["error"]["details"]["job"] == job["id"]
        # the node stops while the job waits: after the restart it is interrupted, not lost
        node.terminate()
        node.start()
        after = control(node, "GET", f"/jobs/{job['id']}")
        assert after["state"] == "interrupted" and after["report"]["message"]["en"]
        with pytest.raises(urllib.error.HTTPError) as wrong:
            control(node, "GET", "/jobs/nope")
        assert wrong.value.code == 404
        assert "nope" in json.loads(wrong.value.read())["error"]["message"]
        hub.start()
        code, fresh = post(node, f"/datasets/{DS}/download", {"collections": ["customers"]})
        assert code == 202, fresh
        await eventually(lambda: _async(
            control(node, "GET", f"/jobs/{fresh['id']}")["state"] == "done"), 60)
        report = control(node, "GET", f"/jobs/{fresh['id']}")["report"]
        assert report["counts"]["unchanged"] == 2 and report["fixed"] == 0
    finally:
        if ws is not None:
            await ws.close()
        node.kill()


async def _async(value: bool) -> bool:
    return value


async def test_the_self_check_finds_the_same_drift_without_being_asked(
        tmp_path: Path, hub: HubProcess) -> None:
    node = make_node(tmp_path, hub, enabled=True, interval_s=1, start_delay_s=0.5,
                     recent_days=7, page_size=2)
    node.start()
    ws: WorkstationClient | None = None
    try:
        ws = await workstation(node, "ke-toan-1")
        ids = await books(ws)
        await synced(node)

        def check() -> dict[str, Any]:
            found: dict[str, Any] = next(
                d for d in status(node)["datasets"] if d["id"] == DS)["selfcheck"]
            return found

        await eventually(lambda: _async(check()["state"] == "ok"), 30)
        assert check()["message"]["en"].startswith("Data matches the cloud as of ")
        node.terminate()
        damage(node, ids)
        node.start()
        await eventually(lambda: _async(check()["state"] == "repaired"), 60)
        result = check()
        assert result["message"]["en"].startswith("Repaired 5 record(s)"), result
        await intact(ws, ids)
        shown = cli(node, "status")
        assert "Repaired 5 record(s)" in shown.stdout, shown.stdout
        await eventually(lambda: _async(check()["state"] == "ok"), 30)  # the next round
        summary = await ws.sync_summary(DS)  # the LAN sync summary
        assert summary["selfcheck"]["state"] in ("ok", "repaired")
    finally:
        if ws is not None:
            await ws.close()
        node.kill()
