"""The hub's one I/O component for the database.

SQLAlchemy's engines are synchronous; every transaction runs on an executor thread so the event
loop never blocks. SQLite gets ONE writer thread (its single-writer rule made explicit, WAL lets
readers run beside it); PostgreSQL gets a small pool of writer threads and relies on a row lock
per dataset to serialise pushes to the same dataset.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import sqlalchemy as sa

from hub import nodes, records
from hub.db import (
    analyze,
    checkpoint,
    create_hub_engine,
    create_schema,
    is_postgres,
    libpq_conninfo,
    normalise_url,
)
from hub.nodes import Node
from hub.push import Batch, PushResult, prepare_batch
from protocol.i18n import Lang
from protocol.models import Op
from protocol.query import RecordQuery

T = TypeVar("T")
ANALYZE_EVERY = 5_000  # records pushed before the PostgreSQL hub refreshes its statistics
log = logging.getLogger("officesync.hub")


class HubStore:
    def __init__(self, db_url: str) -> None:
        self.url = normalise_url(db_url)
        self.postgres = is_postgres(self.url)
        self.engine = create_hub_engine(db_url)
        self._writer = ThreadPoolExecutor(4 if self.postgres else 1, "hub-write")
        self._reader = ThreadPoolExecutor(4, "hub-read")
        # SQLite: WAL checkpoints run here, beside the writer, not inside its commits.
        self._checkpointer = None if self.postgres else ThreadPoolExecutor(1, "hub-checkpoint")
        self._checkpoint_queued = False
        # PostgreSQL: ANALYZE of the growing tables runs here, beside the writers.
        self._analyzer = ThreadPoolExecutor(1, "hub-analyze") if self.postgres else None
        self._analyze_queued = False
        self._grown = 0  # records changed by pushes since the last ANALYZE this process ran
        self._analyzed_at = 0  # the table's row count then (0: never)

    @property
    def conninfo(self) -> str:
        return libpq_conninfo(self.url)

    def transaction(self, fn: Callable[..., T], *args: Any, write: bool = False) -> T:
        """Run ``fn(conn, *args)`` in one transaction on the calling thread."""
        with self.engine.connect() as conn:
            conn.execution_options(write=write)
            with conn.begin():
                return fn(conn, *args)

    async def _run(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any,
                   write: bool) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            pool, partial(self.transaction, fn, *args, write=write)
        )

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._run(self._reader, fn, *args, write=False)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await self._run(self._writer, fn, *args, write=True)
        finally:
            self._request_checkpoint()

    def _request_checkpoint(self) -> None:
        """Queue one WAL checkpoint (at most one waits; it covers every commit before it)."""
        if self._checkpointer is None or self._checkpoint_queued:
            return
        self._checkpoint_queued = True
        try:
            self._checkpointer.submit(self._checkpoint)
        except RuntimeError:  # shutting down: closing the last connection checkpoints
            self._checkpoint_queued = False

    def _checkpoint(self) -> None:
        self._checkpoint_queued = False  # commits from now on need another run
        try:
            checkpoint(self.engine)
        except sa.exc.DBAPIError as err:  # busy or locked: the next write asks again
            log.warning("WAL checkpoint failed: %s", err)

    def _note_growth(self, applied: int) -> None:
        """PostgreSQL: ANALYZE ``hub_records`` once pushes have doubled it (at least
        ``ANALYZE_EVERY`` records) since the last time. The push's lookups are planned from
        those statistics and autovacuum's own ANALYZE comes a minute or more late for a table
        filling at thousands of rows a second; between two, the planner scales the row count
        by the table's size itself, so doublings suffice (a tenth cost 2.5 s of ANALYZE per
        100,000 records pushed, doublings 0.5 s)."""
        if self._analyzer is None or applied == 0:
            return
        self._grown += applied
        if self._analyze_queued or self._grown < max(ANALYZE_EVERY, self._analyzed_at):
            return
        self._analyze_queued = True
        try:
            self._analyzer.submit(self._analyze)
        except RuntimeError:  # shutting down
            self._analyze_queued = False

    def _analyze(self) -> None:
        grown, self._grown = self._grown, 0
        try:
            self._analyzed_at = analyze(self.engine)
        except sa.exc.DBAPIError as err:  # e.g. autovacuum holds the table: next time
            self._grown += grown
            log.warning("ANALYZE of hub_records failed: %s", err)
        finally:
            self._analyze_queued = False

    async def maintenance_done(self) -> None:
        """Wait until the ANALYZE queued so far has run (tests)."""
        if self._analyzer is not None:
            await asyncio.get_running_loop().run_in_executor(self._analyzer, lambda: None)

    async def checkpoints_done(self) -> None:
        """Wait until every checkpoint queued so far has run (tests, shutdown)."""
        if self._checkpointer is not None:
            await asyncio.get_running_loop().run_in_executor(self._checkpointer, lambda: None)

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._writer, create_schema, self.engine)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._shutdown)

    def _shutdown(self) -> None:
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)
        if self._checkpointer is not None:
            self._checkpointer.shutdown(wait=True)
        if self._analyzer is not None:
            self._analyzer.shutdown(wait=True)
        self.engine.dispose()

    # --- nodes and datasets ----------------------------------------------------------------

    async def enroll(self, code: str, node_name: str) -> tuple[str, str, list[str]]:
        return await self.write(nodes.enroll, code, node_name)

    async def authenticate(self, token: str | None) -> Node:
        return await self.read(nodes.authenticate, token)

    async def create_dataset(self, dataset: str) -> bool:
        return await self.write(nodes.create_dataset, dataset)

    async def create_enroll_code(self, wanted: list[str], ttl: dt.timedelta) -> str:
        return await self.write(nodes.create_enroll_code, wanted, ttl)

    # --- dataset-scoped: authorise and act in one transaction -------------------------------

    async def push(self, token: str | None, dataset: str, ops: list[Op],
                   lang: Lang) -> list[PushResult]:
        # Validation (pydantic, the keys and references of each op) needs no hub state: it
        # runs on a reader thread, after the token's check, while the writer may still be
        # committing an earlier batch; the writer then only looks up, plans and writes.
        batch = await self.read(_prepare, token, dataset, ops)
        try:
            results = await self.write(_push, token, dataset, ops, lang, self.postgres, batch,
                                       True)
        except records.AlreadyThere:  # a replay, or a create of an id the hub holds
            results = await self.write(_push, token, dataset, ops, lang, self.postgres, batch,
                                       False)
        self._note_growth(sum(1 for r in results if r.applied and not r.replayed))
        return results

    async def changes(self, token: str | None, dataset: str, since: int,
                      limit: int) -> bytes | None:
        return await self.read(_scoped(records.changes_page), token, dataset, since, limit)

    async def snapshot(self, token: str | None, dataset: str, after: str | None,
                       limit: int, form: str | None = None) -> bytes:
        return await self.read(_scoped(records.snapshot_page), token, dataset, after, limit,
                               form)

    async def get_record(self, token: str | None, dataset: str, collection: str,
                         id: str) -> dict[str, Any]:
        return await self.read(_scoped(records.get_record), token, dataset, collection, id)

    async def list_records(self, token: str | None, dataset: str, collection: str,
                           query: RecordQuery, include_deleted: bool = False) -> dict[str, Any]:
        return await self.read(_scoped(records.list_records), token, dataset, collection, query,
                               include_deleted)

    async def digest(self, token: str | None, dataset: str, collection: str, date_from: str,
                     date_to: str) -> dict[str, Any]:
        return await self.read(
            _scoped(records.digest), token, dataset, collection, date_from, date_to
        )

    async def lease(self, token: str | None, dataset: str, series: str,
                    count: int) -> dict[str, Any]:
        return await self.write(_scoped(records.lease), token, dataset, series, count)


def _prepare(conn: sa.Connection, token: str | None, dataset: str, ops: list[Op]) -> Batch:
    nodes.authorize(conn, token, dataset)  # no validation work for a refused token
    return prepare_batch(ops)


def _push(conn: sa.Connection, token: str | None, dataset: str, ops: list[Op], lang: Lang,
          postgres: bool, batch: Batch, optimistic: bool) -> list[PushResult]:
    node = nodes.authorize(conn, token, dataset)  # again: revoked meanwhile is refused
    return records.push(conn, dataset, node.id, ops, lang, postgres, batch, optimistic)


def _scoped(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn(conn, dataset, *args)`` preceded by the token's authorisation for ``dataset``."""

    def run(conn: sa.Connection, token: str | None, dataset: str, *args: Any) -> T:
        nodes.authorize(conn, token, dataset)
        return fn(conn, dataset, *args)

    return run
