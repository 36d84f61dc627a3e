"""``officesync demo`` as a real process: hub + enrolled node + sample data, a workstation
paired with the printed code sees the sample vouchers synced, SIGTERM stops it cleanly, and a
second run reuses the directory (no re-seed, no re-enrollment)."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import sqlite3
import time
import urllib.request
from pathlib import Path
from typing import Any

from officesync.demo import pick_port, sample_records

from .procs import NO_KEYRING, LineReadyProcess, officesync_cmd, wait_until

READY_RE = re.compile(r"Dashboard: (?P<url>http://\S+?)/?\n")
CODE_RE = re.compile(r"Pairing code: (?P<code>\w+)")
HUB_RE = re.compile(r"Cloud hub: (?P<url>http://\S+)")
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


def _start(tmp_path: Path) -> LineReadyProcess:
    proc = LineReadyProcess(
        officesync_cmd("demo", "--dir", str(tmp_path / "demo"), "--lan-port", "0",
                       "--hub-port", "0"),
        tmp_path / "logs", READY_RE, label="demo", env=NO_KEYRING, ready_timeout=60,
    )
    proc.start()
    return proc


def _stop(proc: LineReadyProcess) -> None:
    started = time.monotonic()
    assert proc.terminate(timeout=10) == 0, proc.logs()
    assert time.monotonic() - started < 10


def _pair(proc: LineReadyProcess) -> tuple[str, str]:
    assert proc.ready_match is not None
    url = proc.ready_match["url"]
    code = CODE_RE.search(proc.stdout())
    assert code is not None, proc.logs()
    answer = _http("POST", url + "/api/v1/pair", {"code": code["code"], "name": "e2e"})
    return url, answer["token"]


def _synced(url: str, token: str) -> dict[str, Any] | None:
    summary: dict[str, Any] = _http("GET", url + "/api/v1/datasets/cty-demo/sync", token=token)
    done = summary["counts"]["synced"] == SAMPLE_RECORDS and summary["connectivity"] == "online"
    return summary if done else None


def test_demo_runs_seeds_syncs_and_restarts(tmp_path: Path) -> None:
    proc = _start(tmp_path)
    try:
        out = proc.stdout()
        assert f"seeded {SAMPLE_RECORDS} sample records" in out
        hub = HUB_RE.search(out)
        assert hub is not None
        assert _http("GET", hub["url"] + "/v1/health")["service"] == "officesync-hub"
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

    proc = _start(tmp_path)  # the same directory again
    try:
        assert "seeded" not in proc.stdout()
        url, token = _pair(proc)
        wait_until(lambda: _synced(url, token), 30, "the node to be online again")
    finally:
        _stop(proc)
    with sqlite3.connect(tmp_path / "demo" / "hub.db") as db:
        assert db.execute("SELECT count(*) FROM hub_enroll_codes").fetchone() == (1,)
        assert db.execute("SELECT count(*) FROM hub_nodes").fetchone() == (1,)


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
