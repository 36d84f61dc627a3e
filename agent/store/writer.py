"""The single writer of one SQLite file, with group commit.

Every write of a dataset is a function ``fn(conn) -> result`` submitted from the event loop.
One thread takes everything queued, runs each function inside its own SAVEPOINT (so one failed
write does not undo its neighbours), and commits the whole group with one fsync. The futures
are resolved on the loop only after that commit: an acknowledged write is durable.

Reads go to a small pool of read-only connections on executor threads (WAL lets them run
while the writer commits), so the event loop never waits on SQLite.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import StaticPool

from agent.store.sqlite import connect_reader, connect_writer

T = TypeVar("T")
WriteFn = Callable[[sqlite3.Connection], Any]
AfterCommit = Callable[[], None]

log = logging.getLogger(__name__)
MAX_GROUP = 512


class WriteResult:
    """What a write function may return to have work done on the loop after the commit."""

    __slots__ = ("value", "after_commit")

    def __init__(self, value: Any, after_commit: AfterCommit | None = None) -> None:
        self.value = value
        self.after_commit = after_commit


class _Job:
    __slots__ = ("fn", "future", "outcome", "error")

    def __init__(self, fn: WriteFn, future: asyncio.Future[Any]) -> None:
        self.fn = fn
        self.future = future
        self.outcome: Any = None
        self.error: BaseException | None = None


class Writer:
    def __init__(self, path: Path, loop: asyncio.AbstractEventLoop) -> None:
        self.path = path
        self._loop = loop
        self._conn = connect_writer(path)
        # SQLAlchemy Core over the same DB-API connection, for the bulk paths (executemany).
        # Transactions stay ours (BEGIN IMMEDIATE … COMMIT around each group): AUTOCOMMIT
        # keeps SQLAlchemy from issuing its own, and the connection is never returned to the
        # pool mid-transaction.
        self._engine = create_engine(
            "sqlite://",
            creator=lambda: self._conn,
            poolclass=StaticPool,
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,
        )
        self.sa: Connection = self._engine.connect()
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"writer:{path.stem}", daemon=True)
        self._closed = False
        self.commits = 0
        self.writes = 0
        self._thread.start()

    async def submit(self, fn: WriteFn) -> Any:
        if self._closed:
            raise RuntimeError("store is closed")
        future: asyncio.Future[Any] = self._loop.create_future()
        self._queue.put(_Job(fn, future))
        return await future

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)
        self.sa.close()
        self._engine.dispose()
        self._conn.close()

    # -- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stop = False
            while len(group) < MAX_GROUP:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                group.append(job)
            self._commit_group(group)
            if stop:
                return

    def _commit_group(self, group: list[_Job]) -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in group:
                conn.execute("SAVEPOINT w")
                try:
                    job.outcome = job.fn(conn)
                except BaseException as err:  # noqa: BLE001 - handed to the caller
                    job.error = err
                    conn.execute("ROLLBACK TO w")
                conn.execute("RELEASE w")
            conn.execute("COMMIT")
            self.commits += 1
            self.writes += len(group)
        except sqlite3.Error as err:
            log.exception("commit of %d writes failed", len(group))
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in group:
                if job.error is None:
                    job.error = err
                    job.outcome = None
        self._loop.call_soon_threadsafe(_settle, group)


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
