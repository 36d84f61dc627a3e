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
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

# This file is named hub.py: keep its folder off the path so ``import hub`` finds the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.samples, tests.hub

import orjson  # noqa: E402

from agent.cloud.client import HubClient  # noqa: E402
from bench.samples import customer, database  # noqa: E402
from hub import nodes  # noqa: E402
from protocol.ids import new_id  # noqa: E402
from protocol.models import Action, Op  # noqa: E402
from tests.hub.helpers import admin, make_code  # noqa: E402

DS = "bench"


def prepare(db_url: str, dataset: str) -> str:
    admin(db_url, nodes.create_dataset, dataset)
    return make_code(db_url, dataset)


def start_hub(db_url: str, workers: int = 1) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "officesync", "hub", "serve", "--db", db_url, "--port", "0",
         "--workers", str(workers)],
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


def with_children(pid: int) -> list[int]:
    """``pid`` and its child processes (``--workers``: the supervisor and its workers)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return [pid, *map(int, children)]


class Meter:
    """Wall time and the CPU time of the hub, of this (client) process and, for a PostgreSQL
    hub, of the local PostgreSQL server for one phase."""

    def __init__(self, hub_pids: list[int], postgres: bool) -> None:
        self.hub_pids, self.postgres = hub_pids, postgres
        self.server = postgres_cpu_seconds() if postgres else 0.0
        self.wall, self.hub, self.client = time.perf_counter(), self._hub(), time.process_time()

    def _hub(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.hub_pids for pid in with_children(pid))

    def stop(self) -> tuple[float, float, float, float | None]:
        server = postgres_cpu_seconds() - self.server if self.postgres else None
        return (time.perf_counter() - self.wall, self._hub() - self.hub,
                time.process_time() - self.client, server)


def report(name: str, unit: str, total: int, spent: tuple[float, float, float, float | None],
           what: str) -> None:
    wall, hub_cpu, client_cpu, server_cpu = spent
    server = "" if server_cpu is None else \
        f", PostgreSQL {server_cpu:.2f} s = {server_cpu / total * 1e6:.0f} µs each"
    print(f"{name}: {total / wall:,.0f} {unit}/s ({wall:.2f} s, {what}); "
          f"CPU hub {hub_cpu:.2f} s = {hub_cpu / total * 1e6:.0f} µs each, "
          f"client {client_cpu:.2f} s{server}")


async def push_all(clients: list[HubClient], dataset: str, ops: list[Op], batch: int,
                   in_flight: int, first: int, done: list[tuple[float, int]]) -> None:
    """Push ``ops`` to ``dataset`` in batches, ``in_flight`` requests at a time, the n-th
    request to ``clients[(first + n) % len(clients)]`` (round robin, as a load balancer
    in front of several hub instances would); each answered batch appends (time, ops)."""
    window: list[asyncio.Task[list[Any]]] = []
    for n, start in enumerate(range(0, len(ops), batch)):
        client = clients[(first + n) % len(clients)]
        window.append(asyncio.create_task(client.push(dataset, ops[start : start + batch])))
        if len(window) < in_flight and start + batch < len(ops):
            continue
        while window and (len(window) >= in_flight or start + batch >= len(ops)):
            results = await window.pop(0)
            assert all(r.status == "applied" for r in results), results[0]
            done.append((time.perf_counter(), len(results)))


def tenths(begin: float, done: list[tuple[float, int]], total: int) -> tuple[float, float]:
    """Rates (ops/s) of the first and the last tenth of the push's ops, by answer time."""
    tenth, answered, count = total // 10, [], 0
    for at, n in sorted(done):
        count += n
        answered.append((at, count))
    first_end = next(at for at, count in answered if count >= tenth)
    last_start = max((at for at, count in answered if count <= total - tenth), default=begin)
    return tenth / (first_end - begin), tenth / (answered[-1][0] - last_start)


async def run(bases: list[str], codes: list[str], total: int, batch: int, page: int,
              in_flight: int, hub_pids: list[int], v4: bool, postgres: bool) -> None:
    """``total`` creates spread over one node per code (each its own dataset), pushed to the
    hub instances at ``bases``, then pulled back."""
    tokens: list[str] = []
    for code in codes:
        anonymous = HubClient(bases[0])
        tokens.append((await anonymous.enroll(code, f"bench-node-{len(tokens)}")).token)
        await anonymous.close()
    clients = [[HubClient(base, token) for base in bases] for token in tokens]
    make_id: Callable[[], str] = (lambda: str(uuid.uuid4())) if v4 else new_id  # node: v7
    share = total // len(codes)
    ops = [[Op(op_id=make_id(), collection="customers", id=make_id(), action=Action.CREATE,
               data=customer(node * share + i)) for i in range(share)]
           for node in range(len(codes))]
    total = share * len(codes)
    size = sum(len(orjson.dumps(op.data)) for op in ops[0][:100]) / 100
    done: list[tuple[float, int]] = []
    meter = Meter(hub_pids, postgres)
    await asyncio.gather(*(
        push_all(clients[node], dataset_of(node), ops[node], batch, in_flight, node, done)
        for node in range(len(codes))))
    push = meter.stop()
    first, last = tenths(meter.wall, done, total)
    meter, pulled = Meter(hub_pids, postgres), 0
    for node in range(len(codes)):
        since = 0
        while True:
            changes = await clients[node][0].changes(dataset_of(node), since, limit=page)
            pulled += len(changes.changes)
            since = changes.last_seq
            if not changes.has_more:
                break
    pull = meter.stop()
    for per_node in clients:
        for client in per_node:
            await client.close()
    assert pulled == total, (pulled, total)
    print(f"records: {total} customers, ~{size:.0f} bytes of data each")
    shape = (f"batches of {batch}, {len(codes)} node(s), {in_flight} in flight each, "
             f"{len(bases)} hub instance(s)")
    report("push", "ops", total, push, shape)
    print(f"push first {total // 10:,} ops: {first:,.0f} ops/s; "
          f"last {total // 10:,}: {last:,.0f} ops/s")
    report("pull", "changes", total, pull, f"pages of {page}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def dataset_of(node: int) -> str:
    return DS if node == 0 else f"{DS}-{node}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--db", help="postgresql://… (a fresh schema there); default SQLite")
    parser.add_argument("--v4", action="store_true",
                        help="random UUIDv4 ids (as nodes made before) instead of v7")
    parser.add_argument("--nodes", type=int, default=1,
                        help="nodes pushing at once, each to its own dataset (--ops shared)")
    parser.add_argument("--in-flight", type=int, default=1,
                        help="requests each node has in flight (the node sends 1)")
    parser.add_argument("--workers", type=int, default=1,
                        help="hub serve --workers (PostgreSQL only): processes on one port")
    parser.add_argument("--instances", type=int, default=1,
                        help="hub processes on the same database (PostgreSQL only), "
                             "requests spread round robin")
    args = parser.parse_args()
    if (args.instances > 1 or args.workers > 1) and args.db is None:
        parser.error("--instances or --workers above 1 needs --db postgresql://…: a SQLite "
                     "hub is one process (one writer; its feed wakes only its own long-polls)")
    with database(args.db) as db_url:
        print(f"hub database: {'PostgreSQL' if args.db else 'SQLite'}")
        codes = [prepare(db_url, dataset_of(node)) for node in range(args.nodes)]
        procs: list[subprocess.Popen[str]] = []
        try:
            bases = []
            for _ in range(args.instances):
                proc, base = start_hub(db_url, args.workers)
                procs.append(proc)
                bases.append(base)
            asyncio.run(run(bases, codes, args.ops, args.batch, args.page, args.in_flight,
                            [p.pid for p in procs], args.v4, args.db is not None))
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)


if __name__ == "__main__":
    main()
