"""The inbox drop folder (``[inbox] dir``, docs/xml.md): XML files dropped there are imported.

One supervised loop (:class:`agent.supervisor.Supervisor`: a failure is logged once, the loop
restarted with backoff and listed in ``/status``) watches the folder with watchdog and scans
it at start (files dropped while the node was down) and on every event, plus every
``RESCAN_S`` in case an event was missed (network shares). A file is taken once it is complete:
its size and modification time unchanged for ``[inbox] settle_s`` (a file renamed in is
complete at once when ``settle_s`` is 0). Then:

1. larger than ``[inbox] max_file_mb`` → ``failed/`` unread;
2. its SHA-256 is already recorded in the dataset (a file imported before, under any name) →
   ``done/``, nothing imported again, the report says when it was;
3. else it is parsed and imported (:func:`agent.xmlio.import_file`); → ``done/`` when no record
   failed (the hash is recorded), ``failed/`` otherwise (fix and drop it again: what was
   created is skipped the second time).

The report ``<name>.report.txt`` (node language) and ``<name>.report.json`` are written
beside the moved file, report first: a crash at any point leaves the file in the inbox, and the
next run is idempotent (records already there are skipped by id). Files directly in ``dir``
go to ``[inbox] dataset`` (default: the only dataset of the config); a file in
``dir/<dataset id>/`` goes to that dataset. A dataset not connected keeps its files waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from agent import xmlio
from agent.supervisor import wait_woken
from protocol.errors import ErrorCode, ProtocolError, render
from protocol.i18n import Lang, Text
from protocol.models import DATASET_ID_PATTERN

if TYPE_CHECKING:
    from agent.app import NodeContext
    from agent.config import Config

log = logging.getLogger("officesync.inbox")

DONE, FAILED = "done", "failed"
RESCAN_S = 30.0
MIB = 1024 * 1024
LOOP_NAME = "inbox"
_META = "inbox:"

_TEXTS: dict[str, Text] = {
    "title": Text("OfficeSync — nhập tệp {name} (SHA-256 {sha}) lúc {at}",
                  "OfficeSync — import of {name} (SHA-256 {sha}) at {at}"),
    "again": Text("Tệp này (cùng nội dung) đã được nhập lúc {at} (tên {first}): không nhập lại "
                  "bản ghi nào.",
                  "This file (same content) was imported at {at} (as {first}): no record "
                  "imported again."),
    "file_refused": Text("Không nhập được tệp: {reason}", "The file was not imported: {reason}"),
    "no_dataset": Text(
        "không biết nhập vào dữ liệu nào: máy chủ có {datasets}. Hãy đặt tệp vào thư mục con "
        "mang tên dữ liệu (vd. {example}/) hoặc đặt [inbox] dataset trong tệp cấu hình",
        "which dataset is not known: this node has {datasets}. Put the file in the subfolder "
        "named after the dataset (e.g. {example}/) or set [inbox] dataset in the config"),
}


def _say(key: str, lang: Lang, **params: Any) -> str:
    return _TEXTS[key].format(**params).get(lang)


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float


def inbox_dir(config: Config) -> Path | None:
    """``[inbox] dir``, relative to the config file when it is relative."""
    path = config.inbox.dir
    if path is None:
        return None
    if not path.is_absolute() and config.source is not None:
        path = config.source.parent / path
    return path


def _unique(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name-2.xml``, ``-3``… when that file or its report exists."""
    stem, suffix = os.path.splitext(name)
    n = 1
    while True:
        candidate = folder / (name if n == 1 else f"{stem}-{n}{suffix}")
        if not candidate.exists() and not Path(f"{candidate}.report.txt").exists():
            return candidate
        n += 1


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class Inbox:
    """The drop folder of one node (see the module's docstring)."""

    def __init__(self, root: Path, ctx: NodeContext, *, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.root = root
        self.ctx = ctx
        self.clock = clock
        self.wake = asyncio.Event()
        self._seen: dict[Path, _Seen] = {}
        self._waiting_logged: set[Path] = set()
        self.imported = 0  # files handled since start (done or failed)

    @property
    def config(self) -> Config:
        return self.ctx.config

    # -- the loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Watch and scan until cancelled; raises when the watcher dies (the supervisor
        restarts it with backoff)."""
        self.root.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        wake = self.wake

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                with contextlib.suppress(RuntimeError):  # the loop has closed
                    loop.call_soon_threadsafe(wake.set)

        observer = Observer()
        observer.schedule(Handler(), str(self.root), recursive=True)
        observer.start()
        try:
            while True:
                settling = await self.scan()
                if not observer.is_alive():
                    raise RuntimeError(f"the watcher of {self.root} stopped")
                if settling:
                    timeout = max(0.1, min(self.config.inbox.settle_s, RESCAN_S))
                else:
                    timeout = RESCAN_S
                await wait_woken(wake, timeout)
                wake.clear()
        finally:
            observer.stop()
            await asyncio.to_thread(observer.join, 5)

    def _targets(self) -> list[tuple[Path, str | None]]:
        """``(folder, dataset)`` pairs to look in; ``None``: the dataset is not known."""
        config = self.config
        ids = config.dataset_ids
        default = config.inbox.dataset or (ids[0] if len(ids) == 1 else None)
        folders: list[tuple[Path, str | None]] = [(self.root, default)]
        with contextlib.suppress(OSError):
            folders.extend((sub, sub.name) for sub in sorted(self.root.iterdir())
                           if sub.is_dir() and sub.name not in (DONE, FAILED)
                           and _is_dataset_id(sub.name))
        return folders

    async def scan(self) -> bool:
        """Handle every complete file; True while some file is still settling."""
        settling = False
        present: set[Path] = set()
        for folder, dataset in self._targets():
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                continue
            for name in names:
                path = folder / name
                if not _candidate(name) or not path.is_file():
                    continue
                present.add(path)
                if not self._complete(path):
                    settling = True
                    continue
                await self._handle(path, dataset)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return settling

    def _complete(self, path: Path) -> bool:
        try:
            st = path.stat()
        except OSError:
            return False
        seen = self._seen.get(path)
        now = self.clock()
        if seen is None or (seen.size, seen.mtime_ns) != (st.st_size, st.st_mtime_ns):
            self._seen[path] = _Seen(st.st_size, st.st_mtime_ns, now)
            return self.config.inbox.settle_s <= 0
        return now - seen.since >= self.config.inbox.settle_s

    # -- one file ----------------------------------------------------------------------------

    async def _handle(self, path: Path, dataset: str | None) -> None:
        lang = self.config.node.language
        at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        if dataset is None:
            ids = self.config.dataset_ids
            reason = _say("no_dataset", lang, datasets=", ".join(ids) or "—",
                          example=ids[0] if ids else "cty-abc")
            await self._finish(path, FAILED, _say("file_refused", lang, reason=reason),
                               {"error": {"code": "NO_DATASET", "message": reason}})
            return
        try:
            store = self.ctx.stores.get(dataset)
        except ProtocolError as err:
            if err.code is ErrorCode.DATASET_NOT_CONNECTED:
                if path not in self._waiting_logged:
                    self._waiting_logged.add(path)
                    log.warning("inbox: %s waits: dataset %s is not connected", path, dataset)
                return
            await self._refused(path, err, lang)
            return
        self._waiting_logged.discard(path)
        limit = int(self.config.inbox.max_file_mb * MIB)
        try:
            body = await asyncio.to_thread(_read, path, limit)
        except ProtocolError as err:
            await self._refused(path, err, lang)
            return
        except FileNotFoundError:
            return  # taken away meanwhile
        sha = hashlib.sha256(body).hexdigest()
        title = _say("title", lang, name=path.name, sha=sha[:16], at=at)
        before = await store.meta(_META + sha)
        if isinstance(before, dict):
            again = _say("again", lang, at=before.get("at"), first=before.get("name"))
            text = f"{title}\n{again}\n"
            await self._finish(path, DONE, text, {"already_imported": before, "sha256": sha})
            return
        try:
            parsed = await asyncio.to_thread(xmlio.parse_chunks, [body], store.registry, limit)
        except ProtocolError as err:
            await self._refused(path, err, lang, title)
            return
        duplicates: xmlio.Duplicates = self.config.inbox.duplicates
        report = await xmlio.import_file(store, parsed, duplicates)
        failed = report.counts["failed"] > 0
        if not failed:
            await store.set_meta(_META + sha, {"at": at, "name": path.name,
                                              "counts": report.counts})
        await self._finish(path, FAILED if failed else DONE,
                           xmlio.report_text(report, lang, title, store.registry),
                           {"sha256": sha, **report.model_dump(mode="json")})
        log.info("inbox: %s imported into %s: %s", path.name, dataset, report.counts)

    async def _refused(self, path: Path, err: ProtocolError, lang: Lang, title: str = "") -> None:
        message = render(err.code, lang, err.params)
        text = (f"{title}\n" if title else "") + _say("file_refused", lang, reason=message) + "\n"
        await self._finish(path, FAILED, text,
                           {"error": {"code": err.code.value, "message": message,
                                      "details": err.details}})
        log.warning("inbox: %s refused: %s", path.name, render(err.code, "en", err.params))

    async def _finish(self, path: Path, outcome: str, text: str, data: dict[str, Any]) -> None:
        """Report first, then move the file: a crash in between leaves it to be handled again."""
        def move() -> None:
            folder = path.parent / outcome
            folder.mkdir(exist_ok=True)
            dest = _unique(folder, path.name)
            _write_atomic(Path(f"{dest}.report.json"),
                          json.dumps({"file": path.name, "outcome": outcome, **data},
                                           ensure_ascii=False, indent=2))
            _write_atomic(Path(f"{dest}.report.txt"), text if text.endswith("\n") else text + "\n")
            os.replace(path, dest)

        await asyncio.to_thread(move)
        self._seen.pop(path, None)
        self.imported += 1


def _read(path: Path, limit: int) -> bytes:
    """The file's bytes; ``PAYLOAD_TOO_LARGE`` before reading one past ``limit``."""
    if path.stat().st_size > limit:
        raise xmlio.too_large(limit)
    with open(path, "rb") as f:
        body = f.read(limit + 1)  # grown meanwhile: still bounded
    if len(body) > limit:
        raise xmlio.too_large(limit)
    return body


def _candidate(name: str) -> bool:
    return name.lower().endswith(".xml") and not name.startswith((".", "~"))


def _is_dataset_id(name: str) -> bool:
    return re.fullmatch(DATASET_ID_PATTERN, name) is not None


def start_inbox(ctx: NodeContext) -> Callable[[], Awaitable[None]] | None:
    """Run the inbox of ``ctx.config`` under the node's supervisor; how to stop it (None
    without ``[inbox] dir``)."""
    root = inbox_dir(ctx.config)
    if root is None:
        return None
    inbox = Inbox(root, ctx)
    ctx.supervisor.spawn(LOOP_NAME, inbox.run)
    log.info("inbox: watching %s", root)

    async def stop() -> None:
        await ctx.supervisor.cancel(LOOP_NAME)

    return stop
