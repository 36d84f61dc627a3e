"""Control API v1: local token and Host check, status, the online toggle (persisted), pairing
codes, workstations, the status WebSocket; and `officesync serve` / `status` / `pair-code` as
real processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from agent.app import NodeContext, build_context, create_control_app
from agent.cli import node_commands
from agent.config import Config
from agent.runtime import read_runtime
from tests.agent.conftest import DATASET, AppClient, FakeClock, pair_workstation

STATUS = "/control/v1/status"


async def test_token_file_is_private_and_required(
    control: AppClient, ctx: NodeContext, control_headers: dict[str, str]
) -> None:
    path = ctx.config.data_dir / "control.token"
    assert stat.S_IMODE(path.stat().st_mode) & 0o037 == 0  # owner and group only
    assert len(path.read_text().strip()) >= 43
    for headers in [{}, {"Authorization": "Bearer wrong"}]:
        resp = await control.get(STATUS, headers=headers)
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "UNAUTHORIZED"
    assert (await control.get(STATUS, headers=control_headers)).status == 200


@pytest.mark.parametrize("host", ["evil.example:8471", "192.168.1.5:8471", "127.0.0.1.nip.io",
                                  ""])
async def test_non_local_host_is_forbidden(
    control: AppClient, control_headers: dict[str, str], host: str
) -> None:
    resp = await control.get(STATUS, headers={**control_headers, "Host": host})
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("host", ["localhost:8471", "127.0.0.1", "[::1]:8471", "LOCALHOST"])
async def test_local_hosts_are_accepted(
    control: AppClient, control_headers: dict[str, str], host: str
) -> None:
    resp = await control.get(STATUS, headers={**control_headers, "Host": host})
    assert resp.status == 200


async def test_status_shape(
    control: AppClient, ctx: NodeContext, lan: AppClient, control_headers: dict[str, str]
) -> None:
    await pair_workstation(lan, ctx)
    status = await (await control.get(STATUS, headers=control_headers)).json()
    assert status == {
        "online": True,
        "connectivity": "not_configured",
        "message": {"vi": status["message"]["vi"], "en": status["message"]["en"]},
        "datasets": [{"id": DATASET, "connected": True, "counts": {
            "synced": 0, "pending": 0, "syncing": 0, "error": 0, "conflict": 0, "blocked": 0},
            "sync": {"state": "ok", "code": None, "message": None},
            "selfcheck": {"state": "never", "checked_at": None, "through": None, "full": False,
                          "message": {"vi": "Chưa tự kiểm tra dữ liệu với Cloud",
                                      "en": "Not checked against the cloud yet"}},
            "download": None, "search_backlog": None}],
        "workstations": 1,
        "version": status["version"],
        "hub": {"url": None, "node_id": None, "token_store": None},
        "tls_fingerprint": None,
        "pending_restart": None,
        "config_error": None,
        "failing_tasks": [],
    }
    assert status["message"]["en"].startswith("No cloud configured")


async def test_online_toggle_is_persisted_across_restarts(
    control: AppClient, ctx: NodeContext, config: Config, clock: FakeClock,
    control_headers: dict[str, str], aiohttp_client: Callable[..., Awaitable[AppClient]],
) -> None:
    resp = await control.put("/control/v1/online", json={"online": False},
                             headers=control_headers)
    assert resp.status == 200
    assert (await resp.json())["connectivity"] == "offline_by_user"
    for body in [{"online": "no"}, {}, [True]]:
        bad = await control.put("/control/v1/online", json=body, headers=control_headers)
        assert bad.status == 422

    second = await build_context(config, clock=clock)
    try:
        client = await aiohttp_client(create_control_app(second))
        status = await (await client.get(STATUS, headers=control_headers)).json()
        assert status["online"] is False and status["connectivity"] == "offline_by_user"
        assert status["message"]["vi"].startswith("Đang làm việc ở chế độ offline")
    finally:
        await second.close()


async def test_pairing_code_then_list_and_revoke_workstations(
    control: AppClient, lan: AppClient, control_headers: dict[str, str]
) -> None:
    resp = await control.post("/control/v1/pairing-code", headers=control_headers)
    assert resp.status == 201
    code = await resp.json()
    assert set(code) == {"code", "expires_at"}
    pair = await lan.post("/api/v1/pair", json={"code": code["code"], "name": "Thu ngân"})
    answer = await pair.json()

    listed = await (await control.get("/control/v1/workstations", headers=control_headers)).json()
    assert [w["name"] for w in listed["workstations"]] == ["Thu ngân"]
    path = f"/control/v1/workstations/{answer['workstation_id']}"
    assert (await control.delete(path, headers=control_headers)).status == 200
    assert (await control.delete(path, headers=control_headers)).status == 404
    auth = {"Authorization": f"Bearer {answer['token']}"}
    assert (await lan.get("/api/v1/datasets", headers=auth)).status == 401


async def test_sync_all_now(
    control: AppClient, ctx: NodeContext, control_headers: dict[str, str]
) -> None:
    woken: list[str | None] = []

    async def sync_now(dataset_id: str | None = None) -> None:
        woken.append(dataset_id)

    ctx.sync.sync_now = sync_now  # type: ignore[method-assign]
    assert (await control.post("/control/v1/sync", headers=control_headers)).status == 202
    assert woken == [None]


async def _next_status(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    async with asyncio.timeout(5):
        msg = await ws.receive()
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    event = msg.json()
    assert event["type"] == "status"
    return dict(event)


async def test_events_push_status_on_connect_and_on_change(
    control: AppClient, lan: AppClient, ctx: NodeContext, control_headers: dict[str, str]
) -> None:
    auth = {"Authorization": "Bearer " + (await pair_workstation(lan, ctx))["token"]}
    async with control.ws_connect("/control/v1/events", headers=control_headers) as ws:
        first = await _next_status(ws)
        assert first["datasets"][0]["counts"]["pending"] == 0
        for n in range(3):  # a burst
            await lan.post(f"/api/v1/datasets/{DATASET}/records/customers", headers=auth,
                           json={"data": {"code": f"KH{n}", "name": "x"}})
        pending = 0
        while pending < 3:
            pending = (await _next_status(ws))["datasets"][0]["counts"]["pending"]
        await ctx.sync.set_online(False)
        assert (await _next_status(ws))["connectivity"] == "offline_by_user"


async def test_events_need_the_token(control: AppClient) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await control.ws_connect("/control/v1/events")
    assert err.value.status == 401


# --- the real process and the CLI -----------------------------------------------------------


def _write_config(tmp_path: Path) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(
        '[node]\nname = "cli-node"\ndata_dir = "data"\nlanguage = "en"\n'
        '[lan]\nhost = "127.0.0.1"\nport = 0\n[control]\nport = 0\n'
        f'[[datasets]]\nid = "{DATASET}"\n[log]\nfile = "node.log"\n',
        encoding="utf-8",
    )
    return path


def _cli(*args: str) -> Any:
    from officesync.cli import main

    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_node_commands_are_exported() -> None:
    names = {c.name for c in node_commands}
    assert {"serve", "status", "pair-code", "online", "offline", "sync"} <= names


def test_cli_says_when_the_node_is_not_running(tmp_path: Path) -> None:
    config = _write_config(tmp_path)
    result = _cli("status", "--config", str(config))
    assert result.exit_code != 0 and "control.token" in result.stderr


def test_serve_status_pair_code_and_clean_stop(tmp_path: Path) -> None:
    config = _write_config(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from officesync.cli import main; main()", "serve",
         "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until ready or exit; pytest-timeout bounds it
        assert line.startswith("officesync node ready: lan=http://127.0.0.1:"), line
        runtime = read_runtime(tmp_path / "data")
        assert runtime is not None and runtime.pid == proc.pid
        assert f"lan={runtime.lan_url} control={runtime.control_url}" in line
        assert not runtime.control_url.endswith(":0")

        status = _cli("status", "--json", "--config", str(config))
        assert status.exit_code == 0, status.stderr
        assert json.loads(status.stdout)["connectivity"] == "not_configured"
        human = _cli("status", "--config", str(config))
        assert human.exit_code == 0 and "No cloud configured" in human.stdout

        code = _cli("pair-code", "--config", str(config))
        assert code.exit_code == 0 and len(code.stdout.strip().splitlines()[-1]) == 8
        off = _cli("offline", "--config", str(config))
        assert off.exit_code == 0 and "offline" in off.stdout.lower()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert read_runtime(tmp_path / "data") is None
    assert (tmp_path / "node.log").exists()
