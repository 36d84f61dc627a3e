"""The hub's admin CLI and a real ``officesync hub serve`` process."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
from click.testing import CliRunner

from hub.cli import hub

SERVE_TIMEOUT = 30


async def start_hub(db_url: str) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "officesync", "hub", "serve", "--db", db_url, "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), SERVE_TIMEOUT)).decode().strip()
    prefix = "officesync hub listening on "
    assert line.startswith(prefix), line
    return proc, line[len(prefix):]


def test_dataset_create_and_enroll_code(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/sub/hub.db"
    runner = CliRunner()
    created = runner.invoke(hub, ["dataset", "create", "cty-abc", "--db", db])
    assert created.exit_code == 0, created.output
    again = runner.invoke(hub, ["dataset", "create", "cty-abc", "--db", db])
    assert again.exit_code == 0 and "already exists" in again.output
    code = runner.invoke(hub, ["enroll-code", "--dataset", "cty-abc", "--db", db])
    assert code.exit_code == 0
    last = code.stdout.strip().splitlines()[-1]
    assert len(last) == 14 and last.count("-") == 2


def test_errors_exit_non_zero_with_one_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/hub.db"
    runner = CliRunner()
    for args in (["enroll-code", "--dataset", "cty-none", "--db", db],
                 ["dataset", "create", "Bad Id", "--db", db],
                 ["dataset", "create", "cty-x", "--db", "mysql://nobody/x"]):
        result = runner.invoke(hub, args)
        assert result.exit_code != 0, args
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


async def test_serve_prints_real_port_and_stops_on_sigterm(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/hub.db"
    proc, base = await start_hub(db)
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{base}/v1/health") as r:
            assert r.status == 200
            assert (await r.json())["service"] == "officesync-hub"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), SERVE_TIMEOUT) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_serve_with_a_bad_database_exits_with_a_reason() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "officesync", "hub", "serve", "--db", "mysql://x/y",
        "--port", "0", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), SERVE_TIMEOUT)
    assert proc.returncode != 0
    assert len(err.decode().strip().splitlines()) == 1 and "database" in err.decode().lower()
