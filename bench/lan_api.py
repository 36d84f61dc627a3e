"""LAN API benchmark: N concurrent workstations creating vouchers against a REAL node process.

    .venv/bin/python bench/lan_api.py [--seconds 20] [--clients 50] [--procs 1]
    .venv/bin/python bench/lan_api.py --wrk [--wrk-threads 2]     # wrk as the load generator

The script starts ``officesync serve`` on free loopback ports with a temp data dir, pairs a
workstation through the control API, seeds two accounts (every voucher's lines reference
them), then runs the load for ``--seconds`` and prints writes/s and latency percentiles.
Every 201 answer is an acknowledged, durable write (the node commits before it answers).

The load generator shares the machine's cores with the node: its CPU time is measured and
printed next to the node's so the numbers can be read honestly. ``--procs P`` splits the
clients over P generator processes (each one aiohttp session, connector limit = its clients).
``--wrk`` runs the load with ``wrk`` (a C load generator, Debian package ``wrk``) and
bench/wrk_vouchers.lua instead, against the same node, token and accounts: far less of the
machine goes to the generator. ``--py-spy FILE`` samples the node with py-spy during the load
(collapsed stacks, one line per stack) and prints the functions that took the most of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from tests.e2e.procs import NO_KEYRING, NodeProcess, write_node_config

DATASET = "bench"
WRK_SCRIPT = Path(__file__).with_name("wrk_vouchers.lua")
BAR_WRITES_S = 3000
BAR_P99_MS = 50.0


@dataclass
class Shard:
    """One generator process's results."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    cpu_s: float = 0.0
    started: float = 0.0
    ended: float = 0.0


def voucher(
    accounts: tuple[str, str], shard: int, worker: int, n: int, numbered: bool
) -> dict[str, Any]:
    """A ~300-byte receipt voucher (JSON) whose lines reference the two seeded accounts."""
    data: dict[str, Any] = {
        "type": "receipt",
        "date": "2026-11-28",
        "description": f"Thu tiền khách hàng theo hóa đơn {shard}-{worker}-{n}",
        "lines": [{"debit": accounts[0], "credit": accounts[1], "amount": 1_250_000 + n}],
    }
    if numbered:
        data["number"] = f"PT{shard:02d}{worker:03d}{n:07d}"
    return {"data": data}


async def _worker(
    session: aiohttp.ClientSession, url: str, until: float, shard: int, worker: int,
    accounts: tuple[str, str], numbered: bool, out: Shard,
) -> None:
    n = 0
    while time.monotonic() < until:
        n += 1
        body = voucher(accounts, shard, worker, n, numbered)
        t0 = time.perf_counter()
        async with session.post(url, json=body) as resp:
            await resp.read()
            status = resp.status
        elapsed = (time.perf_counter() - t0) * 1000
        if status == 201:
            out.latencies_ms.append(elapsed)
        else:
            out.errors[str(status)] = out.errors.get(str(status), 0) + 1


async def _load(
    lan_url: str, token: str, accounts: tuple[str, str], shard: int, clients: int,
    start_at: float, seconds: float, numbered: bool,
) -> Shard:
    out = Shard()
    url = f"{lan_url}/api/v1/datasets/{DATASET}/records/vouchers"
    connector = aiohttp.TCPConnector(limit=clients)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        cpu0 = time.process_time()
        out.started = time.time()
        until = time.monotonic() + seconds
        await asyncio.gather(*(
            _worker(session, url, until, shard, w, accounts, numbered, out) for w in range(clients)
        ))
        out.ended = time.time()
        out.cpu_s = time.process_time() - cpu0
    return out


def run_shard(*args: Any) -> Shard:
    """Entry point of a generator process."""
    return asyncio.run(_load(*args))


def _proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _prepare(node: NodeProcess) -> tuple[str, tuple[str, str]]:
    """Pair through the control API and seed two accounts; return (token, account ids)."""
    ctl = {"Authorization": f"Bearer {node.control_token()}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{node.control_url}/control/v1/pairing-code", headers=ctl) as r:
            r.raise_for_status()
            code = (await r.json())["code"]
        async with session.post(
            f"{node.lan_url}/api/v1/pair", json={"code": code, "name": "bench"}
        ) as r:
            r.raise_for_status()
            token = (await r.json())["token"]
        ids = []
        for number, name in (("111", "Tiền mặt"), ("131", "Phải thu của khách hàng")):
            async with session.post(
                f"{node.lan_url}/api/v1/datasets/{DATASET}/records/accounts",
                json={"data": {"number": number, "name": name}},
                headers={"Authorization": f"Bearer {token}"},
            ) as r:
                r.raise_for_status()
                ids.append((await r.json())["id"])
    return token, (ids[0], ids[1])


def _percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def summarize(shards: list[Shard], seconds: float) -> dict[str, Any]:
    """The figures of the aiohttp generator's shards (the node's CPU is added by main)."""
    lat = sorted(x for s in shards for x in s.latencies_ms)
    errors: dict[str, int] = {}
    for s in shards:
        for k, v in s.errors.items():
            errors[k] = errors.get(k, 0) + v
    wall = max(s.ended for s in shards) - min(s.started for s in shards)
    gen_cpu = sum(s.cpu_s for s in shards)
    return {
        "writes": len(lat),
        "wall_s": round(wall, 2),
        "writes_per_s": round(len(lat) / wall, 1) if wall else 0.0,
        "p50_ms": round(_percentile(lat, 0.50), 2),
        "p99_ms": round(_percentile(lat, 0.99), 2),
        "p999_ms": round(_percentile(lat, 0.999), 2),
        "max_ms": round(lat[-1], 2) if lat else None,
        "mean_ms": round(statistics.fmean(lat), 2) if lat else None,
        "errors": errors,
        "generator_cpu_pct_of_one_core": round(100 * gen_cpu / wall, 1) if wall else None,
        "seconds_requested": seconds,
    }


def run_wrk(lan_url: str, token: str, accounts: tuple[str, str], clients: int,
            threads: int, seconds: float) -> dict[str, Any]:
    """The load by ``wrk`` with bench/wrk_vouchers.lua: its figures, in summarize()'s terms."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
    url = f"{lan_url}/api/v1/datasets/{DATASET}/records/vouchers"
    env = {**os.environ, "OFFICESYNC_TOKEN": token,
           "OFFICESYNC_DEBIT": accounts[0], "OFFICESYNC_CREDIT": accounts[1]}
    cmd = [wrk, "-t", str(threads), "-c", str(clients), "-d", f"{seconds:g}s",
           "--timeout", "10s", "-s", str(WRK_SCRIPT), url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True,
                          timeout=seconds + 60, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = re.search(r"^WRK_JSON (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    w = json.loads(found.group(1))
    wall = w["duration_s"]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "writes": w["writes"],
        "wall_s": round(wall, 2),
        "writes_per_s": round(w["writes"] / wall, 1) if wall else 0.0,
        "p50_ms": w["p50_ms"], "p99_ms": w["p99_ms"], "p999_ms": w["p999_ms"],
        "max_ms": w["max_ms"], "mean_ms": w["mean_ms"],
        "errors": w["errors"],
        "generator_cpu_pct_of_one_core": round(100 * cpu / wall, 1) if wall else None,
        "seconds_requested": seconds,
        "generator": f"wrk -t{threads} -c{clients}",
    }


def start_py_spy(pid: int, out: Path, seconds: float, rate: int) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid`` for ``seconds`` (non-blocking: the node is not paused)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(
        [spy, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", str(rate),
         "-f", "raw", "-o", str(out), "--nonblocking", "--threads"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def spy_summary(path: Path, rate: int, writes: int, top: int = 18) -> str:
    """Share of the samples per thread, and the functions with the most samples of their own
    (self) and under them (inclusive), each in microseconds of the node per write."""
    threads: dict[str, int] = {}
    own: dict[str, int] = {}
    under: dict[str, int] = {}
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        total += n
        thread = re.sub(r"^thread \(\d+\): ", "", frames[0])
        threads[thread] = threads.get(thread, 0) + n
        names = [re.sub(r" \((?:.*/site-packages/|.*/lib/python3\.\d+/|" + re.escape(
            str(Path(__file__).resolve().parents[1])) + r"/)?(.*?):\d+\)$", r" (\1)", f)
            for f in frames[1:]]
        if names:
            own[names[-1]] = own.get(names[-1], 0) + n
        for name in set(names):
            under[name] = under.get(name, 0) + n
    if not total:
        return "  py-spy: no samples"
    per_write = 1e6 / rate / max(1, writes)

    def rows(counts: dict[str, int], k: int) -> list[str]:
        best = sorted(counts.items(), key=lambda kv: -kv[1])[:k]
        return [f"    {100 * n / total:5.1f} %  {n * per_write:6.0f} us/write  {name}"
                for name, n in best]

    lines = [f"  py-spy: {total} samples at {rate} Hz ({total * per_write:.0f} us of the "
             "node per write)", "  by thread:", *rows(threads, 6), "  self:", *rows(own, top),
             "  inclusive (project code):",
             *rows({k: v for k, v in under.items()
                    if re.search(r"\((agent|httpkit|protocol)/", k)}, top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--procs", type=int, default=1, help="load generator processes")
    parser.add_argument("--wrk", action="store_true",
                        help="generate the load with wrk and bench/wrk_vouchers.lua")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk's threads (-t)")
    parser.add_argument("--py-spy", type=Path, default=None, metavar="FILE",
                        help="sample the node with py-spy during the load into FILE")
    parser.add_argument("--py-spy-rate", type=int, default=100, help="samples per second")
    parser.add_argument("--numbered", action="store_true",
                        help="send voucher numbers instead of letting the node number them")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON only")
    parser.add_argument("--tmp", default=None,
                        help="parent dir of the node's temp data dir (e.g. /dev/shm to take "
                             "the disk's fsync out of the picture; not durable then)")
    args = parser.parse_args(argv)
    if args.clients < args.procs:
        parser.error("--clients must be at least --procs")
    if args.wrk and args.numbered:
        parser.error("--numbered is not implemented by the wrk script")

    spy: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory(prefix="officesync-bench-", dir=args.tmp) as tmp:
        config = write_node_config(Path(tmp), name="bench-node", datasets=[DATASET],
                                   log={"level": "WARNING"})
        node = NodeProcess(config, env=NO_KEYRING)
        node.start()
        try:
            token, accounts = asyncio.run(_prepare(node))
            per = [args.clients // args.procs + (i < args.clients % args.procs)
                   for i in range(args.procs)]
            delay = 0.0 if args.wrk else 1.0 + 0.5 * args.procs
            start_at = time.time() + delay
            if args.py_spy:
                spy = start_py_spy(node.pid, args.py_spy, delay + args.seconds, args.py_spy_rate)
            node_cpu0 = _proc_cpu_s(node.pid)
            if args.wrk:
                result = run_wrk(node.lan_url, token, accounts, args.clients,
                                 args.wrk_threads, args.seconds)
            else:
                shard_args = [
                    (node.lan_url, token, accounts, i, n, start_at, args.seconds, args.numbered)
                    for i, n in enumerate(per)
                ]
                if args.procs == 1:
                    shards = [run_shard(*shard_args[0])]
                else:
                    with ProcessPoolExecutor(args.procs) as pool:
                        shards = list(pool.map(run_shard, *zip(*shard_args, strict=True)))
                result = summarize(shards, args.seconds)
            node_cpu = _proc_cpu_s(node.pid) - node_cpu0
            if spy is not None:
                spy.wait(timeout=60)
        finally:
            node.terminate()
    wall, writes = result["wall_s"], result["writes"]
    result.update(
        node_cpu_pct_of_one_core=round(100 * node_cpu / wall, 1) if wall else None,
        node_cpu_ms_per_write=round(1000 * node_cpu / writes, 3) if writes else None,
        loadavg_1m_after=round(os.getloadavg()[0], 2),
        clients=args.clients, procs=args.procs, cpus=os.cpu_count(),
        generator_max_rss_mb=round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    result.setdefault("generator", f"aiohttp, {args.procs} process(es)")
    if args.json:
        print(json.dumps(result))
    else:
        _report(result)
        if args.py_spy:
            print(spy_summary(args.py_spy, args.py_spy_rate, writes))
    return 0 if result["writes"] and not result["errors"] else 1


def _report(r: dict[str, Any]) -> None:
    ok = r["writes_per_s"] >= BAR_WRITES_S and r["p99_ms"] <= BAR_P99_MS
    print(f"LAN API: {r['clients']} workstations creating vouchers for {r['wall_s']} s "
          f"(load generator: {r['generator']}; {r['cpus']} CPUs)")
    print(f"  durable writes     {r['writes']}  ({r['writes_per_s']:.0f} writes/s)")
    print(f"  latency ms         p50 {r['p50_ms']}  p99 {r['p99_ms']}  p99.9 {r['p999_ms']}  "
          f"max {r['max_ms']}")
    print(f"  errors             {r['errors'] or 'none'}")
    print(f"  CPU (% of 1 core)  node {r['node_cpu_pct_of_one_core']}  "
          f"load generator {r['generator_cpu_pct_of_one_core']}")
    print(f"  node CPU per write {r['node_cpu_ms_per_write']} ms")
    print(f"  load average 1m    {r['loadavg_1m_after']}")
    print(f"  bar (>= {BAR_WRITES_S}/s, p99 <= {BAR_P99_MS:.0f} ms): {'MET' if ok else 'NOT MET'}")


if __name__ == "__main__":
    sys.exit(main())
