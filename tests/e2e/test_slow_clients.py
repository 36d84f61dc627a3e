"""Issue 8, defect 9: half-open connections must not make a node unreachable.

The node runs as a real process with RLIMIT_NOFILE 1024 (soft and hard, what a service gets
by default, so it cannot raise it). The test opens 1,100 connections that send the start of a
request and never finish its headers: 100 from one address (over its per-address cap) and
1,000 from 20 others (over the total cap). Then, within 1 s each: a paired workstation's new
connection, its connection opened before the flood, and the control API's ``/status`` answer;
the node's descriptors stay below the limit, every flood socket is closed by the header
timeout, and the log stays a few lines. Before the fix, new connections timed out and the log
grew by tens of MB of "Too many open files" tracebacks.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import resource
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .procs import NO_KEYRING, NodeProcess, wait_until, write_node_config

FD_LIMIT = 1024
FLOOD = [("127.0.0.2", 100)] + [(f"127.0.0.{10 + i}", 50) for i in range(20)]  # 1,100
PARTIAL = b"GET /api/v1/info HTTP/1.1\r\nHost: node\r\nUser-Agent: slow"
HEADER_TIMEOUT_S = 3.0
FLOOD_BUDGET_S = 30.0  # opening the flood's sockets stops after this, whatever is left
# Run `officesync serve` with the descriptor limit lowered before Python starts the node.
LIMITED = (
    "import resource, runpy, sys; "
    f"resource.setrlimit(resource.RLIMIT_NOFILE, ({FD_LIMIT}, {FD_LIMIT})); "
    "sys.argv = ['officesync', *sys.argv[1:]]; "
    "runpy.run_module('officesync', run_name='__main__')"
)


@pytest.fixture
def limited_node(tmp_path: Path) -> Iterator[NodeProcess]:
    config = write_node_config(tmp_path, lan={"header_timeout_s": HEADER_TIMEOUT_S})
    node = NodeProcess(config, env=NO_KEYRING)
    node.args = [sys.executable, "-c", LIMITED, "serve", "--config", str(config)]
    node.start()
    try:
        yield node
    finally:
        node.terminate()


@pytest.fixture
def enough_descriptors() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = sum(n for _, n in FLOOD) + 200
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"the test process needs {need} file descriptors (hard limit {hard})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _host_port(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("http://").partition(":")
    return host, int(port)


def _flood(host: str, port: int) -> tuple[list[socket.socket], int]:
    opened: list[socket.socket] = []
    failed = 0
    deadline = time.monotonic() + FLOOD_BUDGET_S
    for source, count in FLOOD:
        for _ in range(count):
            if time.monotonic() > deadline:
                failed += 1
                continue
            try:
                sock = socket.create_connection((host, port), timeout=1,
                                                source_address=(source, 0))
                sock.sendall(PARTIAL)
                opened.append(sock)
            except OSError:
                failed += 1
    return opened, failed


def _timed(conn: http.client.HTTPConnection, path: str,
           headers: dict[str, str]) -> tuple[int, Any, float]:
    started = time.monotonic()
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    body = json.loads(resp.read())
    return resp.status, body, time.monotonic() - started


def _pair(node: NodeProcess, host: str, port: int) -> str:
    conn = http.client.HTTPConnection(host, port, timeout=5)
    body = json.dumps({"code": node.pair_code(), "name": "kế toán"})
    conn.request("POST", "/api/v1/pair", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 201
    token = str(json.loads(resp.read())["token"])
    conn.close()
    return token


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(0)
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True  # reset


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and 127.0.0.x: Linux")
def test_half_open_flood_leaves_the_node_reachable(
    limited_node: NodeProcess, enough_descriptors: None
) -> None:
    node = limited_node
    host, port = _host_port(node.lan_url)
    chost, cport = _host_port(node.control_url)
    auth = {"Authorization": "Bearer " + _pair(node, host, port)}
    control = {"Authorization": "Bearer " + node.control_token()}
    existing = http.client.HTTPConnection(host, port, timeout=1)
    assert _timed(existing, "/api/v1/datasets", auth)[0] == 200
    log_before = node.stderr_path.stat().st_size

    started = time.monotonic()
    flood, failed = _flood(host, port)
    flood_s = time.monotonic() - started
    try:
        fds_during = _open_fds(node.pid)
        fresh = http.client.HTTPConnection(host, port, timeout=1)
        status, body, fresh_s = _timed(fresh, "/api/v1/datasets", auth)
        assert status == 200 and body["datasets"][0]["id"] == "cty-abc"
        status, _, existing_s = _timed(existing, "/api/v1/datasets", auth)
        assert status == 200
        tray = http.client.HTTPConnection(chost, cport, timeout=1)
        status, _, control_s = _timed(tray, "/control/v1/status", control)
        assert status == 200
        assert max(fresh_s, existing_s, control_s) < 1.0
        assert fds_during < FD_LIMIT - 200

        wait_until(lambda: all(_closed(s) for s in flood), HEADER_TIMEOUT_S + 5,
                   "the header timeout to close every flood socket")
        cleared_s = time.monotonic() - started
        fds_after = _open_fds(node.pid)
    finally:
        for sock in flood:
            sock.close()
    log = node.stderr_path.read_text(encoding="utf-8", errors="replace")[log_before:]
    lines = log.splitlines()
    print(f"\nflood: {len(flood)} half-open connections opened ({failed} failed) in "
          f"{flood_s:.2f} s against a node limited to {FD_LIMIT} descriptors; node fds "
          f"during {fds_during}, after {fds_after}; answers during the flood: new "
          f"workstation connection {fresh_s * 1000:.0f} ms, existing one "
          f"{existing_s * 1000:.0f} ms, control /status {control_s * 1000:.0f} ms; all "
          f"flood sockets closed after {cleared_s:.1f} s; log grew by {len(log)} bytes, "
          f"{len(lines)} lines")
    assert len(flood) + failed == 1100 and len(flood) >= 1000
    assert "Too many open files" not in log
    assert len(lines) <= 20 and len(log) < 10_000, log[-3000:]
    with contextlib.suppress(OSError):
        existing.close()
