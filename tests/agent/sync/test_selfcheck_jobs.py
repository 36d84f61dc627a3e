"""The self-check and the job manager on an in-process hub: a check finds drift and records
"repaired", then "ok" with the matching message; it never runs while the hub is down or while a
job holds the dataset; jobs are one per dataset, interrupted (not lost) after a restart, and an
unknown id is refused naming it."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest

from agent.config import Config
from agent.jobs import JobKind, JobManager, JobState, repair_kinds
from agent.selfcheck import SelfChecker, read_result
from agent.store.node import Job
from agent.supervisor import Supervisor
from protocol.errors import ErrorCode, ProtocolError
from protocol.local import SelfCheckState
from tests.agent.sync.conftest import DS, Node, eventually


def _ctx(node: Node, **selfcheck: Any) -> Any:
    config = Config.model_validate({"selfcheck": {"page_size": 2, **selfcheck},
                                    "datasets": [{"id": DS}]})
    ctx = SimpleNamespace(config=config, sync=node.engine, stores=node.stores,
                          node_db=node.node_db, bus=node.bus, supervisor=Supervisor())
    ctx.jobs = JobManager(node.node_db, node.bus, lambda: ctx.sync, ctx.supervisor)
    ctx.jobs.kinds.update(repair_kinds(node.stores, lambda: ctx.sync))
    return ctx


async def _online(node: Node) -> None:
    async def up() -> bool:
        return node.engine.connectivity.value == "online"

    await eventually(up)


async def test_self_check_repairs_then_matches_and_yields(
        make_node: Callable[..., Awaitable[Node]]) -> None:
    node = await make_node("office-a")
    ctx = _ctx(node)
    first = await node.store.create("customers", {"code": "KH1", "name": "A"})
    second = await node.store.create("customers", {"code": "KH2", "name": "B"})

    async def synced() -> bool:
        return await node.store.outbox_size() == 0 and (
            await node.store.sync_counts())["synced"] == 2

    await eventually(synced)
    await _online(node)
    assert (await read_result(node.node_db, DS)).state is SelfCheckState.NEVER
    conn = sqlite3.connect(node.store.path)
    with conn:
        conn.execute("DELETE FROM records WHERE id = ?", (first.id,))
    conn.close()

    checker = SelfChecker(ctx)
    result = await checker.check(DS)
    assert result is not None and result.state is SelfCheckState.REPAIRED
    assert result.message is not None and "Repaired 1 record(s)" in result.message.en
    assert (await node.store.get("customers", first.id)).data["name"] == "A"
    again = await checker.check(DS)
    assert again is not None and again.state is SelfCheckState.OK
    assert again.message is not None
    assert again.message.en.startswith("Data matches the cloud as of ")
    assert again.message.vi.startswith("Dữ liệu khớp với Cloud đến ")
    assert (await read_result(node.node_db, DS)).state is SelfCheckState.OK
    whole = await checker.check(DS, full=True)  # the nightly check: every day of the dataset
    assert whole is not None and whole.full and whole.state is SelfCheckState.OK

    # a job holds the dataset: the self-check does not run, its last result stays
    async with ctx.jobs.lock(DS):
        assert await checker.check(DS) is None
    # the hub is down (the user works offline): no check, no hub traffic
    await node.engine.set_online(False)
    assert await checker.check(DS) is None
    assert (await read_result(node.node_db, DS)).state is SelfCheckState.OK
    assert second.id  # both customers were compared whole (a catalog)
    await ctx.supervisor.stop()


async def test_jobs_one_per_dataset_interrupted_after_restart(
        make_node: Callable[..., Awaitable[Node]]) -> None:
    node = await make_node("office-a")
    await node.engine.set_online(False)  # the job waits for the hub, idle
    ctx = _ctx(node)
    job = await ctx.jobs.submit(DS, JobKind.DOWNLOAD, {"collections": None})
    with pytest.raises(ProtocolError) as refused:
        await ctx.jobs.submit(DS, JobKind.MAINTENANCE,
                              {"date_from": "2026-01-01", "date_to": "2026-01-31"})
    assert refused.value.code is ErrorCode.JOB_RUNNING
    assert refused.value.details["job"] == job.id
    assert job.id in refused.value.body("en")["error"]["message"]

    await asyncio.sleep(0.3)  # waiting for the hub, idle: queued, nothing done, no failure
    waiting = await ctx.jobs.get(job.id)
    assert waiting.state == JobState.QUEUED and waiting.report is None
    await ctx.supervisor.stop()  # the node stops while the job waits

    restarted = _ctx(node)
    assert await restarted.jobs.recover() == [job.id]
    after = await restarted.jobs.get(job.id)
    assert after.state == JobState.INTERRUPTED and after.report is not None
    assert after.report["message"]["en"].startswith("The job stopped")
    with pytest.raises(ProtocolError) as missing:
        await restarted.jobs.get("no-such-job")
    assert missing.value.code is ErrorCode.NOT_FOUND
    assert "no-such-job" in missing.value.body("en")["error"]["message"]

    await node.engine.set_online(True)
    fresh = await restarted.jobs.submit(DS, JobKind.DOWNLOAD, {"collections": ["customers"]})

    async def done() -> bool:
        return (await restarted.jobs.get(fresh.id)).state == JobState.DONE

    await eventually(done)
    report = (await restarted.jobs.get(fresh.id)).report
    assert report is not None and report["fixed"] == 0
    saved = await node.node_db.list_jobs(dataset=DS)
    assert {j.id for j in saved} == {job.id, fresh.id} and all(isinstance(j, Job) for j in saved)
    await restarted.supervisor.stop()
