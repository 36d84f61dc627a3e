"""Real hub and node processes for the reliability tests, a ledger of acknowledged writes and
the checks run after a test heals: node contents, outboxes, the hub's feed.

The processes come from ``tests/e2e`` (``HubProcess``, ``NodeProcess``); blocking steps run in
a thread so that an in-process fault proxy keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.cloud.client import HubClient
from agent.secrets import NodeSecrets
from protocol.models import Change
from protocol.query import RecordQuery
from tests.e2e.hub_procs import HubProcess, enroll_node
from tests.e2e.procs import NO_KEYRING, NodeProcess, write_node_config
from tests.e2e.test_sync_e2e import FAST_CLOUD, control, status
from workstation.client import WorkstationClient, WorkstationError

DS = "cty-abc"
COLLECTION = "customers"


class Office:
    """A node enrolled on ``hub`` whose config points at ``cloud_url`` (a proxy, or the hub)."""

    def __init__(self, tmp: Path, name: str, hub: HubProcess, cloud_url: str | None = None,
                 **cloud: Any) -> None:
        self.name = name
        self.config = write_node_config(
            tmp, name=name, datasets=[DS], cloud_url=cloud_url or hub.url,
            filename=f"{name}.toml", cloud={**FAST_CLOUD, **cloud})
        self.enroll_code = hub.enroll_code(DS)
        enroll_node(self.config, hub, self.enroll_code, NO_KEYRING)
        self.node = NodeProcess(self.config, env=NO_KEYRING)

    async def start(self) -> None:
        await asyncio.to_thread(self.node.start)

    def hub_token(self) -> str:
        secret = NodeSecrets(self.node.data_dir).load()
        assert secret is not None, "node not enrolled"
        return secret[0]

    async def status(self) -> dict[str, Any]:
        return await asyncio.to_thread(status, self.node)

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        return await asyncio.to_thread(control, self.node, method, path, body)

    async def workstation(self, name: str) -> tuple[WorkstationClient, str]:
        """A paired workstation client and its token."""
        code = (await self.control("POST", "/pairing-code"))["code"]
        client = WorkstationClient(self.node.lan_url, language="en")
        paired = await client.pair(code, name)
        client.token = paired.token
        return client, paired.token

    async def counts(self) -> dict[str, int]:
        return dict((await self.status())["datasets"][0]["counts"] or {})


async def eventually(check: Callable[[], Awaitable[object]], limit: float,
                     interval: float = 0.2) -> float:
    """Wait until ``check`` is truthy; return the seconds it took; TimeoutError at the limit."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > limit:
            raise TimeoutError(f"condition not met within {limit:.0f} s")
        await asyncio.sleep(interval)
    return time.monotonic() - start


@dataclass
class Ledger:
    """Every write a workstation got a success answer for: record id → data it must hold."""

    acked: dict[str, dict[str, Any]] = field(default_factory=dict)
    etags: dict[str, str] = field(default_factory=dict)
    writes: int = 0  # acknowledged creates + updates
    failed: Counter[str] = field(default_factory=Counter)

    def record(self, record_id: str, data: dict[str, Any], etag: str) -> None:
        self.acked[record_id] = data
        self.etags[record_id] = etag
        self.writes += 1


async def write_load(ws: WorkstationClient, ledger: Ledger, prefix: str, stop: asyncio.Event,
                     *, seed: int, max_writes: int, pause: float = 0.02) -> None:
    """Creates (and one update in four) until ``stop`` or ``max_writes`` attempts."""
    rng = random.Random(seed)
    for i in range(max_writes):
        if stop.is_set():
            return
        try:
            if ledger.acked and rng.random() < 0.25:
                rid = rng.choice(sorted(ledger.acked))
                data = {**ledger.acked[rid], "name": f"{prefix} sửa {i}"}
                stored = await ws.update(DS, COLLECTION, rid, data, ledger.etags[rid])
            else:
                data = {"code": f"{prefix}{i:05d}", "name": f"Khách {prefix} {i}"}
                stored = await ws.create(DS, COLLECTION, data)
            ledger.record(stored.record.id, data, stored.etag)
        except WorkstationError as err:
            ledger.failed[err.code.value] += 1
        await asyncio.sleep(pause)


async def node_records(ws: WorkstationClient) -> dict[str, Any]:
    """Every customer the node holds (id → record), following pages."""
    return {r.id: r async for r in ws.iter_records(DS, COLLECTION, RecordQuery(limit=500))}


@dataclass
class Holdings:
    lost: list[str]  # acknowledged ids missing or holding other data
    duplicated_keys: int
    not_synced: int

    @property
    def ok(self) -> bool:
        return not self.lost and not self.duplicated_keys and not self.not_synced


def compare(records: dict[str, Any], expected: dict[str, dict[str, Any]],
            synced: bool = True) -> Holdings:
    lost = [rid for rid, data in expected.items()
            if rid not in records or records[rid].data != data]
    keys = Counter(r.key for r in records.values() if not r.deleted)
    not_synced = sum(1 for r in records.values() if r.sync.state != "synced") if synced else 0
    return Holdings(lost, sum(n - 1 for n in keys.values() if n > 1), not_synced)


async def hub_feed(url: str, token: str, dataset: str = DS) -> list[Change]:
    client = HubClient(url, token)
    changes: list[Change] = []
    try:
        since = 0
        while True:
            page = await client.changes(dataset, since=since, limit=1000)
            changes += page.changes
            since = page.last_seq
            if not page.has_more:
                return changes
    finally:
        await client.close()


@dataclass
class FeedCheck:
    changes: int
    gaps: int
    ops_twice: int
    versions_twice: int

    @property
    def ok(self) -> bool:
        return not (self.gaps or self.ops_twice or self.versions_twice)

    def __str__(self) -> str:
        return (f"{self.changes} changes, {self.gaps} gaps, {self.ops_twice} ops twice, "
                f"{self.versions_twice} versions twice")


def check_feed(changes: list[Change]) -> FeedCheck:
    seqs = [c.seq for c in changes]
    gaps = sum(1 for a, b in zip([0, *seqs], seqs, strict=False) if b != a + 1)
    ops = Counter(c.op_id for c in changes)
    versions = Counter((c.id, c.version) for c in changes)
    return FeedCheck(len(changes), gaps, sum(n - 1 for n in ops.values() if n > 1),
                     sum(n - 1 for n in versions.values() if n > 1))


def latest(changes: list[Change]) -> dict[str, dict[str, Any]]:
    """The hub's current data per record id, from its feed."""
    out: dict[str, dict[str, Any]] = {}
    for change in changes:
        if change.deleted:
            out.pop(change.id, None)
        elif change.data is not None:
            out[change.id] = dict(change.data)
    return out
