"""``officesync hub serve --workers N``: several hub processes on one port (PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.cloud.client import HubClient
from hub import nodes
from protocol.ids import new_id
from protocol.models import Action, Op
from tests.hub.helpers import admin, make_code

SERVE_TIMEOUT = 30
PREFIX = "officesync hub listening on "


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _until(check: Callable[[], bool]) -> None:
    """Bounded wait for what only /proc shows (a worker started again)."""
    deadline = time.monotonic() + SERVE_TIMEOUT
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


def _ops(n: int) -> list[Op]:
    return [Op(op_id=new_id(), collection="customers", id=new_id(), action=Action.CREATE,
               data={"code": f"KH{new_id()[-8:]}", "name": f"Khách {i}"}) for i in range(n)]


@pytest.mark.parametrize(("lang", "words"), [
    ("vi", "Cloud trên SQLite chạy một tiến trình"),
    ("en", "a SQLite hub runs as one process"),
])
def test_a_sqlite_hub_refuses_workers_and_makes_nothing(tmp_path: Path, lang: str,
                                                        words: str) -> None:
    db = tmp_path / "hub" / "hub.db"
    done = subprocess.run(
        [sys.executable, "-m", "officesync", "hub", "serve", "--db", f"sqlite:///{db}",
         "--workers", "2", "--port", "0", "--lang", lang],
        capture_output=True, text=True, timeout=SERVE_TIMEOUT)
    assert done.returncode == 2
    assert words in done.stderr and "PostgreSQL" in done.stderr
    assert "Traceback" not in done.stderr
    assert not db.parent.exists()


@pytest.mark.postgres
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for the workers")
async def test_workers_share_one_port_one_feed_and_come_back_when_killed(pg_url: str) -> None:
    admin(pg_url, nodes.create_dataset, "ds")
    code = make_code(pg_url, "ds")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "officesync", "hub", "serve", "--db", pg_url, "--port", "0",
        "--workers", "2", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), SERVE_TIMEOUT)).decode().strip()
        assert line.startswith(PREFIX), line
        base = line[len(PREFIX):]
        await _until(lambda: len(_children(proc.pid)) == 2)
        first = HubClient(base)
        token = (await first.enroll(code, "office-1")).token
        await first.close()
        # four connections at once: the kernel gives them to both workers, which write
        # the same dataset; the row lock keeps the feed one gap-free sequence
        clients = [HubClient(base, token) for _ in range(4)]
        batches = [_ops(50) for _ in range(8)]
        answers = await asyncio.gather(*(
            clients[n % 4].push("ds", batch) for n, batch in enumerate(batches)))
        seqs = sorted(r.seq for results in answers for r in results if r.seq is not None)
        assert seqs == list(range(1, 401))
        assert all(r.status == "applied" for results in answers for r in results)

        killed = _children(proc.pid)[0]
        os.kill(killed, signal.SIGKILL)
        await _until(lambda: len(_children(proc.pid)) == 2 and killed not in _children(proc.pid))
        again = await clients[0].push("ds", batches[0])  # a replay: answered, not applied twice
        assert [r.seq for r in again] == [r.seq for r in answers[0]]
        assert all(r.replayed for r in again)
        page = await clients[1].changes("ds", 0, limit=1000)
        assert len(page.changes) == 400
        for client in clients:
            await client.close()

        workers = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), SERVE_TIMEOUT) == 0
        assert not any(_alive(pid) for pid in workers)
        err = (await proc.stderr.read()).decode()
        assert f"pid {killed}) exited with status -9" in err and "Traceback" not in err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
