"""Benchmark: push and pull through HubClient against a real hub process (loopback).

    python bench/hub.py [--ops 100000] [--batch 1000] [--page 1000] [--db postgresql://…] [--v4]

Starts ``officesync hub serve`` on a free port with a temporary SQLite database (or, with
``--db postgresql://…``, a fresh schema on that server, dropped afterwards), enrolls a node,
pushes ``--ops`` creates of ~300-byte customer records (v7 ids, as the node makes them;
``--v4`` for random ones), pulls them back, prints rates: the
whole push, and the first and the last tenth of it (a push that slows as the hub's tables grow
shows as a last tenth slower than the first).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# This file is named hub.py: keep its folder off the path so ``import hub`` finds the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.samples, tests.hub

import orjson  # noqa: E402

from agent.cloud.client import HubClient  # noqa: E402
from bench.samples import customer  # noqa: E402
from hub import nodes  # noqa: E402
from protocol.ids import new_id  # noqa: E402
from protocol.models import Action, Op  # noqa: E402
from tests.hub.helpers import admin, make_code  # noqa: E402

DS = "bench"


def prepare(db_url: str) -> str:
    admin(db_url, nodes.create_dataset, DS)
    return make_code(db_url, DS)


def start_hub(db_url: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "officesync", "hub", "serve", "--db", db_url, "--port", "0"],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("officesync hub listening on "):
        proc.kill()
        raise SystemExit(f"hub did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[1]


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of process ``pid`` (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """User+system CPU time of every local process named ``postgres`` (the server's backends,
    WAL writer, checkpointer…; other users of the same server count too)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in text:
            total += cpu_seconds(int(stat.parent.name))
    return total


class Meter:
    """Wall time and the CPU time of the hub, of this (client) process and, for a PostgreSQL
    hub, of the local PostgreSQL server for one phase."""

    def __init__(self, hub_pid: int, postgres: bool) -> None:
        self.hub_pid, self.postgres = hub_pid, postgres
        self.server = postgres_cpu_seconds() if postgres else 0.0
        self.wall, self.hub, self.client = time.perf_counter(), cpu_seconds(hub_pid), \
            time.process_time()

    def stop(self) -> tuple[float, float, float, float | None]:
        server = postgres_cpu_seconds() - self.server if self.postgres else None
        return (time.perf_counter() - self.wall, cpu_seconds(self.hub_pid) - self.hub,
                time.process_time() - self.client, server)


def report(name: str, unit: str, total: int, spent: tuple[float, float, float, float | None],
           what: str) -> None:
    wall, hub_cpu, client_cpu, server_cpu = spent
    server = "" if server_cpu is None else \
        f", PostgreSQL {server_cpu:.2f} s = {server_cpu / total * 1e6:.0f} µs each"
    print(f"{name}: {total / wall:,.0f} {unit}/s ({wall:.2f} s, {what}); "
          f"CPU hub {hub_cpu:.2f} s = {hub_cpu / total * 1e6:.0f} µs each, "
          f"client {client_cpu:.2f} s{server}")


async def run(base: str, code: str, total: int, batch: int, page: int, hub_pid: int,
              v4: bool, postgres: bool) -> None:
    anonymous = HubClient(base)
    token = (await anonymous.enroll(code, "bench-node")).token
    await anonymous.close()
    client = HubClient(base, token)
    make_id = (lambda: str(uuid.uuid4())) if v4 else new_id  # the node makes v7 ids
    ops = [Op(op_id=make_id(), collection="customers", id=make_id(),
              action=Action.CREATE, data=customer(i)) for i in range(total)]
    size = sum(len(orjson.dumps(op.data)) for op in ops[:100]) / 100
    meter, tenth = Meter(hub_pid, postgres), max(batch, total // 10 // batch * batch)
    tenths: list[tuple[int, float]] = []  # (ops, wall seconds) per tenth of the push
    part = time.perf_counter()
    for start in range(0, total, batch):
        results = await client.push(DS, ops[start : start + batch])
        assert all(r.status == "applied" for r in results), results[0]
        done = start + batch
        if done % tenth == 0 or done >= total:
            now = time.perf_counter()
            tenths.append((done - sum(n for n, _ in tenths), now - part))
            part = now
    push = meter.stop()
    meter, since, pulled = Meter(hub_pid, postgres), 0, 0
    while True:
        changes = await client.changes(DS, since, limit=page)
        pulled += len(changes.changes)
        since = changes.last_seq
        if not changes.has_more:
            break
    pull = meter.stop()
    await client.close()
    assert pulled == total, (pulled, total)
    print(f"records: {total} customers, ~{size:.0f} bytes of data each")
    report("push", "ops", total, push, f"batches of {batch}")
    (first_n, first_s), (last_n, last_s) = tenths[0], tenths[-1]
    print(f"push first {first_n:,} ops: {first_n / first_s:,.0f} ops/s; "
          f"last {last_n:,}: {last_n / last_s:,.0f} ops/s")
    report("pull", "changes", total, pull, f"pages of {page}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--db", help="postgresql://… (a fresh schema there); default SQLite")
    parser.add_argument("--v4", action="store_true",
                        help="random UUIDv4 ids (as nodes made before) instead of v7")
    args = parser.parse_args()
    with database(args.db) as db_url:
        print(f"hub database: {'PostgreSQL' if args.db else 'SQLite'}")
        code = prepare(db_url)
        proc, base = start_hub(db_url)
        try:
            asyncio.run(run(base, code, args.ops, args.batch, args.page, proc.pid, args.v4,
                            args.db is not None))
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@contextmanager
def database(pg_url: str | None) -> Iterator[str]:
    """A temporary SQLite file, or a fresh schema on ``pg_url`` (dropped afterwards)."""
    if pg_url is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'hub.db'}"
        return
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in pg_url else "?"
    try:
        yield f"{pg_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
