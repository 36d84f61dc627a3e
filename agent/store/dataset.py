"""One dataset's store: its SQLite file, single writer, readers and the async API.

The APIs call these coroutines; they validate on the loop, run the write on the single
writer (group-committed, durable when they return) and publish ``record`` events after the
commit.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from agent.events import EventBus, RecordAction, RecordEvent, SyncEvent
from agent.store import duplicates, resolve, rows, syncing, writes
from agent.store.states import FAILED_RECORDS, sql_in, sql_value
from agent.store.writer import SEARCH_BACKLOG, Readers, Writer, WriteResult
from agent.supervisor import Supervisor
from protocol.accounting import ACCOUNTING_PACK
from protocol.errors import ErrorCode, ProtocolError
from protocol.i18n import Lang, Text
from protocol.ids import new_id
from protocol.local import Download
from protocol.models import (
    UUID_PATTERN,
    ChangesPage,
    OpResult,
    Record,
    RecordPage,
    ResolveRequest,
    SnapshotPage,
    SyncState,
)
from protocol.query import DEFAULT_LIMIT, RecordQuery
from protocol.schema import CollectionSchema, SchemaRegistry
from protocol.wording import ID_EXAMPLE, FieldErrors, Problem, invalid, wire_labeller

if TYPE_CHECKING:
    from agent.store.syncing import PendingOp

# Literals, not parameters: the partial index records_unsynced (sync_state <> 'synced') is
# used only for a constant condition that implies it.
log = logging.getLogger("officesync.store")
_SYNCED = sql_value(SyncState.SYNCED)
_FAILED = sql_in(FAILED_RECORDS)
EVENT_DETAIL_LIMIT = 100  # above this many records, one summary event instead of one each
ALL = RecordQuery()  # no filter, the first page
# The trigram index finds substrings of 3 characters or more; a shorter search text is matched
# on the records in key order (a page fills after a few rows: such a text is in most of them).
SEARCH_INDEX_MIN = 3
SEARCH_CANDIDATES = 2000  # above this many, the text is common: records read in key order
SEARCH_TAIL = 6  # a longer text is first looked up by its last 6 characters (_search_candidates)


class DatasetStore:
    def __init__(
        self,
        dataset_id: str,
        path: Path,
        *,
        registry: SchemaRegistry = ACCOUNTING_PACK,
        bus: EventBus | None = None,
        language: Lang = "vi",
        local_numbering: bool = True,
    ) -> None:
        self.dataset_id = dataset_id
        self.path = path
        self.registry = registry
        self.bus = bus
        self.language: Lang = language
        self.local_numbering = local_numbering
        self._writer: Writer | None = None
        self._readers: Readers | None = None
        self._bulk = False  # a first download in progress (apply_changes)
        self._download_left: int | None = None  # changes the feed holds past the last page
        self._snapshot_total: int | None = None  # the hub's records, while a snapshot loads
        self.search_backlog: int | None = None  # records still to enter the search indexes
        self.tasks = Supervisor(cap=30.0)  # the search indexes' backlog (index_backlog)
        self._closing = False

    async def open(self) -> None:
        self._closing = False
        self._writer = await Writer.open(self.path)
        self._readers = Readers(self.path)
        # A first download cut short (a restart, a crash): its indexes are made now, and the
        # pull goes on as an ordinary one (a snapshot cut short resumes where it was, in a
        # bulk load again from its next page: apply_snapshot).
        await self._writer.submit(finish_bulk, heavy=True)
        if await self.meta(SEARCH_BACKLOG) is not None:  # even if nothing is left in it
            self._index_backlog_soon(await self.readers.run(_backlog_left))

    def _index_backlog_soon(self, left: int) -> None:
        """A backlog is open (``meta.search_backlog``): index it, its first slice ending it
        at once when nothing is left (its records deleted meanwhile)."""
        self.search_backlog = left or None
        # A store closing (a write of its last group may end a download): the backlog stays
        # in meta and goes on at the next open.
        if not self._closing:
            self.tasks.spawn(self._backlog_task, self.index_backlog)

    @property
    def _backlog_task(self) -> str:
        return f"search-index:{self.dataset_id}"

    async def search_indexed(self) -> None:
        """Wait until the records a first download left to the search indexes are in them
        (at once when none are)."""
        running = self.tasks.get(self._backlog_task)
        if running is not None and running.task is not None:
            await asyncio.shield(running.task)

    async def index_backlog(self) -> None:
        """Index the records a first download left to the search indexes, a slice of
        ``BACKLOG_SLICE`` per transaction (each a fraction of a second, so workstations'
        writes go between two), until none is left. The search reads the records without
        the indexes meanwhile (slower, the same answers)."""
        started = asyncio.get_running_loop().time()
        left = self.search_backlog or 1
        while left:
            left = await self.writer.submit(functools.partial(_index_slice, before=left),
                                            heavy=True)
            self.search_backlog = left or None
        log.info("search indexes ready (%.1f s)", asyncio.get_running_loop().time() - started,
                 extra={"dataset": self.dataset_id})

    @property
    def downloading(self) -> bool:
        """A first download (bulk load) is under way: the records are not all there yet."""
        return self._bulk

    def download_progress(self, done: int) -> Download | None:
        """A first download under way: ``done`` records held, out of ``done`` plus what the
        feed holds past the last page applied (when the hub says its head; an estimate that
        counts a later version of a record held twice, exact once caught up)."""
        if not self._bulk:
            return None
        if self._snapshot_total is not None:  # workstations' new records may pass it
            return Download(done=done, total=max(done, self._snapshot_total))
        left = self._download_left
        return Download(done=done, total=None if left is None else done + left)

    async def close(self) -> None:
        self._closing = True
        await self.tasks.stop()
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        if self._readers is not None:
            await asyncio.to_thread(self._readers.close)
            self._readers = None

    @property
    def writer(self) -> Writer:
        if self._writer is None:
            raise ProtocolError(ErrorCode.DATASET_NOT_CONNECTED, {"dataset": self.dataset_id})
        return self._writer

    @property
    def readers(self) -> Readers:
        if self._readers is None:
            raise ProtocolError(ErrorCode.DATASET_NOT_CONNECTED, {"dataset": self.dataset_id})
        return self._readers

    # -- helpers ----------------------------------------------------------------------------

    def schema(self, collection: str) -> CollectionSchema:
        return self.registry.get(collection)

    def label_of(self, collection: str) -> dict[str, str]:
        return writes.label(self.registry.get(collection))

    def _ctx(self) -> writes.WriteContext:
        return writes.WriteContext(now=rows.utc_now(), local_numbering=self.local_numbering)

    def _publish(self, action: RecordAction, record: Record) -> None:
        if self.bus is not None:
            self.bus.publish(RecordEvent(dataset=self.dataset_id, action=action, record=record))

    async def _validate(self, schema: CollectionSchema, data: dict[str, Any]) -> dict[str, Any]:
        """``schema.validate`` (a reference may hold the target's code: the write resolves it,
        agent/store/writes.py) plus, for a value that is neither an id nor a code, which
        record it may stand for."""
        try:
            return schema.validate(data, codes=True)
        except FieldErrors as err:
            wanted = [p for p in err.problems if p.type == "id_expected" and p.input and p.target]
            if not wanted:
                raise
            await self.readers.run(lambda conn: self._hints(conn, wanted))
            raise err.again() from None

    def _hints(self, conn: sqlite3.Connection, problems: list[Problem]) -> None:
        for problem in problems:
            self._hint(conn, problem)

    def _hint(self, conn: sqlite3.Connection, problem: Problem) -> None:
        assert problem.target is not None and problem.input is not None
        target = self.registry.get(problem.target)
        key = target.code_key(problem.input)
        row = rows.find_by_key(conn, target.name, key) if key else None
        typed, what = problem.input, target.label.map(str.lower)
        if row is None:
            problem.add(Text(f"không có {what.vi} nào mang mã {typed}",
                             f"no {what.en} has the code {typed}"))
            return
        data = rows.loads(row["data"]) or {}
        name = data.get("name") or row["key"]
        problem.add(Text(f"{typed} là mã của {what.vi} {name} (id {row['id']})",
                         f"{typed} is the code of the {what.en} {name} (id {row['id']})"))

    async def _path_id(self, schema: CollectionSchema, record_id: str) -> None:
        """``NOT_FOUND`` in words for an id in a path that cannot be an id (a code, say)."""
        if re.fullmatch(UUID_PATTERN, record_id):
            return
        problem = Problem("id", "id_expected", Text("", ""), schema.name, record_id[:80])
        await self.readers.run(lambda conn: self._hint(conn, problem))
        what = schema.label.map(str.lower)
        raise ProtocolError(
            ErrorCode.NOT_FOUND,
            {"what": Text(f"{what.vi} có id {record_id[:80]}",
                          f"A {what.en} with the id {record_id[:80]}"),
             "hint": Text(f". Id có dạng {ID_EXAMPLE}{problem.vi}",
                          f" An id looks like {ID_EXAMPLE}{problem.en}.")},
            {"collection": schema.name, "id": record_id[:80], "reason": "not_an_id"},
        )

    async def _write(self, action: RecordAction, fn: Any) -> Record:
        def run(conn: sqlite3.Connection) -> WriteResult:
            record = fn(conn)
            return WriteResult(record, lambda: self._publish(action, record))

        result: Record = await self.writer.submit(run)
        return result

    # -- workstation writes -----------------------------------------------------------------

    async def create(
        self, collection: str, data: dict[str, Any], *, id: str | None = None
    ) -> Record:
        schema = self.schema(collection)
        clean = await self._validate(schema, data)
        record_id = _check_id(id) if id is not None else new_id()  # time-ordered
        ctx = self._ctx()
        return await self._write(
            RecordAction.CREATE,
            lambda conn: writes.create(conn, schema, record_id, clean, ctx, self.label_of),
        )

    async def update(
        self, collection: str, id: str, data: dict[str, Any], *, if_match: int
    ) -> Record:
        schema = self.schema(collection)
        await self._path_id(schema, id)
        clean = await self._validate(schema, data)
        ctx = self._ctx()
        return await self._write(
            RecordAction.UPDATE,
            lambda conn: writes.update(
                conn, schema, id, clean, if_match, ctx, self.label_of, self.language
            ),
        )

    async def delete(self, collection: str, id: str, *, if_match: int) -> Record:
        schema = self.schema(collection)
        await self._path_id(schema, id)
        ctx = self._ctx()

        def run(conn: sqlite3.Connection) -> Record:
            duplicates.refuse_delete_in_use(conn, self.registry, schema, id)
            return writes.delete(conn, schema, id, if_match, ctx, self.language)

        return await self._write(RecordAction.DELETE, run)

    async def post(self, collection: str, id: str, *, if_match: int) -> Record:
        return await self._set_posted(collection, id, if_match, True)

    async def unpost(self, collection: str, id: str, *, if_match: int) -> Record:
        return await self._set_posted(collection, id, if_match, False)

    async def _set_posted(self, collection: str, id: str, if_match: int, posted: bool) -> Record:
        schema = self.schema(collection)
        await self._path_id(schema, id)
        ctx = self._ctx()
        return await self._write(
            RecordAction.POST if posted else RecordAction.UNPOST,
            lambda conn: writes.set_posted(
                conn, schema, id, if_match, posted, ctx, self.language
            ),
        )

    async def resolve(self, collection: str, id: str, request: ResolveRequest | str) -> Record:
        """Settle a record in conflict, error or blocked (agent/store/resolve.py); a bare
        action name is a request with that action alone."""
        if isinstance(request, str):
            request = ResolveRequest.model_validate({"action": request})
        schema = self.schema(collection)
        await self._path_id(schema, id)
        ctx = self._ctx()

        def run(conn: sqlite3.Connection) -> WriteResult:
            others = resolve.resolve(
                resolve.Resolution(conn, self.registry, schema, id, request, ctx))
            record = rows.to_record(rows.fetch_in(conn, collection, id), self.language)
            # The records the resolution changed besides this one (repointed to the cloud's
            # record, discarded with it, the cloud's record installed): an event each.
            changed = [rows.to_record(row, self.language)
                       for row in (rows.fetch(conn, other) for other in others if other != id)
                       if row is not None]

            def publish() -> None:
                self._publish(RecordAction.RESOLVE, record)
                for other in changed:
                    self._publish(RecordAction.RESOLVE, other)

            return WriteResult(record, publish)

        result: Record = await self.writer.submit(run)
        return result

    # -- reads ------------------------------------------------------------------------------

    async def get(self, collection: str, id: str, *, lang: Lang | None = None) -> Record:
        await self._path_id(self.schema(collection), id)
        language = lang or self.language
        return await self.readers.run(
            lambda conn: rows.to_record(rows.fetch_in(conn, collection, id), language)
        )

    async def query(
        self,
        collection: str,
        query: RecordQuery = ALL,
        *,
        include_deleted: bool = False,
        lang: Lang | None = None,
    ) -> RecordPage:
        """One page of the collection's records matching ``query``, in ``(key, id)`` order."""
        schema = self.schema(collection)
        language = lang or self.language
        checked = query.checked()
        limit = checked.limit or DEFAULT_LIMIT

        def run(conn: sqlite3.Connection) -> RecordPage:
            candidates = _search_candidates(conn, checked.q) if checked.q else None
            if candidates == []:
                return RecordPage(items=[], next=None)
            sql, args = _select(schema, checked, include_deleted, candidates)
            found = conn.execute(sql, args).fetchall()
            items = [rows.to_record(r, language) for r in found[:limit]]
            cursor = _encode_cursor(items[-1].key, items[-1].id) if len(found) > limit else None
            return RecordPage(items=items, next=cursor)

        return await self.readers.run(run)

    async def sync_counts(self) -> dict[str, int]:
        def run(conn: sqlite3.Connection) -> dict[str, int]:
            # Kept by triggers in the transaction of every write (migration 0006), not counted.
            counts = {state.value: 0 for state in SyncState}
            counts.update(conn.execute("SELECT state, n FROM sync_counts WHERE n <> 0"))
            return counts

        return await self.readers.run(run)

    async def sync_issues(
        self, limit: int = 500, *, lang: Lang | None = None
    ) -> list[Record]:
        language = lang or self.language

        def run(conn: sqlite3.Connection) -> list[Record]:
            # ``<> synced`` spelled out: SQLite reads the partial index records_unsynced only
            # for a condition that names its own (an IN list alone scanned every record).
            found = conn.execute(
                f"SELECT {rows.RECORD_COLUMNS} FROM records "
                f"WHERE sync_state <> {_SYNCED} AND sync_state IN {_FAILED} "
                "ORDER BY updated_at LIMIT ?",
                (max(1, min(limit, 5000)),),
            ).fetchall()
            return [rows.to_record(r, language) for r in found]

        return await self.readers.run(run)

    # -- sync side (called by agent/sync; see agent/store/syncing.py) ------------------------

    def _records_changed(self, conn: sqlite3.Connection, ids: list[str],
                         action: Literal[RecordAction.SYNC, RecordAction.PULL]) -> WriteResult:
        if len(ids) > EVENT_DETAIL_LIMIT:
            def summary() -> None:
                if self.bus is not None:
                    self.bus.publish(SyncEvent.records_changed(self.dataset_id, action,
                                                               len(ids)))
            return WriteResult(len(ids), summary)
        found = [rows.fetch(conn, rid) for rid in ids]
        records = [rows.to_record(r, self.language) for r in found if r is not None]

        def publish() -> None:
            for record in records:
                self._publish(action, record)

        return WriteResult(len(ids), publish)

    async def reset_syncing(self) -> int:
        n: int = await self.writer.submit(syncing.reset_syncing, heavy=True)
        return n

    async def take_batch(
        self, limit: int, in_flight: frozenset[str] = frozenset()
    ) -> tuple[list[PendingOp], dict[str, int | None]]:
        """Up to ``limit`` ops to push, marked syncing, with their records' hub versions;
        records of a push still awaiting its answer (``in_flight``) are left out."""
        def run(conn: sqlite3.Connection) -> WriteResult:
            batch, versions, blocked = syncing.take_batch(conn, self.registry, limit,
                                                          in_flight)
            result = self._records_changed(conn, blocked, RecordAction.SYNC)
            return WriteResult((batch, versions), result.after_commit)

        taken: tuple[list[PendingOp], dict[str, int | None]] = (
            await self.writer.submit(run, heavy=True))
        return taken

    async def requeue(self, ops: list[PendingOp]) -> None:
        await self.writer.submit(lambda conn: syncing.requeue(conn, ops), heavy=True)

    async def store_results(self, ops: list[PendingOp],
                            results: list[OpResult]) -> int:
        now = rows.utc_now()

        def run(conn: sqlite3.Connection) -> WriteResult:
            touched = syncing.store_results(conn, self.registry, ops, results, now)
            return self._records_changed(conn, touched, RecordAction.SYNC)

        n: int = await self.writer.submit(run, heavy=True)
        return n

    async def store_results_and_take(
        self, ops: list[PendingOp], results: list[OpResult], limit: int,
        in_flight: frozenset[str],
    ) -> tuple[int, list[PendingOp], dict[str, int | None]]:
        """:meth:`store_results` then :meth:`take_batch`, in one transaction: the push
        stores the answer to one batch and takes the one after the batch in flight with one
        commit. Returns what each of them returns."""
        now = rows.utc_now()

        def run(conn: sqlite3.Connection) -> WriteResult:
            touched = syncing.store_results(conn, self.registry, ops, results, now)
            stored = self._records_changed(conn, touched, RecordAction.SYNC)
            batch, versions, blocked = syncing.take_batch(conn, self.registry, limit,
                                                          in_flight)
            taken = self._records_changed(conn, blocked, RecordAction.SYNC)

            def after_commit() -> None:
                for result in (stored, taken):
                    if result.after_commit is not None:
                        result.after_commit()

            return WriteResult((stored.value, batch, versions), after_commit)

        done: tuple[int, list[PendingOp], dict[str, int | None]] = (
            await self.writer.submit(run, heavy=True))
        return done

    async def apply_changes(self, page: ChangesPage, node_id: str) -> int:
        """Apply one page of the hub's feed; the cursor moves in the same transaction.

        The first download of a dataset (the node holds nothing, the feed has more than a
        page) is a bulk load: the secondary indexes and the search indexes' triggers are
        dropped with its first page and made again, the search indexes rebuilt in one pass,
        with the page that catches up (:func:`start_bulk`, :func:`finish_bulk`)."""
        now = rows.utc_now()
        writer = self.writer

        def run(conn: sqlite3.Connection) -> WriteResult:
            bulk = self._bulk
            if page.has_more and not bulk and _fresh(conn):
                bulk = start_bulk(conn)
            changed = syncing.apply_changes(conn, self.registry, page.changes,
                                            page.last_seq, node_id, now, count_new=bulk)
            finished = bulk and not page.has_more and finish_bulk(conn)
            bulk = bulk and not finished
            backlog = _backlog_left(conn) if finished else 0
            result = self._records_changed(conn, changed, RecordAction.PULL)

            def after_commit() -> None:  # a rolled-back page changes nothing, the flag neither
                self._bulk = bulk
                if finished:
                    self._index_backlog_soon(backlog)
                self._download_left = (None if page.head_seq is None
                                       else max(0, page.head_seq - page.last_seq))
                if result.after_commit is not None:
                    result.after_commit()

            return WriteResult(result.value, after_commit)

        n: int = await writer.submit(run, heavy=True)
        return n

    async def snapshot_due(self) -> SnapshotProgress | None:
        """Where the pull's first download through the hub's snapshot stands: the one cut
        short (its ``since``, ``after`` and ``total``), a new one for a fresh store (all
        None), or None: the store has pulled before, the feed goes on from its cursor."""
        def run(conn: sqlite3.Connection) -> SnapshotProgress | None:
            saved = rows.get_meta(conn, SNAPSHOT_META)
            if isinstance(saved, dict):
                return SnapshotProgress(int(saved["since"]), str(saved["after"]),
                                        None if saved.get("total") is None
                                        else int(saved["total"]))
            return SnapshotProgress() if _fresh(conn) else None

        return await self.readers.run(run)

    async def apply_snapshot(self, page: SnapshotPage, node_id: str, since: int,
                             total: int | None) -> int:
        """Apply one page of the hub's snapshot through the pull's upsert (a record with ops
        waiting keeps them, an older version never replaces a newer one); the cursor stays.

        In the page's transaction: the snapshot's progress (``since``: the first page's
        ``head_seq``, ``after``: this page's last id, ``total``) so a restart resumes from
        the next page; with the last page, the progress is dropped and the cursor set to
        ``since`` (the feed goes on from there). With more pages to come, the store is in a
        bulk load (:func:`start_bulk`), ended when the feed after it catches up."""
        now = rows.utc_now()

        def run(conn: sqlite3.Connection) -> WriteResult:
            bulk = self._bulk
            if page.next is not None and not bulk:
                bulk = start_bulk(conn)
            cursor = int(rows.get_meta(conn, "cursor", 0))  # stays where it is (0)
            changed = syncing.apply_changes(conn, self.registry, page.records, cursor,
                                            node_id, now, count_new=bulk)
            if page.next is not None:
                rows.set_meta(conn, SNAPSHOT_META,
                              {"since": since, "after": page.next, "total": total})
            else:
                conn.execute("DELETE FROM meta WHERE key = ?", (SNAPSHOT_META,))
                rows.set_meta(conn, "cursor", since)
            result = self._records_changed(conn, changed, RecordAction.PULL)

            def after_commit() -> None:  # a rolled-back page changes nothing, the flag neither
                self._bulk = bulk
                self._snapshot_total = total if page.next is not None else None
                # what the feed holds past ``since`` is still to come
                self._download_left = max(0, page.head_seq - since)
                if result.after_commit is not None:
                    result.after_commit()

            return WriteResult(result.value, after_commit)

        n: int = await self.writer.submit(run, heavy=True)
        return n

    async def abandon_snapshot(self) -> None:
        """Forget a snapshot cut short (the hub no longer has the route): the feed from 0
        brings everything again, the upsert keeping what is not older."""
        await self.writer.submit(
            lambda conn: conn.execute("DELETE FROM meta WHERE key = ?", (SNAPSHOT_META,)))
        self._snapshot_total = None

    async def finish_download(self) -> bool:
        """End a first download whose last page brought nothing (the pull caught up): its
        indexes are made now. False when none was under way."""
        def run(conn: sqlite3.Connection) -> WriteResult:
            done = finish_bulk(conn)
            backlog = _backlog_left(conn) if done else 0

            def after_commit() -> None:
                if done:
                    self._bulk = False
                    self._index_backlog_soon(backlog)

            return WriteResult(done, after_commit)

        finished: bool = await self.writer.submit(run, heavy=True)
        return finished

    async def cursor(self) -> int:
        return int(await self.meta("cursor", 0))

    async def outbox_size(self) -> int:
        return int(await self.readers.run(
            lambda conn: conn.execute("SELECT count(*) FROM outbox").fetchone()[0]))

    async def series_remaining(self) -> dict[str, int]:
        def run(conn: sqlite3.Connection) -> dict[str, int]:
            return {name: int(n) for name, n in conn.execute(
                'SELECT name, sum("end" - next + 1) FROM series WHERE next <= "end" '
                "GROUP BY name")}

        return await self.readers.run(run)

    async def add_series_block(self, name: str, start: int, end: int) -> None:
        await self.writer.submit(lambda conn: conn.execute(
            'INSERT OR IGNORE INTO series (name, start, "end", next) VALUES (?, ?, ?, ?)',
            (name, start, end, start)))

    async def meta(self, key: str, default: Any = None) -> Any:
        return await self.readers.run(lambda conn: rows.get_meta(conn, key, default))

    async def set_meta(self, key: str, value: Any) -> None:
        await self.writer.submit(lambda conn: rows.set_meta(conn, key, value))


def _check_id(value: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(UUID_PATTERN, value):
        raise invalid("id", f"Mã định danh (id) phải có dạng {ID_EXAMPLE} (chữ thường), hoặc "
                      "bỏ trống để máy chủ tự tạo",
                      f"The id must look like {ID_EXAMPLE} (lower case), or be left out so "
                      "the node makes one", "id_expected")
    return value


# -- the first download as a bulk load --------------------------------------------------------

BULK_META = "bulk_load"  # meta: the SQL of what a first download dropped, to make it again
SNAPSHOT_META = "snapshot"  # meta: a first download through the snapshot, page by page


@dataclass(frozen=True)
class SnapshotProgress:
    """A snapshot under way: the feed's head when it began (``since``: the cursor once it
    ends), the last id applied (``after``) and the hub's count of records (``total``); all
    None for one not begun."""

    since: int | None = None
    after: str | None = None
    total: int | None = None
# Made again at the end of a first download rather than kept up row by row. The PRIMARY KEY
# stays, and so does the partial index of records not synced (a pulled record is synced: it
# never enters it, and making it again scanned the million records for nothing, 0.3 s). The
# counts stay exact: while the load runs, the insert trigger of sync_counts
# counts only what is not synced (workstations' new records), and each page counts the
# synced records it adds in one statement (syncing.apply_changes, count_new): 3.7 µs a
# record less (13.8 → 10.1 µs for a page's insert and commit).
_BULK_DROPPED = ("records_key", "records_date", "records_fts_insert",
                 "records_fts_delete", "records_fts_update_data", "records_fts_update_key",
                 "sync_counts_insert")
_BULK_COUNTS_INSERT = (
    "CREATE TRIGGER sync_counts_insert AFTER INSERT ON records "
    f"WHEN new.sync_state <> '{SyncState.SYNCED}' BEGIN "
    "INSERT INTO sync_counts (state, n) VALUES (new.sync_state, 1) "
    "ON CONFLICT (state) DO UPDATE SET n = n + 1; END")
_SEARCH_INDEXES = ("records_fts", "records_key_fts")
_BULK_CACHE_KIB = 8 * 1024  # the writer's page cache while it loads (default: 2 MiB)


def _fresh(conn: sqlite3.Connection) -> bool:
    """Nothing pulled yet and nothing held: a first download."""
    return (int(rows.get_meta(conn, "cursor", 0)) == 0
            and conn.execute("SELECT 1 FROM records LIMIT 1").fetchone() is None
            and conn.execute("SELECT 1 FROM outbox LIMIT 1").fetchone() is None)


def start_bulk(conn: sqlite3.Connection) -> bool:
    """Drop the secondary indexes and the search triggers, their SQL kept in ``meta`` (in
    the transaction of the first page: a crash undoes both or neither)."""
    marks = ",".join("?" * len(_BULK_DROPPED))
    saved = conn.execute(
        f"SELECT type, name, sql FROM sqlite_master WHERE name IN ({marks}) "
        "AND type IN ('index', 'trigger') ORDER BY type, name", _BULK_DROPPED).fetchall()
    rows.set_meta(conn, BULK_META, [list(r) for r in saved])
    for kind, name, _ in saved:
        conn.execute(f'DROP {"INDEX" if kind == "index" else "TRIGGER"} "{name}"')
    conn.execute(_BULK_COUNTS_INSERT)
    conn.execute(f"PRAGMA cache_size = -{_BULK_CACHE_KIB}")
    return True


def finish_bulk(conn: sqlite3.Connection) -> bool:
    """Make again what :func:`start_bulk` dropped and queue every record for the search
    indexes (also those workstations wrote meanwhile): :func:`_index_slice` indexes them
    after this commit, a slice at a time. False when no bulk load was open.

    Rebuilding the search indexes here (``'rebuild'``) cost 30 s for a million records, all
    in the download's last transaction: every workstation's write waited for it."""
    saved = rows.get_meta(conn, BULK_META)
    if saved is None:
        return False
    for kind, name, sql in saved:  # sync_counts_insert: the load's own is replaced
        conn.execute(f'DROP {"INDEX" if kind == "index" else "TRIGGER"} IF EXISTS "{name}"')
        conn.execute(sql)
    for table in _SEARCH_INDEXES:  # empty after a load (its triggers were dropped)
        conn.execute(f"INSERT INTO {table} ({table}) VALUES ('delete-all')")
        _set_fts(conn, table, _REBUILD_MERGE)
    conn.execute("INSERT OR IGNORE INTO search_pending (record_rowid) SELECT rowid FROM records")
    top = conn.execute("SELECT max(record_rowid) FROM search_pending").fetchone()[0]
    if top is not None:
        rows.set_meta(conn, SEARCH_BACKLOG, int(top))
    conn.execute("DELETE FROM meta WHERE key = ?", (BULK_META,))
    conn.execute("PRAGMA cache_size = -2000")
    return True


BACKLOG_SLICE = 10_000  # records indexed per transaction after a first download


def _backlog_left(conn: sqlite3.Connection) -> int:
    """How many records still wait for the search indexes after a first download."""
    top = rows.get_meta(conn, SEARCH_BACKLOG)
    return 0 if top is None else int(conn.execute(
        "SELECT count(*) FROM search_pending WHERE record_rowid <= ?", (int(top),)).fetchone()[0])


def _index_slice(conn: sqlite3.Connection, before: int) -> int:
    """Index the next slice of the backlog, which held about ``before`` records; return how
    many are left (0: the backlog is over, the search reads the indexes again). The count
    shown meanwhile is ``before`` less the slice, not counted again each time (a count of a
    million queued rowids per slice cost a tenth of the backlog); records a workstation
    removed meanwhile only make the end come sooner than it said."""
    top = rows.get_meta(conn, SEARCH_BACKLOG)
    if top is None:
        return 0
    done = conn.execute(  # the trigger of migration 0008 indexes each row as it leaves
        "DELETE FROM search_pending WHERE record_rowid IN (SELECT record_rowid FROM "
        "search_pending WHERE record_rowid <= ? ORDER BY record_rowid LIMIT ?)",
        (int(top), BACKLOG_SLICE)).rowcount
    more = conn.execute("SELECT 1 FROM search_pending WHERE record_rowid <= ? LIMIT 1",
                        (int(top),)).fetchone() is not None
    left = max(1, before - done) if more else 0
    if not left:
        conn.execute("DELETE FROM meta WHERE key = ?", (SEARCH_BACKLOG,))
        for table in _SEARCH_INDEXES:
            _set_fts(conn, table, _DEFAULT_MERGE)
    return left


# FTS5's merging of its segments during the rebuild: with up to 16 segments of a level
# (default 4) before they are merged, the rebuild of 200k records' data index took 2.4 s
# against 3.4-3.7 s, its searches as fast (no merging at all: 1.9-2.2 s, searches 2x slower).
# Put back to FTS5's defaults after the rebuild, for the writes that follow.
_REBUILD_MERGE = (("automerge", 16), ("crisismerge", 64))
_DEFAULT_MERGE = (("automerge", 4), ("crisismerge", 16))


def _set_fts(conn: sqlite3.Connection, table: str, options: tuple[tuple[str, int], ...]) -> None:
    for name, value in options:
        conn.execute(f"INSERT INTO {table} ({table}, rank) VALUES (?, ?)", (name, value))


def _search_candidates(conn: sqlite3.Connection, text: str) -> list[int] | None:
    """The rowids of the records whose key or data may contain ``text``, from the trigram
    indexes (migration 0006); None when the text is too short for them or in more than
    :data:`SEARCH_CANDIDATES` records (then the records are read in key order, and a page
    fills after a few of them).

    In a LIKE on an FTS5 trigram table ``%`` and ``_`` of the text are wildcards and letters
    of any script match in either case, so the candidates are a superset of the matches."""
    if len(text) < SEARCH_INDEX_MIN or conn.execute(
            "SELECT 1 FROM meta WHERE key IN (?, ?)", (BULK_META, SEARCH_BACKLOG)).fetchone():
        return None  # during a first download and its backlog, the indexes are not whole
    # The index reads one list of records per trigram of the pattern, and a trigram of a
    # common phrase ("Công ty TNHH", "Dịch vụ Số ") lists most of them: the text's last
    # characters alone (often the distinctive part: a number, a given name) are tried first;
    # any record holding the whole text holds them too.
    tail = text.rstrip()[-SEARCH_TAIL:]
    for part in ([tail] if len(tail) >= SEARCH_INDEX_MIN and tail != text else []) + [text]:
        found = _candidates(conn, part)
        if found is not None:
            return found
    return None


def _candidates(conn: sqlite3.Connection, text: str) -> list[int] | None:
    pattern = f"%{text}%"
    found: set[int] = set()
    for table, column in (("records_key_fts", "key"), ("records_fts", "data")):
        found.update(r[0] for r in conn.execute(
            f"SELECT rowid FROM {table} WHERE {column} LIKE ? LIMIT {SEARCH_CANDIDATES + 1}",
            (pattern,)))
        if len(found) > SEARCH_CANDIDATES:
            return None
    return sorted(found)


def _select(
    schema: CollectionSchema, query: RecordQuery, include_deleted: bool,
    candidates: list[int] | None = None,
) -> tuple[str, list[Any]]:
    """The SQL and arguments of a checked ``query`` (one row more than a page: is there a
    next one?); ``candidates``: the only rowids that can match its search text."""
    # With candidates, ``+collection``: look them up by rowid, not walk the collection.
    where = ["collection = ?" if candidates is None else "+collection = ?"]
    args: list[Any] = [schema.name]
    if not include_deleted:
        where.append("deleted = 0")
    if query.key is not None:
        where.append("key = ?")
        args.append(schema.normalise_key(query.key))  # kh001 finds KH001
    if query.q:
        if candidates is not None:
            # The records the trigram indexes name (_search_candidates); the LIKE below keeps
            # exactly what the search always matched.
            where.append(f"rowid IN ({','.join(str(int(c)) for c in candidates)})")
        where.append("(key LIKE ? ESCAPE '\\' OR data LIKE ? ESCAPE '\\')")
        q = query.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args += ["%" + q + "%"] * 2
    for column, op, value in (("date", ">=", query.date_from), ("date", "<=", query.date_to),
                              ("sync_state", "=", query.sync_state)):
        if value is not None:
            where.append(f"{column} {op} ?")
            args.append(value)
    if query.after:
        after_key, after_id = _decode_cursor(query.after)
        where.append("(key > ? OR (key = ? AND id > ?))")
        args += [after_key, after_key, after_id]
    sql = (
        f"SELECT {rows.RECORD_COLUMNS} FROM records WHERE {' AND '.join(where)} "
        f"ORDER BY key, id LIMIT {(query.limit or DEFAULT_LIMIT) + 1}"
    )
    return sql, args


def _bad_filter(name: str, value: str) -> ProtocolError:
    label = wire_labeller((name,))
    shown = value[:80]
    return invalid(name, f"{label.vi}: giá trị {shown} không hợp lệ",
                   f"{label.en}: the value {shown} is not valid", "query")


def _encode_cursor(key: str, record_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([key, record_id])).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key, record_id = orjson.loads(base64.urlsafe_b64decode(padded))
        return str(key), str(record_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise _bad_filter("after", cursor) from None
