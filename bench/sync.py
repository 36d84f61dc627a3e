"""Benchmark: sync between nodes and a real hub process (docs/benchmarks.md).

    python bench/sync.py [--ops 100000] [--drain 10000] [--writes 1000] [--only push,pull,...]
    python bench/sync.py --only batch [--batches 10] [--profile FILE]

- batch: no hub. The node's own cost of a push batch of 1,000, in-process on a fresh store,
         stage by stage as the push loop runs them: take the next ops while a batch is in
         flight (``syncing.take_batch``, its commit), serialise a batch, parse the hub's answer,
         store it (``syncing.store_results``, its commit); for creates, then for updates of the
         same (synced) records. ``--profile FILE`` writes a cProfile of those stages.

- push:  a node (in this process) with ``--ops`` queued creates is toggled online; ops/s until
         the outbox is empty and every record is ``synced``.
- pull:  a fresh node enrolls and follows the feed; changes/s until it holds all ``--ops``.
- drain: a node with ``--drain`` queued ops is toggled online; seconds until the queue is empty.
- propagation: real node processes A and B; a workstation on A writes ``--writes`` records one
         by one; latency from the write's request to the ``record`` event on B's WebSocket.

The hub is always a separate ``officesync hub serve`` process with a temporary SQLite file, or
with ``--db postgresql://…`` a fresh schema on that server (dropped afterwards), served by
``--workers`` processes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.e2e helpers

from agent.cloud.client import HubClient, push_body
from agent.config import CloudSection
from agent.events import EventBus
from agent.store import DatasetStore, StoreManager, syncing, writes
from agent.store.node import NodeDB
from agent.store.sqlite import connect_writer
from agent.store.syncing import PendingOp
from agent.sync.engine import SyncEngine
from agent.sync.ordering import assign_base_versions, order_batch
from agent.sync.worker import to_wire
from bench.samples import customer, database
from protocol.accounting import ACCOUNTING_PACK
from protocol.ids import new_id
from protocol.models import PushResponse
from tests.e2e.hub_procs import HubProcess, enroll_node
from tests.e2e.procs import NO_KEYRING, NodeProcess, free_port, write_node_config
from workstation.client import WorkstationClient

DS = "bench"


async def wait_for(check: Any, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class InProcessNode:
    def __init__(self, root: Path, name: str, hub: HubProcess) -> None:
        self.root, self.name, self.hub = root / name, name, hub
        self.engine: SyncEngine | None = None

    async def start(self, *, online: bool) -> None:
        enroller = HubClient(self.hub.url)
        try:
            answer = await enroller.enroll(self.hub.enroll_code(DS), self.name)
        finally:
            await enroller.close()
        self.bus = EventBus()
        self.node_db = NodeDB(self.root / "node.db")
        await self.node_db.open()
        self.stores = StoreManager(self.root, bus=self.bus, local_numbering=False)
        await self.stores.open([DS])
        self.engine = SyncEngine(
            self.stores, self.node_db, self.bus, HubClient(self.hub.url, answer.token),
            CloudSection(probe_interval_s=0.2, probe_timeout_s=2, batch_size=1000,
                         long_poll_s=10, max_backoff_s=1),
            hub_node_id=answer.node_id, online=online,
        )
        await self.engine.start()

    @property
    def store(self) -> DatasetStore:
        return self.stores.get(DS)

    async def fill(self, n: int, first: int = 0) -> None:
        """Queue ``n`` customer creates through the store (group-committed, 200 at a time)."""
        for start in range(first, first + n, 200):
            await asyncio.gather(*(self.store.create("customers", customer(i))
                                   for i in range(start, min(first + n, start + 200))))

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.stop()
        await self.stores.close()
        await self.node_db.close()


async def bench_push(root: Path, hub: HubProcess, ops: int, label: str, first: int = 0
                     ) -> float:
    node = InProcessNode(root, f"push-{label}-{uuid.uuid4().hex[:6]}", hub)
    await node.start(online=False)
    try:
        t = time.perf_counter()
        await node.fill(ops, first)
        print(f"  queued {ops} ops in {time.perf_counter() - t:.1f} s (not measured)")
        assert node.engine is not None
        t = time.perf_counter()
        await node.engine.set_online(True)

        async def drained() -> bool:
            return await node.store.outbox_size() == 0

        await wait_for(drained, 600, "the outbox to drain")
        elapsed = time.perf_counter() - t
        counts = await node.store.sync_counts()
        assert counts["synced"] >= ops and counts["error"] == counts["pending"] == 0, counts
        return elapsed
    finally:
        await node.close()


async def bench_pull(root: Path, hub: HubProcess, expected: int) -> float:
    node = InProcessNode(root, f"pull-{uuid.uuid4().hex[:6]}", hub)
    t = time.perf_counter()
    await node.start(online=True)
    try:
        async def caught_up() -> bool:
            return (await node.store.sync_counts())["synced"] >= expected

        await wait_for(caught_up, 600, "the pull to catch up")
        return time.perf_counter() - t
    finally:
        await node.close()


async def bench_propagation(root: Path, hub: HubProcess, writes: int) -> list[float]:
    procs = []
    for name in ("prop-a", "prop-b"):
        config = write_node_config(root, name=name, datasets=[DS], cloud_url=hub.url,
                                   filename=f"{name}.toml",
                                   cloud={"probe_interval_s": 0.2, "long_poll_s": 20})
        enroll_node(config, hub, hub.enroll_code(DS), NO_KEYRING)
        procs.append(NodeProcess(config, env=NO_KEYRING).start())
    clients: list[WorkstationClient] = []
    try:
        for node in procs:
            assert isinstance(node, NodeProcess)
            client = WorkstationClient(node.lan_url, language="en")
            await client.pair(node.pair_code(), f"bench-{node.label}")
            clients.append(client)
        ws_a, ws_b = clients
        for client in clients:
            async def online(c: WorkstationClient = client) -> bool:
                return bool((await c.sync_summary(DS))["connectivity"] == "online")
            await wait_for(online, 30, "nodes online")
        arrived: dict[str, float] = {}
        ready = asyncio.Event()

        async def listen() -> None:
            async for event in ws_b.events():
                ready.set()
                if event.get("type") == "record" and event.get("action") == "pull":
                    arrived.setdefault(event["record"]["id"], time.perf_counter())

        listener = asyncio.create_task(listen())
        await asyncio.wait_for(_first_event(ws_a, ready), 10)
        latencies: list[float] = []
        for i in range(writes):
            record_id = str(uuid.uuid4())
            sent = time.perf_counter()
            await ws_a.create(DS, "customers", customer(10_000_000 + i), id=record_id)

            async def seen(rid: str = record_id) -> bool:
                return rid in arrived

            await wait_for(seen, 10, f"record {i} on node B")
            latencies.append(arrived[record_id] - sent)
        listener.cancel()
        return latencies
    finally:
        for client in clients:
            await client.close()
        for node in procs:
            node.kill()


async def _first_event(ws_a: WorkstationClient, ready: asyncio.Event) -> None:
    """Make one write so B's socket is known to be delivering before timing starts."""
    await ws_a.create(DS, "customers", customer(99_999_999))
    await ready.wait()


BATCH = 1000


def _in_transaction(conn: sqlite3.Connection, fn: Any) -> tuple[Any, float, float]:
    """``fn(conn)`` in its own transaction: its result, its seconds and the commit's."""
    conn.execute("BEGIN IMMEDIATE")
    t = time.perf_counter()
    value = fn(conn)
    run = time.perf_counter() - t
    conn.execute("COMMIT")
    return value, run, time.perf_counter() - t - run


def _answer(batch: list[PendingOp], versions: dict[str, int | None], seq: int) -> bytes:
    """The hub's answer to a push of ``batch`` (every op applied), as the hub sends it."""
    return orjson.dumps({"results": [
        {"op_id": op.op_id, "status": "applied", "replayed": False,
         "version": (versions.get(op.record_id) or 0) + 1, "seq": seq + i, "error": None}
        for i, op in enumerate(batch, 1)]})


def bench_batch(root: Path, batches: int, profile: str | None) -> None:
    """The node's side of push batches of :data:`BATCH` ops as :meth:`DatasetWorker.drain`
    runs them, with no hub and no HTTP: the next batch is taken while one is in flight (its
    records left out), then the answer to the one in flight is parsed and stored."""
    conn = connect_writer(root / "batch.db")
    schema = ACCOUNTING_PACK.get("customers")
    ctx = writes.WriteContext(now="2026-12-02T00:00:00Z", local_numbering=False)
    ids = [new_id() for _ in range(batches * BATCH)]

    def labels(collection: str) -> dict[str, str]:
        return writes.label(ACCOUNTING_PACK.get(collection))

    def fill(conn: sqlite3.Connection) -> None:
        for i, record_id in enumerate(ids):
            writes.create(conn, schema, record_id, customer(i), ctx, labels)

    def edit(conn: sqlite3.Connection) -> None:
        for i, record_id in enumerate(ids):
            data = customer(i) | {"phone": f"029{i:08d}"}
            writes.update(conn, schema, record_id, data, 1, ctx, labels, "en")

    def take(in_flight: frozenset[str]) -> tuple[Any, float, float]:
        def run(c: sqlite3.Connection) -> Any:
            batch, versions, _ = syncing.take_batch(c, ACCOUNTING_PACK, BATCH, in_flight)
            ordered = order_batch(batch)
            assign_base_versions(ordered, versions)
            return ordered, versions

        return _in_transaction(conn, run)

    profiler = cProfile.Profile() if profile else None
    seq = 0
    for kind, queue in (("creates", fill), ("updates", edit)):
        _in_transaction(conn, queue)
        figures: dict[str, list[float]] = {
            "take": [], "take's commit": [], "serialise": [], "parse the answer": [],
            "store": [], "store's commit": []}
        (batch, versions), _, _ = take(frozenset())
        while batch:
            if profiler is not None:
                profiler.enable()
            t = time.perf_counter()
            push_body([to_wire(op) for op in batch])
            figures["serialise"].append(time.perf_counter() - t)
            (following, next_versions), run, commit = take(
                frozenset(op.record_id for op in batch))
            figures["take"].append(run)
            figures["take's commit"].append(commit)
            body = _answer(batch, versions, seq)
            seq += len(batch)
            t = time.perf_counter()
            results = PushResponse.model_validate(orjson.loads(body)).results
            figures["parse the answer"].append(time.perf_counter() - t)

            def store(c: sqlite3.Connection, ops: Any = batch, answers: Any = results) -> Any:
                return syncing.store_results(c, ACCOUNTING_PACK, ops, answers, ctx.now)

            _, run, commit = _in_transaction(conn, store)
            figures["store"].append(run)
            figures["store's commit"].append(commit)
            if profiler is not None:
                profiler.disable()
            assert len(batch) == BATCH, len(batch)
            batch, versions = following, next_versions
        left = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        assert left == 0, left
        medians = {name: statistics.median(v) * 1000 for name, v in figures.items()}
        print(f"batch of {BATCH} {kind} (median of {len(figures['take'])}): " + ", ".join(
            f"{name} {ms:.1f} ms" for name, ms in medians.items())
            + f"; total {sum(medians.values()):.1f} ms")
    conn.close()
    if profiler is not None and profile:
        profiler.dump_stats(profile)
        print(f"profile written to {profile}")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(args: argparse.Namespace) -> None:
    only = set(args.only.split(",")) if args.only else {"push", "pull", "drain", "propagation"}
    if "batch" in only:
        with tempfile.TemporaryDirectory(prefix="officesync-bench-") as tmp:
            bench_batch(Path(tmp), args.batches, args.profile)
        only.discard("batch")
        if not only:
            return
    with tempfile.TemporaryDirectory(prefix="officesync-bench-") as tmp, \
            database(args.db) as db_url:
        root = Path(tmp)
        hub = HubProcess(db_url, free_port(), root / "logs", env=NO_KEYRING,
                         workers=args.workers)
        hub.create_dataset(DS)
        hub.start()
        try:
            print(f"hub at {hub.url}")
            pushed = 0
            if "push" in only:
                elapsed = await bench_push(root, hub, args.ops, "big")
                pushed = args.ops
                print(f"push  {args.ops} ops: {elapsed:.2f} s = {args.ops / elapsed:,.0f} ops/s")
            if "pull" in only and pushed:
                elapsed = await bench_pull(root, hub, pushed)
                print(f"pull  {pushed} changes: {elapsed:.2f} s = {pushed / elapsed:,.0f}"
                      " changes/s (from enrollment)")
            if "drain" in only:
                elapsed = await bench_push(root, hub, args.drain, "drain", first=5_000_000)
                print(f"drain {args.drain} queued ops after toggling online: {elapsed:.2f} s")
            if "propagation" in only:
                lat = await bench_propagation(root, hub, args.writes)
                print(f"propagation over {len(lat)} writes: p50 {pct(lat, .5) * 1000:.1f} ms, "
                      f"p99 {pct(lat, .99) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms, "
                      f"mean {statistics.mean(lat) * 1000:.1f} ms")
        finally:
            hub.terminate()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--drain", type=int, default=10_000)
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--only", default="")
    parser.add_argument("--batches", type=int, default=10, help="batch: batches of 1,000")
    parser.add_argument("--profile", default=None, help="batch: write a cProfile here")
    parser.add_argument("--db", default=None,
                        help="postgresql://… (a fresh schema there); default SQLite")
    parser.add_argument("--workers", type=int, default=1,
                        help="hub serve --workers (PostgreSQL only)")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
