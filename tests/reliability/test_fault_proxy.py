"""Faults between node and hub end in convergence with nothing lost (issue 8 §2.1), and after
that run no secret is found where it must not be (§2.6).

A hub and two nodes run as real processes; each node reaches the hub through its own
:class:`FaultProxy` (fixed seed). Two workstations (one per node) create and update customers
while the proxies break the link for ``FAULT_SECONDS``; then the proxies heal and the test
waits, without nudging the nodes, until both nodes and the hub hold the same records.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from workstation.client import WorkstationClient

from .cluster import (
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
from .conftest import LONG, new_hub
from .faultproxy import FaultProxy, Schedule

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]
SEEDS = [int(s) for s in os.environ.get("OFFICESYNC_FAULT_SEEDS", "").split(",") if s] or (
    list(range(1, 7)) if LONG else [1])
FAULT_SECONDS = float(os.environ.get("OFFICESYNC_FAULT_SECONDS", 60 if LONG else 20))
CONVERGE_LIMIT = 60.0
CLEAN_STATES = ("pending", "syncing", "error", "conflict", "blocked")
# The module's fixture runs every seed: the first test's time limit covers them all.
pytestmark.append(pytest.mark.timeout(len(SEEDS) * (FAULT_SECONDS + CONVERGE_LIMIT + 90)))


@dataclass
class FaultRun:
    seed: int
    root: Path
    faults: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    acked: dict[str, dict[str, Any]] = field(default_factory=dict)
    acked_writes: int = 0
    acked_records: int = 0
    failed_writes: Counter[str] = field(default_factory=Counter)
    lost: int = -1
    duplicated: int = -1
    converged_after: float | None = None
    feed: Any = None
    hub_equal: bool = False
    stall: list[str] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)  # what → the secret


async def _converged(offices: list[Office], clients: list[WorkstationClient],
                     expected: dict[str, dict[str, Any]], run: FaultRun) -> bool:
    holdings = []
    for office, ws in zip(offices, clients, strict=True):
        counts = await office.counts()
        if any(counts.get(s, 0) for s in CLEAN_STATES):
            return False
        holdings.append(compare(await node_records(ws), expected))
    run.lost = max(len(h.lost) for h in holdings)
    run.duplicated = max(h.duplicated_keys for h in holdings)
    return all(h.ok for h in holdings)


async def _stall_report(offices: list[Office], clients: list[WorkstationClient],
                        expected: dict[str, dict[str, Any]], run: FaultRun) -> list[str]:
    lines = []
    for office, ws in zip(offices, clients, strict=True):
        status = await office.status()
        held = compare(await node_records(ws), expected)
        run.lost = max(run.lost, len(held.lost))
        run.duplicated = max(run.duplicated, held.duplicated_keys)
        lines.append(f"{office.name}: connectivity {status['connectivity']}, online "
                     f"{status['online']}, counts {status['datasets'][0]['counts']}, "
                     f"{len(held.lost)} acknowledged records missing or stale")
    return lines


async def _faults(tmp: Path, seed: int, seconds: float) -> FaultRun:
    run = FaultRun(seed, tmp)
    hub = new_hub(tmp)
    await asyncio.to_thread(hub.start)
    proxies = [await FaultProxy(hub.port, Schedule(seed * 100 + i)).start() for i in (1, 2)]
    offices: list[Office] = []
    clients: list[WorkstationClient] = []
    try:
        for i, proxy in enumerate(proxies):
            office = await asyncio.to_thread(Office, tmp, f"office-{'ab'[i]}", hub, proxy.url)
            offices.append(office)
            run.secrets[f"enrollment code {office.name}"] = office.enroll_code
        for office in offices:
            await office.start()
            ws, token = await office.workstation(f"ke-toan-{office.name}")
            clients.append(ws)
            run.secrets[f"workstation token {office.name}"] = token
            run.secrets[f"node token {office.name}"] = office.hub_token()
            run.secrets[f"control token {office.name}"] = office.node.control_token()
        for office in offices:
            await eventually(lambda o=office: _online(o), 30)
        await _load_under_faults(run, proxies, clients, seconds)
        await _heal_and_check(run, hub.url, proxies, offices, clients)
    finally:
        for ws in clients:
            await ws.close()
        for office in offices:
            office.node.kill()
        hub.kill()
        for proxy in proxies:
            await proxy.close()
    return run


async def _online(office: Office) -> bool:
    return bool((await office.status())["connectivity"] == "online")


async def _load_under_faults(run: FaultRun, proxies: list[FaultProxy],
                             clients: list[WorkstationClient], seconds: float) -> None:
    ledgers = [Ledger() for _ in clients]
    stop = asyncio.Event()
    for proxy in proxies:
        proxy.begin_faults()
    writers = [asyncio.create_task(write_load(ws, ledger, f"S{run.seed}{'AB'[i]}", stop,
                                              seed=run.seed * 10 + i, max_writes=20_000))
               for i, (ws, ledger) in enumerate(zip(clients, ledgers, strict=True))]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*writers)
    run.acked = {rid: data for ledger in ledgers for rid, data in ledger.acked.items()}
    run.acked_records = len(run.acked)
    run.acked_writes = sum(ledger.writes for ledger in ledgers)
    for ledger in ledgers:
        run.failed_writes.update(ledger.failed)


async def _heal_and_check(run: FaultRun, hub_url: str, proxies: list[FaultProxy],
                          offices: list[Office], clients: list[WorkstationClient]) -> None:
    for proxy in proxies:
        await proxy.heal()
        run.faults.update({str(k): v for k, v in proxy.counts.items() if k != "pass"})
        run.requests += proxy.requests
    healed = time.monotonic()
    try:
        await eventually(lambda: _converged(offices, clients, run.acked, run), CONVERGE_LIMIT,
                         interval=0.5)
        run.converged_after = time.monotonic() - healed
    except TimeoutError:
        run.stall = await _stall_report(offices, clients, run.acked, run)
    changes = await hub_feed(hub_url, offices[0].hub_token())
    run.feed = check_feed(changes)
    run.hub_equal = latest(changes) == run.acked


@pytest.fixture(scope="module")
def fault_runs(tmp_path_factory: pytest.TempPathFactory) -> list[FaultRun]:
    return [asyncio.run(_faults(tmp_path_factory.mktemp(f"faults-{seed}"), seed, FAULT_SECONDS))
            for seed in SEEDS]


def test_faults_between_node_and_hub_end_in_convergence(
    fault_runs: list[FaultRun], figures: Any
) -> None:
    for run in fault_runs:
        converged = (f"{run.converged_after:.1f} s" if run.converged_after is not None
                     else f"NO (stalled > {CONVERGE_LIMIT:.0f} s)")
        figures(f"fault proxy seed {run.seed} ({FAULT_SECONDS:.0f} s of faults)",
                requests=run.requests, faults_injected=sum(run.faults.values()),
                by_kind=dict(sorted(run.faults.items())), writes_acknowledged=run.acked_writes,
                records=run.acked_records, lost=run.lost, duplicated=run.duplicated,
                converged_after=converged, hub_feed=run.feed)
    for run in fault_runs:
        assert run.converged_after is not None, "\n".join(
            [f"seed {run.seed} did not converge within {CONVERGE_LIMIT:.0f} s:", *run.stall])
        assert run.lost == 0 and run.duplicated == 0
        assert run.feed.ok, run.feed
        assert run.hub_equal, "the hub's records differ from the acknowledged writes"
        assert sum(run.faults.values()) > 0 and run.acked_writes > 0
        assert set(run.faults) >= {"refused", "hang", "truncated_body", "502_after_applied"}


SECRET_FILES = {"hub.token", "control.token"}  # where the secrets are meant to be


def _leaks(root: Path, secrets: dict[str, str]) -> list[str]:
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name in SECRET_FILES:
            continue
        content = path.read_bytes()
        found += [f"{what} in {path.relative_to(root)}" for what, secret in secrets.items()
                  if secret.encode() in content]
    return found


def test_no_secret_in_logs_databases_or_runtime_files(
    fault_runs: list[FaultRun], figures: Any
) -> None:
    run = fault_runs[0]
    files = [p for p in run.root.rglob("*") if p.is_file()]
    leaks = _leaks(run.root, run.secrets)
    modes = {str(p.relative_to(run.root)): oct(stat.S_IMODE(p.stat().st_mode))
             for p in files if p.name in SECRET_FILES}
    figures("secrets after the fault run", secrets=len(run.secrets), files_scanned=len(files),
            bytes_scanned=sum(p.stat().st_size for p in files), leaks=len(leaks),
            token_file_modes=modes)
    assert len(run.secrets) == 8 and all(len(s) >= 6 for s in run.secrets.values())
    assert any(p.suffix == ".db" for p in files) and any(p.suffix == ".out" for p in files)
    assert not leaks, leaks
    assert len(modes) == 4
    assert all(m in ("0o600", "0o640") for m in modes.values()), modes
