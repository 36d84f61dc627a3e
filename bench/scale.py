"""Benchmark: a company's whole books on one node (docs/benchmarks.md, "Scale").

    .venv/bin/python bench/scale.py [--customers 666667] [--requests 100] [--keep DIR]

1. Starts a real ``officesync hub serve`` (temporary SQLite) and seeds it through its API, as
   an enrolled node pushing batches of 1000 ops: 2 accounts, ``--customers`` customers and
   half as many receipt vouchers (their lines reference the accounts; dates over a year).
   The default makes 1,000,002 records. The seeding is not timed.
2. Starts a fresh node process (``officesync serve``, enrolled, nothing held) and times it from
   its start until its status shows every record synced and no first download under way
   (its secondary indexes made): the download time; then until the search indexes hold
   every record (status ``search_backlog`` null). The node's peak
   RSS is its ``VmHWM`` (Linux /proc) after the download and the queries.
3. Pairs a workstation and times ``--requests`` LAN requests of each kind, one at a time:
   key lookup (``?key=``), search (``?q=``: a customer's name or a substring of a tax code),
   date range (a week of vouchers), the sync summary and the sync issues; prints p50 / p99.

Nothing here asserts a bar; the figures are printed for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.e2e helpers

from bench.samples import customer
from protocol.version import PROTOCOL_HEADER, PROTOCOL_VERSION
from tests.e2e.hub_procs import HubProcess, enroll_node
from tests.e2e.procs import NO_KEYRING, NodeProcess, free_port, write_node_config

DS = "bench"
BATCH = 1000
DAY0 = dt.date(2026, 1, 1)


def voucher(i: int, accounts: tuple[str, str]) -> dict[str, Any]:
    """A ~250-byte receipt voucher of day ``i % 365`` of 2026."""
    return {
        "type": "receipt",
        "number": f"PT{i:07d}",
        "date": (DAY0 + dt.timedelta(days=i % 365)).isoformat(),
        "description": f"Thu tiền khách hàng theo hóa đơn số {i}",
        "lines": [{"debit": accounts[0], "credit": accounts[1], "amount": 1_250_000 + i}],
    }


async def seed(hub: HubProcess, customers: int) -> int:
    """Push the records through the hub's API; return how many."""
    async with aiohttp.ClientSession(
            headers={PROTOCOL_HEADER: str(PROTOCOL_VERSION)}) as session:
        async with session.post(f"{hub.url}/v1/enroll",
                                json={"code": hub.enroll_code(DS), "node_name": "seeder"}) as r:
            r.raise_for_status()
            token = (await r.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{hub.url}/v1/datasets/{DS}/push"

        async def push(ops: list[dict[str, Any]]) -> None:
            async with session.post(url, json={"ops": ops}, headers=headers) as r:
                r.raise_for_status()
                results = (await r.json())["results"]
                refused = [x for x in results if x["status"] != "applied"]
                if refused:
                    raise RuntimeError(f"hub refused {len(refused)} ops: {refused[0]}")

        def op(collection: str, data: dict[str, Any], record_id: str | None = None
               ) -> dict[str, Any]:
            return {"op_id": str(uuid.uuid4()), "id": record_id or str(uuid.uuid4()),
                    "collection": collection, "action": "create", "data": data}

        accounts = (str(uuid.uuid4()), str(uuid.uuid4()))
        await push([op("accounts", {"number": "111", "name": "Tiền mặt"}, accounts[0]),
                    op("accounts", {"number": "131", "name": "Phải thu của khách hàng"},
                       accounts[1])])
        total = 2
        t0 = time.monotonic()
        makers: list[tuple[str, int, Callable[[int], dict[str, Any]]]] = [
            ("customers", customers, customer),
            ("vouchers", customers // 2, lambda i: voucher(i, accounts))]
        for collection, count, make in makers:
            for start in range(0, count, BATCH):
                await push([op(collection, make(i))
                            for i in range(start, min(count, start + BATCH))])
                total += min(count, start + BATCH) - start
                if total % 100_000 < BATCH:
                    print(f"  seeded {total:,} records ({time.monotonic() - t0:.0f} s)",
                          flush=True)
        return total


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def held(session: aiohttp.ClientSession, node: NodeProcess
               ) -> tuple[int, dict[str, Any] | None, int | None]:
    """How many records the node's status counts for the dataset (0 before it answers), its
    first download's progress (``{"done","total"}``, None when none runs) and how many
    records still wait for the search indexes (None: none)."""
    headers = {"Authorization": f"Bearer {node.control_token()}"}
    try:
        async with session.get(f"{node.control_url}/control/v1/status", headers=headers) as r:
            if r.status != 200:
                return 0, None, None
            status = await r.json()
    except (aiohttp.ClientError, OSError):
        return 0, None, None
    for entry in status.get("datasets", []):
        if entry.get("id") == DS and entry.get("counts"):
            return (int(entry["counts"].get("synced", 0)), entry.get("download"),
                    entry.get("search_backlog"))
    return 0, None, None


async def pair(session: aiohttp.ClientSession, node: NodeProcess) -> str:
    ctl = {"Authorization": f"Bearer {node.control_token()}"}
    async with session.post(f"{node.control_url}/control/v1/pairing-code", headers=ctl) as r:
        r.raise_for_status()
        code = (await r.json())["code"]
    async with session.post(f"{node.lan_url}/api/v1/pair",
                            json={"code": code, "name": "bench"}) as r:
        r.raise_for_status()
        return str((await r.json())["token"])


async def timed(session: aiohttp.ClientSession, urls: list[str], token: str
                ) -> tuple[list[float], int]:
    """Milliseconds of each GET, one after another; and how many items the last answered."""
    headers = {"Authorization": f"Bearer {token}"}
    took: list[float] = []
    items = 0
    for url in urls:
        t0 = time.perf_counter()
        async with session.get(url, headers=headers) as r:
            body = await r.json()
            if r.status != 200:
                raise RuntimeError(f"{url}: {r.status} {body}")
        took.append((time.perf_counter() - t0) * 1000)
        items = len(body.get("items", [])) if isinstance(body, dict) else 0
    return took, items


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def queries(session: aiohttp.ClientSession, node: NodeProcess, customers: int,
                  n: int) -> None:
    token = await pair(session, node)
    rnd = random.Random(13)
    base = f"{node.lan_url}/api/v1/datasets/{DS}"
    picks = [rnd.randrange(customers) for _ in range(n)]

    def search(i: int, j: int) -> str:
        # alternately a customer's name and a substring of its tax code (digits 3..9)
        text = f"Dịch vụ Số {i}" if j % 2 else f"{i:010d}"[2:9]
        return f"{base}/records/customers?q={text}"

    def week(i: int) -> str:
        start = DAY0 + dt.timedelta(days=i % 358)
        return (f"{base}/records/vouchers?date_from={start.isoformat()}"
                f"&date_to={(start + dt.timedelta(days=6)).isoformat()}")

    kinds = {
        "key lookup": [f"{base}/records/customers?key=KH{i:07d}" for i in picks],
        "search": [search(i, j) for j, i in enumerate(picks)],
        "date range (a week)": [week(i) for i in picks],
        "sync summary": [f"{base}/sync"] * n,
        "sync issues": [f"{base}/sync/issues"] * n,
    }
    for name, urls in kinds.items():
        await timed(session, urls[:5], token)  # warm the connection and the page cache
        took, items = await timed(session, urls, token)
        print(f"  {name:20s} p50 {pct(took, .5):7.1f} ms  p99 {pct(took, .99):7.1f} ms  "
              f"mean {statistics.mean(took):6.1f} ms  (last answer: {items} items)")


async def main(args: argparse.Namespace) -> None:
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="officesync-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    seeded = root / "seeded.txt"  # a kept folder's hub is seeded once: its record count
    hub = HubProcess(f"sqlite:///{root}/hub.db", free_port(), root / "logs", env=NO_KEYRING)
    node: NodeProcess | None = None
    try:
        if not seeded.exists():
            hub.create_dataset(DS)
        hub.start()
        if seeded.exists():
            total = int(seeded.read_text())
            print(f"hub at {hub.url}, seeded before: {total:,} records", flush=True)
        else:
            print(f"hub at {hub.url}; seeding {args.customers:,} customers and "
                  f"{args.customers // 2:,} vouchers", flush=True)
            t0 = time.monotonic()
            total = await seed(hub, args.customers)
            seeded.write_text(str(total))
            print(f"seeded {total:,} records in {time.monotonic() - t0:.1f} s", flush=True)

        shutil.rmtree(root / "scale-data", ignore_errors=True)  # a fresh node every run
        config = write_node_config(root, name="scale", datasets=(DS,), cloud_url=hub.url,
                                   language="en")
        enroll_node(config, hub, hub.enroll_code(DS), NO_KEYRING)
        node = NodeProcess(config, env=NO_KEYRING, log_dir=root / "logs" / "node")
        t0 = time.monotonic()
        node.start()
        async with aiohttp.ClientSession() as session:
            last = 0.0
            # every record held, and the download's end (its indexes made) in the status
            while ((count := (answer := await held(session, node))[0]) < total
                   or answer[1] is not None):
                if time.monotonic() - t0 > args.timeout:
                    raise TimeoutError(f"the node holds {count:,} of {total:,} records after "
                                       f"{args.timeout:.0f} s")
                if time.monotonic() - last > 10:
                    last = time.monotonic()
                    print(f"  node holds {count:,} ({last - t0:.0f} s; status download: "
                          f"{answer[1]})", flush=True)
                await asyncio.sleep(0.2)
            took = time.monotonic() - t0
            print(f"download: {total:,} records in {took:.1f} s = {total / took:,.0f} rec/s "
                  f"(from the node's start); peak RSS so far {peak_rss_mb(node.pid):.0f} MB",
                  flush=True)
            # then the search indexes take in what the download left them (the search reads
            # the records meanwhile): the queries are timed once they have
            while (answer := await held(session, node))[2] is not None:
                if time.monotonic() - last > 10:
                    last = time.monotonic()
                    print(f"  search backlog: {answer[2]:,} records", flush=True)
                await asyncio.sleep(0.2)
            print(f"search indexes ready {time.monotonic() - t0:.1f} s from the node's start",
                  flush=True)
            await queries(session, node, args.customers, args.requests)
        disk = sum(f.stat().st_size for f in node.data_dir.rglob("*") if f.is_file())
        print(f"node peak RSS: {peak_rss_mb(node.pid):.0f} MB; node data: "
              f"{disk / 2**20:,.0f} MB on disk")
    finally:
        if node is not None:
            node.kill()
        hub.kill()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=666_667,
                        help="customers to seed (vouchers: half as many; 2 accounts)")
    parser.add_argument("--requests", type=int, default=100, help="requests of each kind")
    parser.add_argument("--timeout", type=float, default=1800, help="download limit, seconds")
    parser.add_argument("--keep", default="",
                        help="work in this folder and keep it (its hub is seeded once)")
    asyncio.run(main(parser.parse_args()))
