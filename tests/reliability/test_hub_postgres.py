"""The hub on PostgreSQL under concurrency (issue 8 §2.5): two ``hub serve`` processes on one
database, four node processes (two on each instance) pushing at the same time through small
batches while pulling through their own instance. A pull that skipped a change (a reader
moving its cursor past a sequence number whose transaction had not committed yet) would leave
a node without a record: the final states must be equal and the feed gap-free."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.hub_procs import HubProcess
from tests.e2e.procs import NO_KEYRING, free_port
from tests.e2e.test_hub_instances import pg_schema  # noqa: F401 - the fixture

from .cluster import (
    DS,
    Ledger,
    Office,
    check_feed,
    compare,
    eventually,
    hub_feed,
    latest,
    node_records,
    write_load,
)
from .conftest import LONG

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.reliability]
NODES = 4
LOAD_SECONDS = float(os.environ.get("OFFICESYNC_PG_SECONDS", 60 if LONG else 8))


async def test_two_hub_instances_on_one_postgres_lose_no_change(
    tmp_path: Path, pg_schema: str, figures: Any  # noqa: F811
) -> None:
    hubs = [HubProcess(pg_schema, free_port(), tmp_path / f"hub-{n}", env=NO_KEYRING)
            for n in (1, 2)]
    hubs[0].create_dataset(DS)
    offices: list[Office] = []
    clients = []
    try:
        for hub in hubs:
            await asyncio.to_thread(hub.start)
        for n in range(NODES):
            via = hubs[n % 2]
            office = await asyncio.to_thread(Office, tmp_path, f"office-{n}", hubs[0], via.url,
                                             batch_size=10)
            offices.append(office)
        for office in offices:
            await office.start()
            clients.append((await office.workstation(f"ws-{office.name}"))[0])
        ledgers = [Ledger() for _ in offices]
        stop = asyncio.Event()
        writers = [asyncio.create_task(write_load(ws, ledger, f"P{n}-", stop, seed=50 + n,
                                                  max_writes=50_000, pause=0.005))
                   for n, (ws, ledger) in enumerate(zip(clients, ledgers, strict=True))]
        await asyncio.sleep(LOAD_SECONDS)
        stop.set()
        await asyncio.gather(*writers)
        acked = {rid: data for ledger in ledgers for rid, data in ledger.acked.items()}
        stopped = time.monotonic()

        async def converged() -> bool:
            for ws in clients:
                if not compare(await node_records(ws), acked).ok:
                    return False
            return True

        await eventually(converged, 60, interval=0.5)
        took = time.monotonic() - stopped
        changes = await hub_feed(hubs[1].url, offices[0].hub_token())
        feed = check_feed(changes)
        cursors = [(await office.status())["datasets"][0] for office in offices]
        figures("hub on PostgreSQL, 2 instances", nodes=NODES,
                writes_acknowledged=sum(ledger.writes for ledger in ledgers),
                records=len(acked), converged_after=f"{took:.1f} s", hub_feed=feed,
                failed_writes=sum(sum(ledger.failed.values()) for ledger in ledgers))
        assert feed.ok, feed
        assert latest(changes) == acked
        assert all(c["counts"]["synced"] == len(acked) for c in cursors), cursors
    finally:
        for ws in clients:
            await ws.close()
        for office in offices:
            office.node.kill()
        for hub in hubs:
            hub.kill()
