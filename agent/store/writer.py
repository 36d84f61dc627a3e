"""The single writer of one SQLite file, with group commit.

Every write of a dataset is a function ``fn(conn) -> result`` submitted from the event loop.
One writer task takes everything queued, runs each function inside its own SAVEPOINT (so one
failed write does not undo its neighbours), and commits the whole group with one fsync. The
futures are resolved only after that commit: an acknowledged write is durable.

Where the functions run is chosen per write. Small ones (a workstation's create or edit:
~0.1-0.2 ms) run on the loop thread and only the COMMIT — the fsync — goes to a thread.
Heavy ones (the sync side's batches of 1000) run with their commit on that thread, so the
loop never stalls behind them. Measured on the 2-core target, a writer *thread* running the
small ones spent ~1 ms per write waiting for the GIL behind the busy loop (a convoy on every
statement); see docs/architecture.md, "Local store".

Reads go to a small pool of read-only connections on executor threads (WAL lets them run
while the writer commits), so the event loop never waits on SQLite reads.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from agent.store.sqlite import connect_reader, connect_writer

T = TypeVar("T")
WriteFn = Callable[[sqlite3.Connection], Any]
AfterCommit = Callable[[], None]

log = logging.getLogger("officesync.store")
MAX_GROUP = 512
# A dataset's writer runs this before each COMMIT, on the commit thread: the records the group
# inserted enter the search indexes (migration 0008: a trigger indexes each row as it leaves
# the queue). One statement for the whole group, with the GIL released while SQLite tokenizes.
# After a first download every record held waits in the same queue, up to the rowid kept in
# meta SEARCH_BACKLOG: those are indexed slice by slice (DatasetStore.index_backlog), not here.
SEARCH_BACKLOG = "search_backlog"
INDEX_QUEUED = (
    "DELETE FROM search_pending WHERE record_rowid > coalesce("
    f"(SELECT CAST(value AS INTEGER) FROM meta WHERE key = '{SEARCH_BACKLOG}'), 0)")


class WriteResult:
    """What a write function may return to have work done on the loop after the commit."""

    __slots__ = ("after_commit", "value")

    def __init__(self, value: Any, after_commit: AfterCommit | None = None) -> None:
        self.value = value
        self.after_commit = after_commit


class _Job:
    __slots__ = ("error", "fn", "future", "heavy", "outcome")

    def __init__(self, fn: WriteFn, future: asyncio.Future[Any], heavy: bool) -> None:
        self.fn = fn
        self.future = future
        self.heavy = heavy
        self.outcome: Any = None
        self.error: BaseException | None = None


class Writer:
    def __init__(self, path: Path, conn: sqlite3.Connection,
                 before_commit: str | None = None) -> None:
        self.path = path
        self._conn = conn
        self._before_commit = before_commit  # SQL run in each group's transaction, last
        self._queue: collections.deque[_Job] = collections.deque()
        self._ready = asyncio.Event()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"writer:{path.stem}")
        self._closed = False
        # Counters for diagnostics and benchmarks.
        self.commits = 0
        self.writes = 0
        self.commit_seconds = 0.0
        self.apply_seconds = 0.0
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"writer:{path.stem}")

    @classmethod
    async def open(cls, path: Path) -> Writer:
        conn = await asyncio.to_thread(connect_writer, path)  # migrations run here
        return cls(path, conn, INDEX_QUEUED)

    async def submit(self, fn: WriteFn, *, heavy: bool = False) -> Any:
        """Run ``fn`` in the next group; return its result once the group is durable."""
        if self._closed:
            raise RuntimeError("store is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        # ``fn`` sees the caller's context variables (e.g. rows.AUTHOR, who asked the write).
        context = contextvars.copy_context()

        def in_context(conn: sqlite3.Connection) -> Any:
            return context.run(fn, conn)

        self._queue.append(_Job(in_context, future, heavy))
        self._ready.set()
        return await future

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._ready.set()
        await self._task
        self._thread.shutdown(wait=True)
        self._conn.close()

    # -- the writer task --------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._closed:
                    return
                self._ready.clear()
                await self._ready.wait()
                continue
            group = self._take_group()
            try:
                if group[0].heavy:
                    await loop.run_in_executor(self._thread, self._commit_group, group)
                else:
                    self._apply(group)
                    await loop.run_in_executor(self._thread, self._commit, group)
            except Exception as err:  # e.g. a SAVEPOINT failing on a disk error
                # The writer must outlive any one group: without this, an unexpected error
                # ended the task and every later write waited forever. The group fails as a
                # whole (nothing of it is acknowledged) and the next one is tried.
                await loop.run_in_executor(self._thread, self._abandon, group, err)
            _settle(group)

    def _take_group(self) -> list[_Job]:
        """Consecutive jobs of one kind (light or heavy), at most MAX_GROUP."""
        first = self._queue.popleft()
        group = [first]
        while self._queue and len(group) < MAX_GROUP and self._queue[0].heavy == first.heavy:
            group.append(self._queue.popleft())
        return group

    def _apply(self, group: list[_Job]) -> None:
        started = time.perf_counter()
        try:
            self._apply_all(group)
        finally:
            self.apply_seconds += time.perf_counter() - started

    def _apply_all(self, group: list[_Job]) -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            for job in group:
                job.error = err
            return
        for job in group:
            conn.execute("SAVEPOINT w")
            try:
                job.outcome = job.fn(conn)
            except BaseException as err:  # handed to the caller
                job.error = err
                conn.execute("ROLLBACK TO w")
            conn.execute("RELEASE w")

    def _commit(self, group: list[_Job]) -> None:
        conn = self._conn
        if not conn.in_transaction:
            return  # BEGIN failed: every job already carries the error
        started = time.perf_counter()
        try:
            if self._before_commit is not None:
                conn.execute(self._before_commit)
            conn.execute("COMMIT")
            self.commits += 1
            self.writes += len(group)
            self.commit_seconds += time.perf_counter() - started
        except sqlite3.Error as err:
            log.exception("commit of %d writes failed", len(group),
                          extra={"dataset": self.path.stem})
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in group:
                if job.error is None:
                    job.error = err
                    job.outcome = None

    def _abandon(self, group: list[_Job], err: Exception) -> None:
        """Fail every job of ``group`` with ``err`` and leave no transaction open."""
        log.error("a group of %d writes failed: %r", len(group), err,
                  extra={"dataset": self.path.stem})
        with contextlib.suppress(sqlite3.Error):
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        for job in group:
            job.error, job.outcome = err, None

    def _commit_group(self, group: list[_Job]) -> None:
        self._apply(group)
        self._commit(group)


def _settle(group: list[_Job]) -> None:
    for job in group:
        if job.future.done():  # the caller went away (cancelled); the write still happened
            outcome = job.outcome
            if job.error is None and isinstance(outcome, WriteResult) and outcome.after_commit:
                outcome.after_commit()
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
            continue
        outcome = job.outcome
        if isinstance(outcome, WriteResult):
            if outcome.after_commit is not None:
                try:
                    outcome.after_commit()
                except Exception:  # a listener must not fail the write
                    log.exception("after-commit hook failed")
            job.future.set_result(outcome.value)
        else:
            job.future.set_result(outcome)


class Readers:
    """Read-only connections, one per executor thread."""

    def __init__(self, path: Path, threads: int = 3) -> None:
        self._path = path
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix=f"reader:{path.stem}")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect_reader(self._path)
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(self._conn()))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
