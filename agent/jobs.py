"""Repair jobs (S11): a re-download or a data maintenance of one dataset, run in the background
with its record in ``node.db`` (table ``node_jobs``).

- One job per dataset at a time: a second gets 409 ``JOB_RUNNING`` naming the running one.
- A job survives a node restart: one that was queued or running when the node stopped is
  marked ``interrupted`` at the next start, with what it had done (never silently lost); the
  user starts it again (the tools are idempotent: a second run finds what is left).
- It runs supervised, waits (idle, on connectivity events) while the hub cannot be reached or
  the user works offline, and goes on where the comparison stands when the hub is back.
- Each change of state or progress is published as a ``job`` event and saved.

:func:`recent_reports` gives the last jobs with their reports (diagnostics bundle).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from agent.cloud.client import (
    HubAuthFailed,
    HubClient,
    HubRateLimited,
    HubRejected,
    HubUnreachable,
    HubUpgradeRequired,
)
from agent.events import EventBus, EventType, JobEvent
from agent.lifecycle import LiveSync
from agent.repair import Repair
from agent.store import StoreManager, rows
from agent.store.node import Job, NodeDB
from agent.supervisor import Supervisor
from agent.sync.api import SyncControl
from agent.sync.engine import SyncEngine
from protocol.connectivity import Connectivity
from protocol.errors import ErrorCode, ProtocolError, messages
from protocol.i18n import Text

log = logging.getLogger("officesync.jobs")

RECHECK_S = 5.0  # while waiting for the hub, look again at least this often
SAVE_EVERY_S = 1.0  # progress is saved (and published) at most this often


class JobKind(StrEnum):
    DOWNLOAD = "download"
    MAINTENANCE = "maintenance"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


ACTIVE = (JobState.QUEUED.value, JobState.RUNNING.value)
KIND_TEXT = {JobKind.DOWNLOAD: Text("tải lại dữ liệu từ Cloud", "re-download from the cloud"),
             JobKind.MAINTENANCE: Text("bảo trì dữ liệu", "data maintenance")}
INTERRUPTED = Text("Công việc bị dừng vì máy chủ tắt; hãy chạy lại (những gì đã sửa vẫn giữ)",
                   "The job stopped because the node stopped; run it again (what it repaired "
                   "stays repaired).")
WAITING = Text("Đang chờ kết nối Cloud", "Waiting for the cloud connection")


class JobProgress(BaseModel):
    done: int = 0
    total: int = 0


class JobView(BaseModel):
    """A job as the LAN and control APIs answer it (``GET /jobs/{id}``)."""

    id: str
    dataset: str
    kind: str
    state: str
    params: dict[str, Any] = {}
    progress: JobProgress = JobProgress()
    report: dict[str, Any] | None = None
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None


def view(job: Job) -> JobView:
    return JobView(id=job.id, dataset=job.dataset, kind=job.kind, state=job.state,
                   params=rows.loads(job.params) or {},
                   progress=JobProgress(done=job.done, total=job.total),
                   report=rows.loads(job.report), created_at=job.created_at,
                   started_at=job.started_at, finished_at=job.finished_at)


def hub_client(sync: SyncControl) -> HubClient | None:
    """The hub client of the running sync side (None on a node not enrolled)."""
    target = sync.target if isinstance(sync, LiveSync) else sync
    return target.client if isinstance(target, SyncEngine) else None


def require_hub(sync: SyncControl) -> HubClient:
    """The hub client when the cloud can be reached now, else a clear refusal."""
    client = hub_client(sync)
    state = sync.connectivity
    if client is None:
        raise ProtocolError(ErrorCode.NOT_CONFIGURED)
    if state is Connectivity.OFFLINE_BY_USER:
        raise ProtocolError(ErrorCode.OFFLINE_BY_USER)
    if state is not Connectivity.ONLINE:
        raise ProtocolError(ErrorCode.CLOUD_UNREACHABLE, {"reason": state.text},
                            {"connectivity": state.value})
    return client


def hub_failure(err: Exception) -> ProtocolError:
    """A hub error met by a tool, as the user's refusal."""
    if isinstance(err, ProtocolError):
        return err
    if isinstance(err, HubRejected):
        return ProtocolError(err.code, details={"hub": err.details, "message": err.message})
    if isinstance(err, HubUnreachable):
        return ProtocolError(ErrorCode.CLOUD_UNREACHABLE, {"reason": err.kind.text},
                             {"connectivity": err.kind.value})
    if isinstance(err, HubAuthFailed):
        state = Connectivity.AUTH_FAILED
        return ProtocolError(ErrorCode.CLOUD_UNREACHABLE, {"reason": state.text},
                             {"connectivity": state.value})
    if isinstance(err, HubUpgradeRequired):
        return ProtocolError(ErrorCode.UPGRADE_REQUIRED)
    if isinstance(err, HubRateLimited):
        return ProtocolError(ErrorCode.RATE_LIMITED, {"seconds": round(err.retry_after)})
    return ProtocolError(ErrorCode.INTERNAL)


class JobContext:
    """What a running job's function gets: its params, the hub client, a progress callback."""

    def __init__(self, manager: JobManager, job: Job) -> None:
        self.manager = manager
        self.job = job
        self.params: dict[str, Any] = rows.loads(job.params) or {}
        self.repair: Repair | None = None  # kept across a wait for the hub: its tally goes on
        self._saved_at = 0.0

    async def progress(self, done: int, total: int) -> None:
        self.job.done, self.job.total = done, total
        loop = asyncio.get_running_loop()
        if loop.time() - self._saved_at >= SAVE_EVERY_S or done >= total:
            self._saved_at = loop.time()
            await self.manager.save(self.job)


# A job's work: returns its report; raises HubUnreachable to wait for the hub and go on.
JobFn = Callable[[JobContext, HubClient], Awaitable[dict[str, Any]]]


class JobManager:
    """Creates, runs, persists and answers for the node's jobs."""

    def __init__(self, node_db: NodeDB, bus: EventBus, sync: Callable[[], SyncControl],
                 supervisor: Supervisor) -> None:
        self.node_db = node_db
        self.bus = bus
        self._sync = sync
        self.supervisor = supervisor
        self.kinds: dict[str, JobFn] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._active: dict[str, str] = {}  # dataset → id of its queued/running job
        self._waiting: dict[str, int] = {}  # dataset → jobs waiting for the lock

    # -- the dataset lock shared with the self-check -------------------------------------

    def lock(self, dataset: str) -> asyncio.Lock:
        return self._locks.setdefault(dataset, asyncio.Lock())

    def busy(self, dataset: str) -> bool:
        """A job of the user's is queued or running on ``dataset`` (the self-check yields)."""
        return dataset in self._active

    # -- the life --------------------------------------------------------------------------

    async def recover(self) -> list[str]:
        """At start: every job left queued or running by the last run is ``interrupted``."""
        stale = await self.node_db.list_jobs(states=ACTIVE, limit=10_000)
        for job in stale:
            job.state = JobState.INTERRUPTED.value
            job.finished_at = rows.utc_now()
            report = rows.loads(job.report) or {}
            report["message"] = INTERRUPTED.as_dict()
            job.report = rows.dumps(report)
            await self.save(job)
            log.warning("job %s (%s of %s) was interrupted by the last stop", job.id, job.kind,
                        job.dataset)
        return [j.id for j in stale]

    async def save(self, job: Job) -> None:
        await self.node_db.save_job(job)
        self.bus.publish(JobEvent(dataset=job.dataset, job=view(job).model_dump()))

    async def submit(self, dataset: str, kind: JobKind, params: dict[str, Any]) -> JobView:
        """Queue a job (409 ``JOB_RUNNING`` when the dataset has one); it runs at once, or
        waits for the hub."""
        running = self._active.get(dataset)
        if running is not None:
            current = await self.node_db.get_job(running)
            what = KIND_TEXT.get(JobKind(current.kind)) if current else None
            raise ProtocolError(
                ErrorCode.JOB_RUNNING,
                {"dataset": dataset, "job": running,
                 "kind": what or Text(current.kind if current else "?", "?")},
                {"dataset": dataset, "job": running, "kind": current.kind if current else None})
        if hub_client(self._sync()) is None:
            raise ProtocolError(ErrorCode.NOT_CONFIGURED)
        job = Job(id=str(uuid.uuid4()), dataset=dataset, kind=kind.value,
                  state=JobState.QUEUED.value, params=rows.dumps(params),
                  created_at=rows.utc_now())
        self._active[dataset] = job.id
        try:
            await self.save(job)
        except BaseException:
            self._active.pop(dataset, None)
            raise
        self.supervisor.spawn(f"job:{job.id}", lambda: self._run(job))
        return view(job)

    async def get(self, job_id: str) -> JobView:
        job = await self.node_db.get_job(job_id)
        if job is None:
            raise ProtocolError(ErrorCode.NOT_FOUND,
                                {"what": Text(f"công việc {job_id[:80]}", f"Job {job_id[:80]}")},
                                {"job": job_id[:80]})
        return view(job)

    async def _wait_for_hub(self) -> HubClient:
        """Idle (no hub traffic) until the cloud answers and the user works online."""
        while True:
            sync = self._sync()
            client = hub_client(sync)
            if client is not None and sync.connectivity is Connectivity.ONLINE:
                return client
            with (self.bus.subscribe(types={EventType.CONNECTIVITY}) as sub,
                  contextlib.suppress(TimeoutError)):
                async with asyncio.timeout(RECHECK_S):
                    await sub.get()

    async def _run(self, job: Job) -> None:
        lock = self.lock(job.dataset)
        try:
            async with lock:
                ctx = JobContext(self, job)
                work = self.kinds[job.kind]
                while True:
                    client = await self._wait_for_hub()  # queued until the cloud answers
                    if job.state != JobState.RUNNING:
                        job.state = JobState.RUNNING.value
                        job.started_at = rows.utc_now()
                        await self.save(job)
                    try:
                        report = await work(ctx, client)
                    except HubUnreachable as err:
                        log.info("job %s waits for the hub: %s", job.id, err)
                        continue
                    except HubRateLimited as err:
                        await asyncio.sleep(min(err.retry_after, 60))
                        continue
                    except asyncio.CancelledError:
                        raise
                    except Exception as err:
                        refusal = hub_failure(err)
                        if refusal.code is ErrorCode.INTERNAL:
                            log.exception("job %s failed", job.id)
                        await self._finish(job, JobState.FAILED, {
                            "error": {"code": refusal.code.value,
                                      "message": messages(refusal.code, refusal.params),
                                      "details": refusal.details}})
                        return
                    await self._finish(job, JobState.DONE, report)
                    return
        finally:
            if self._active.get(job.dataset) == job.id:
                del self._active[job.dataset]

    async def _finish(self, job: Job, state: JobState, report: dict[str, Any]) -> None:
        job.state = state.value
        job.report = rows.dumps(report)
        job.finished_at = rows.utc_now()
        if state is JobState.DONE:
            job.done = max(job.done, job.total)
        await self.save(job)
        log.info("job %s (%s of %s) %s", job.id, job.kind, job.dataset, state.value)


async def recent_reports(node_db: NodeDB, limit: int = 20) -> list[dict[str, Any]]:
    """The last ``limit`` jobs with their reports, newest first (for the diagnostics bundle)."""
    return [view(j).model_dump() for j in await node_db.list_jobs(limit=limit)]


# -- the repair jobs -----------------------------------------------------------------------------


def repair_kinds(stores: StoreManager, sync: Callable[[], SyncControl]) -> dict[str, JobFn]:
    """The functions of the ``download`` and ``maintenance`` jobs, on ``stores``."""

    async def finish(ctx: JobContext, repair: Repair) -> dict[str, Any]:
        if repair.requeued:  # fresh ops: push them now
            with contextlib.suppress(ProtocolError):
                await sync().sync_now(ctx.job.dataset)
        return repair.tally.report()

    async def download(ctx: JobContext, client: HubClient) -> dict[str, Any]:
        store = stores.get(ctx.job.dataset)
        collections = ctx.params.get("collections") or list(store.registry.order)
        repair = ctx.repair or Repair(store, client, progress=ctx.progress)
        ctx.repair, repair.client = repair, client
        await repair.download(collections)
        return await finish(ctx, repair)

    async def maintenance(ctx: JobContext, client: HubClient) -> dict[str, Any]:
        store = stores.get(ctx.job.dataset)
        repair = ctx.repair or Repair(store, client, progress=ctx.progress)
        ctx.repair, repair.client = repair, client
        repair.tally.days.clear()
        await repair.maintain(ctx.params["date_from"], ctx.params["date_to"],
                              ctx.params.get("collections"))
        return await finish(ctx, repair)

    return {JobKind.DOWNLOAD.value: download, JobKind.MAINTENANCE.value: maintenance}
