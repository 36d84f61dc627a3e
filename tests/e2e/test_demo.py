"""``officesync demo`` as a real process: hub + enrolled node + sample data, a workstation
paired with the printed code sees the sample vouchers synced, every command it prints runs as
pasted (without an activated venv), a second demo in the same directory is refused while the
first runs, SIGTERM stops it cleanly, and a later run reuses the directory (no re-seed, no
re-enrollment)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from officesync.demo import officesync_command, pick_port, sample_records
from tests.agent.test_cli_messages import check_language

from .procs import NO_KEYRING, LineReadyProcess, officesync_cmd, run_cli, wait_until

READY_RE = re.compile(r"(?:Dashboard|Bảng điều khiển): (?P<url>http://\S+?)/?\n")
CODE_RE = re.compile(r"(?:Pairing code|Mã ghép nối): (?P<code>\w+)")
HUB_RE = re.compile(r"(?:Cloud hub|Cloud): (?P<url>http://\S+)")
TRY_RE = re.compile(r"^(?:Try these commands|Thử các lệnh sau).*\n((?:  \S.*\n)+)", re.M)
VENV_BIN = str(Path(sys.executable).parent)
VOUCHERS = 20
SAMPLE_RECORDS = 36


def _http(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _shell_env(tmp_path: Path) -> dict[str, str]:
    """A shell as a new user has it after ``make run``: the venv NOT on PATH."""
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and p != VENV_BIN)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    return {**env, **NO_KEYRING, "PATH": path, "OFFICESYNC_WS_HOME": str(tmp_path / "ws")}


def _start(tmp_path: Path, lang: str) -> LineReadyProcess:
    proc = LineReadyProcess(
        officesync_cmd("--lang", lang, "demo", "--dir", str(tmp_path / "demo"), "--lan-port",
                       "0", "--hub-port", "0"),
        tmp_path / "logs", READY_RE, label="demo", env=_shell_env(tmp_path), ready_timeout=60,
    )
    proc.start()
    wait_until(lambda: "Ctrl+C" in proc.stdout(), 30, "the whole banner")
    return proc


def _printed_commands(proc: LineReadyProcess) -> list[str]:
    found = TRY_RE.search(proc.stdout())
    assert found is not None, proc.logs()
    return [line.strip() for line in found[1].splitlines()]


def _run_printed(commands: list[str], tmp_path: Path) -> None:
    """Each printed command, pasted into a shell where ``officesync`` is not on PATH."""
    assert any(" ws pair " in c for c in commands) and any(" status " in c for c in commands)
    for command in commands:
        done = subprocess.run(["bash", "-c", command], env=_shell_env(tmp_path), timeout=60,
                              capture_output=True, text=True)
        assert done.returncode == 0, (command, done.stdout, done.stderr)


def _stop(proc: LineReadyProcess) -> None:
    started = time.monotonic()
    assert proc.terminate(timeout=10) == 0, proc.logs()
    assert time.monotonic() - started < 10


def _pair(proc: LineReadyProcess, code: str | None = None) -> tuple[str, str]:
    """Pair over HTTP with ``code``, else with the code the banner printed."""
    assert proc.ready_match is not None
    url = proc.ready_match["url"]
    if code is None:
        printed = CODE_RE.search(proc.stdout())
        assert printed is not None, proc.logs()
        code = printed["code"]
    answer = _http("POST", url + "/api/v1/pair", {"code": code, "name": "e2e"})
    return url, answer["token"]


def _synced(url: str, token: str) -> dict[str, Any] | None:
    summary: dict[str, Any] = _http("GET", url + "/api/v1/datasets/cty-demo/sync", token=token)
    done = summary["counts"]["synced"] == SAMPLE_RECORDS and summary["connectivity"] == "online"
    return summary if done else None


def test_demo_runs_seeds_syncs_and_restarts(tmp_path: Path) -> None:
    proc = _start(tmp_path, "en")
    try:
        out = proc.stdout()
        assert f"Seeded {SAMPLE_RECORDS} sample records" in out
        hub = HUB_RE.search(out)
        assert hub is not None
        assert _http("GET", hub["url"] + "/v1/health")["service"] == "officesync-hub"
        _a_second_demo_here_is_refused(tmp_path, proc)
        url, token = _pair(proc)
        info = _http("GET", url + "/api/v1/info")
        assert info["name"] == "demo-office"
        assert info["datasets"] == [{"id": "cty-demo", "connected": True}]
        with urllib.request.urlopen(url + "/", timeout=10) as page:  # the dashboard, public
            assert b"/static/app.js" in page.read()
        summary = wait_until(lambda: _synced(url, token), 30, "the sample data to reach the hub")
        assert summary["counts"]["pending"] == 0
        vouchers = _http("GET", url + "/api/v1/datasets/cty-demo/records/vouchers",
                         token=token)["items"]
        assert len(vouchers) == VOUCHERS
        assert {v["sync"]["state"] for v in vouchers} == {"synced"}
        assert {v["data"]["type"] for v in vouchers} == {"receipt", "payment", "sales_invoice"}
        assert all(v["version"] is not None for v in vouchers)
    finally:
        _stop(proc)

    proc = _start(tmp_path, "vi")  # the same directory again, in Vietnamese
    try:
        banner = proc.stdout().split("\n\n", 1)[-1]
        assert "Đã tạo" not in banner and not check_language(banner, "vi"), banner
        commands = _printed_commands(proc)
        assert all(c.startswith(VENV_BIN + "/officesync ") for c in commands), commands
        _run_printed(commands, tmp_path)  # pairs with the printed code, lists, toggles…
        fresh = run_cli("pair-code", "--config", str(tmp_path / "demo" / "node.toml"),
                        env=NO_KEYRING)
        url, token = _pair(proc, fresh.stdout.strip().splitlines()[-1])
        wait_until(lambda: _synced(url, token), 30, "the node to be online again")
    finally:
        _stop(proc)
    with sqlite3.connect(tmp_path / "demo" / "hub.db") as db:
        assert db.execute("SELECT count(*) FROM hub_enroll_codes").fetchone() == (1,)
        assert db.execute("SELECT count(*) FROM hub_nodes").fetchone() == (1,)


def _a_second_demo_here_is_refused(tmp_path: Path, first: LineReadyProcess) -> None:
    config = (tmp_path / "demo" / "node.toml").read_text()
    started = time.monotonic()
    second = run_cli("demo", "--dir", str(tmp_path / "demo"), "--lang", "en",
                     env=NO_KEYRING, timeout=30)
    assert time.monotonic() - started < 10
    assert second.returncode == 3, second.stderr
    line = second.stderr.strip()
    assert len(line.splitlines()) == 1 and "A demo is already running" in line
    assert first.ready_match is not None and first.ready_match["url"] in line
    assert str(first.pid) in line
    assert (tmp_path / "demo" / "node.toml").read_text() == config  # not rewritten
    assert first.running()


def test_printed_commands_are_bare_only_when_path_finds_this_officesync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    assert officesync_command() == "officesync"
    monkeypatch.setenv("PATH", "/nonexistent")
    assert officesync_command() == VENV_BIN + "/officesync"


def test_sample_data_is_consistent() -> None:
    records = sample_records(dt.date(2024, 5, 31))
    ids = {rid for _c, rid, _d in records}
    assert len(ids) == len(records) == SAMPLE_RECORDS
    accounts = {d["number"] for c, _r, d in records if c == "accounts"}
    assert accounts == {"111", "112", "131", "331", "511"}
    seen: set[str] = set()
    for _collection, rid, data in records:  # dependency order: references point backwards
        refs = [data.get("customer"), data.get("vendor")]
        refs += [v for line in data.get("lines", []) for v in line.values() if v in ids]
        assert all(ref in seen for ref in refs if ref is not None)
        seen.add(rid)


def test_a_taken_port_falls_back_to_a_free_one() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert pick_port(taken.getsockname()[1]) == 0
    assert pick_port(0) == 0
