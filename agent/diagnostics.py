"""The diagnostics bundle (scenario S12): one zip a person sends to support when nothing works.

``officesync diagnostics [--out FILE] --config FILE`` and ``GET /control/v1/diagnostics`` write
it. It holds what support needs to see what happened:

- ``about.json``: version, protocol, OS, Python, the node's name and id, when it was made;
- ``config.json``: the config as the node read it (URLs without user or password);
- ``status.json``: the control status document (connectivity, datasets, failing tasks and
  whatever else the node reports there, e.g. self-check results);
- ``connectivity.json``: the last connectivity transitions (a bounded ring kept in memory);
- ``datasets/<id>.json``: per dataset, records by sync state, the outbox (count, oldest op's
  age, by state) and every record in error, conflict or blocked with its reason;
- ``jobs.json``: the repair jobs' reports, when the node has them;
- ``workstations.json``: paired workstations (name, id, when paired, last seen, revoked —
  no token);
- ``runtime.json``: the running node's pid and URLs;
- ``logs/node.log``: the end of the log file, else the last lines kept in memory.

Never a secret: the hub token, the control token, workstation tokens and their hashes, pairing
and enrollment codes, passwords in URLs. Files are built from chosen fields only (token tables
are never read), and every file goes through :func:`scrub` before it is zipped: the secrets the
node knows are replaced by ``[redacted]``, and so is anything shaped like one (a hub token, a
code, the user info of a URL, a ``token=`` / ``password=`` parameter).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import io
import json
import logging
import os
import platform
import re
import sqlite3
import sys
import threading
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit
from urllib.request import pathname2url

from agent.config import Config
from agent.events import ConnectivityEvent, DatasetEvent, EventBus, EventType
from agent.logs import LineFormatter
from agent.secrets import NodeSecrets
from agent.store import rows
from agent.store.states import FAILED_RECORDS
from protocol.errors import ErrorCode, messages
from protocol.local import read_control_token, read_runtime
from protocol.version import PACKAGE_VERSION, PROTOCOL_VERSION

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("officesync.diagnostics")

REDACTED = "[redacted]"
HISTORY_SIZE = 200  # connectivity / dataset transitions kept
LOG_LINES = 2000  # log lines kept in memory when there is no log file
LOG_TAIL_BYTES = 2 * 1024 * 1024  # of the log file
ISSUES_LIMIT = 1000

# Shapes of secrets, scrubbed even when the node does not know the value.
_SHAPES = [
    re.compile(r"os[nw]_[A-Za-z0-9_\-]{16,}"),  # hub / workstation tokens
    # enrollment codes (upper case with a letter: never a UUID's or a phone number's digits)
    re.compile(r"\b(?=[A-Z0-9-]{0,13}[A-Z])[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}\b"),
    re.compile(r"(?i)(\b(?:token|password|passwd|pwd|secret|authorization)\b"
               r"[\"']?\s*[=:]\s*[\"']?(?:bearer\s+)?)[^\s\"'&,;}]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]+"),
    re.compile(r"\b[a-f0-9]{64}\b"),  # sha256 hex: token and code hashes
]
_USERINFO = re.compile(r"([a-z][a-z0-9+.\-]*://)[^/\s@\"']+@", re.IGNORECASE)


def strip_userinfo(url: str | None) -> str | None:
    """``url`` without ``user:password@`` (and without a query, which may carry a key)."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret and every secret-shaped string replaced."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text)
    for shape in _SHAPES:
        text = shape.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return text


# --- what the node keeps in memory for the bundle -------------------------------------------


class LogRing(logging.Handler):
    """The last ``LOG_LINES`` log lines, formatted (bounded)."""

    def __init__(self, size: int = LOG_LINES) -> None:
        super().__init__(logging.INFO)
        self.lines: collections.deque[str] = collections.deque(maxlen=size)
        self.setFormatter(LineFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a log line must never break the node
            self.handleError(record)


_ring_lock = threading.Lock()
_ring: LogRing | None = None


def log_ring() -> LogRing:
    """The process's ring of recent log lines, attached to the root logger once."""
    global _ring
    with _ring_lock:
        if _ring is None:
            _ring = LogRing()
        root = logging.getLogger()
        if _ring not in root.handlers:
            root.addHandler(_ring)
        return _ring


class History:
    """The last connectivity and dataset transitions, from the bus (bounded ring)."""

    def __init__(self, bus: EventBus, size: int = HISTORY_SIZE) -> None:
        self.entries: collections.deque[dict[str, Any]] = collections.deque(maxlen=size)
        self.started = dt.datetime.now(dt.UTC).isoformat()
        # Subscribed now, before the sync side starts: its first state is not missed.
        self._sub = bus.subscribe(types={EventType.CONNECTIVITY, EventType.DATASET})

    async def follow(self) -> None:
        last: str | None = None
        async for event in self._sub:
            if isinstance(event, ConnectivityEvent):
                state = f"{event.connectivity.value}/{event.online}"
                if state == last:
                    continue
                last = state
                self.entries.append({"time": event.time.isoformat(), "type": "connectivity",
                                     "connectivity": event.connectivity.value,
                                     "online": event.online})
            elif isinstance(event, DatasetEvent):
                self.entries.append({"time": event.time.isoformat(), "type": "dataset",
                                     "dataset": event.dataset, "connected": event.connected})

    def as_json(self) -> dict[str, Any]:
        return {"since": self.started, "kept": self.entries.maxlen,
                "transitions": list(self.entries)}


# --- pieces -------------------------------------------------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def about(config: Config, node_id: str | None, live: bool) -> dict[str, Any]:
    return {
        "product": "OfficeSync node", "version": PACKAGE_VERSION, "protocol": PROTOCOL_VERSION,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "from": "running node" if live else "files (the node was not running)",
        "node": {"name": config.node.name, "id": node_id, "language": config.node.language},
        "os": {"system": platform.system(), "release": platform.release(),
               "version": platform.version(), "machine": platform.machine()},
        "python": {"version": sys.version.split()[0],
                   "implementation": platform.python_implementation(),
                   "executable": sys.executable},
        "sqlite": sqlite3.sqlite_version,
        "pid": os.getpid(),
    }


def config_document(config: Config) -> dict[str, Any]:
    data = config.model_dump(mode="json")
    data["cloud"]["url"] = strip_userinfo(data["cloud"].get("url"))
    data["node"]["data_dir_resolved"] = str(config.data_dir)
    data["source"] = str(config.source) if config.source else None
    return data


def _age_s(iso: str | None) -> float | None:
    then = rows.parse_time(iso)
    return None if then is None else round((dt.datetime.now(dt.UTC) - then).total_seconds(), 1)


_FAILED = tuple(state.value for state in FAILED_RECORDS)


def dataset_report(path: Path) -> dict[str, Any]:
    """What support needs of one dataset file, read-only: counts, outbox, issues."""
    report: dict[str, Any] = {"file": str(path), "exists": path.exists()}
    if not path.exists():
        return report
    report["size_bytes"] = path.stat().st_size
    try:
        with contextlib.closing(sqlite3.connect(f"file:{pathname2url(str(path))}?mode=ro",
                                                uri=True, timeout=10)) as conn:
            conn.row_factory = sqlite3.Row
            report["schema_version"] = conn.execute("PRAGMA user_version").fetchone()[0]
            report["counts"] = {r[0]: r[1] for r in conn.execute(
                "SELECT sync_state, count(*) FROM records GROUP BY sync_state")}
            columns = {r[1] for r in conn.execute("PRAGMA table_info(outbox)")}
            state = "state" if "state" in columns else "'pending'"
            row = conn.execute("SELECT count(*), min(created_at) FROM outbox").fetchone()
            report["outbox"] = {
                "count": row[0], "oldest_created_at": row[1], "oldest_age_s": _age_s(row[1]),
                "by_state": {r[0]: r[1] for r in conn.execute(
                    f"SELECT {state}, count(*) FROM outbox GROUP BY 1")},
                "by_action": {r[0]: r[1] for r in conn.execute(
                    "SELECT action, count(*) FROM outbox GROUP BY 1")},
            }
            report["meta"] = {r[0]: r[1] for r in conn.execute("SELECT key, value FROM meta")}
            record_columns = {r[1] for r in conn.execute("PRAGMA table_info(records)")}
            wanted = [c for c in ("id", "collection", "key", "version", "local_rev",
                                  "deleted", "sync_state", "sync_code", "sync_params",
                                  "sync_details", "blocked_by", "updated_at")
                      if c in record_columns]
            marks = ", ".join("?" for _ in _FAILED)
            issues = conn.execute(
                f"SELECT {', '.join(wanted)} FROM records WHERE sync_state IN ({marks}) "
                "ORDER BY updated_at LIMIT ?" if "updated_at" in record_columns else
                f"SELECT {', '.join(wanted)} FROM records WHERE sync_state IN ({marks}) LIMIT ?",
                (*_FAILED, ISSUES_LIMIT)).fetchall()
            report["issues"] = [_issue(dict(r)) for r in issues]
    except sqlite3.Error as err:
        report["error"] = f"{type(err).__name__}: {err}"
    return report


def _issue(row: dict[str, Any]) -> dict[str, Any]:
    """One record in error, conflict or blocked: its row, and its reason worded in both
    languages from the stored code and parameters (as the workstation shows it)."""
    for name in ("sync_params", "sync_details"):
        raw = row.get(name)
        if isinstance(raw, str):
            with contextlib.suppress(ValueError):
                row[name] = json.loads(raw)
    code = row.get("sync_code")
    if isinstance(code, str) and code in ErrorCode._value2member_map_:
        params = row.get("sync_params")
        with contextlib.suppress(Exception):  # a reason that cannot be worded stays raw
            row["message"] = messages(ErrorCode(code),
                                      params if isinstance(params, dict) else None)
    return row


def log_tail(path: Path | None) -> str | None:
    if path is None or not path.is_file():
        return None
    size = path.stat().st_size
    with path.open("rb") as f:
        if size > LOG_TAIL_BYTES:
            f.seek(size - LOG_TAIL_BYTES)
            f.readline()  # start at a whole line
        return f.read().decode("utf-8", errors="replace")


def known_secrets(config: Config, pairing_codes: Iterable[str] = ()) -> list[str]:
    """The secret values this node knows, to take out of every file."""
    found: list[str] = [*pairing_codes]
    with contextlib.suppress(Exception):  # a locked keyring must not stop the bundle
        loaded = NodeSecrets(config.data_dir).load()
        if loaded is not None:
            found.append(loaded[0])
    with contextlib.suppress(OSError):
        found.append(read_control_token(config.data_dir))
    url = config.cloud.url or ""
    with contextlib.suppress(ValueError):
        parts = urlsplit(url)
        found += [p for p in (parts.username, parts.password) if p]
    return found


def _workstations(node_db_path: Path) -> list[dict[str, Any]]:
    """Name, id, address, last seen of each paired workstation — never the token hash."""
    try:
        with contextlib.closing(sqlite3.connect(
                f"file:{pathname2url(str(node_db_path))}?mode=ro", uri=True)) as conn:
            columns = {r[1] for r in conn.execute("PRAGMA table_info(node_workstations)")}
            wanted = [c for c in ("id", "name", "created_at", "last_seen", "revoked_at")
                      if c in columns]
            if not wanted:
                return []
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(f"SELECT {', '.join(wanted)} "
                                                  "FROM node_workstations")]
    except sqlite3.Error:
        return []


def _runtime(config: Config) -> dict[str, Any] | None:
    info = read_runtime(config.data_dir)
    return info.model_dump(mode="json") if info is not None else None


def _dataset_files(config: Config) -> list[str]:
    folder = config.data_dir / "datasets"
    on_disk = {p.stem for p in folder.glob("*.db")} if folder.is_dir() else set()
    return sorted(on_disk | {d.id for d in config.datasets})


def _zip(files: dict[str, str], secrets: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, scrub(text, secrets))
    return buffer.getvalue()


def bundle_name() -> str:
    return f"officesync-diagnostics-{time.strftime('%Y%m%d-%H%M%S')}.zip"


# --- the two builders ---------------------------------------------------------------------------


async def build_bundle(app: web.Application) -> bytes:
    """The bundle of the running node whose control app is ``app``."""
    from agent import keys
    from agent.control_api.status import node_status

    ctx = app[keys.CONTEXT]
    config = ctx.config
    node_id = await ctx.node_db.get_setting("node_id")
    files: dict[str, str] = {
        "about.json": _json(about(config, node_id, live=True)),
        "config.json": _json(config_document(config)),
    }
    try:
        status = (await node_status(app)).as_json()
        if isinstance(status.get("hub"), dict):
            status["hub"]["url"] = strip_userinfo(status["hub"].get("url"))
        files["status.json"] = _json(status)
    except Exception as err:  # the bundle is for when things are broken: say, go on
        files["status.json"] = _json({"error": f"{type(err).__name__}: {err}"})
    history = ctx.history
    files["connectivity.json"] = _json(history.as_json() if history is not None else {
        "transitions": [], "note": "no history kept by this node"})
    for ds in _dataset_files(config):
        path = ctx.stores.path_of(ds)
        report = await asyncio.to_thread(dataset_report, path)
        open_ids = {s.dataset_id for s in ctx.stores.connected()}
        report["connected"] = ds in open_ids
        if ds in open_ids:
            report["sync"] = ctx.sync.dataset_state(ds).as_json()
            report["timestamps"] = ctx.sync.timestamps(ds)
        files[f"datasets/{ds}.json"] = _json(report)
    files["jobs.json"] = _json(await _jobs(ctx.node_db))
    files["workstations.json"] = _json(
        await asyncio.to_thread(_workstations, config.data_dir / "node.db"))
    files["runtime.json"] = _json(_runtime(config))
    tail = await asyncio.to_thread(log_tail, config.log.file)
    files["logs/node.log"] = tail if tail is not None else "\n".join(log_ring().lines) + "\n"
    secrets = known_secrets(config, ctx.pairing.active_codes())
    return await asyncio.to_thread(_zip, files, secrets)


async def _jobs(node_db: Any) -> list[dict[str, Any]]:
    list_jobs = getattr(node_db, "list_jobs", None)  # the repair jobs, where the node has them
    if list_jobs is None:
        return []
    try:
        return [job.model_dump(mode="json") for job in await list_jobs(limit=100)]
    except Exception as err:
        return [{"error": f"{type(err).__name__}: {err}"}]


def build_offline_bundle(config: Config) -> bytes:
    """The bundle from the node's files, for when it does not run (or will not start)."""
    node_db = config.data_dir / "node.db"
    node_id = None
    with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(
            f"file:{pathname2url(str(node_db))}?mode=ro", uri=True)) as conn:
        row = conn.execute("SELECT value FROM node_settings WHERE key = 'node_id'").fetchone()
        node_id = json.loads(row[0]) if row else None
    files: dict[str, str] = {
        "about.json": _json(about(config, node_id, live=False)),
        "config.json": _json(config_document(config)),
        "connectivity.json": _json({"transitions": [],
                                    "note": "the node was not running: no history"}),
    }
    for ds in _dataset_files(config):
        files[f"datasets/{ds}.json"] = _json(
            dataset_report(config.data_dir / "datasets" / f"{ds}.db"))
    files["workstations.json"] = _json(_workstations(node_db))
    files["runtime.json"] = _json(_runtime(config))
    tail = log_tail(config.log.file)
    files["logs/node.log"] = tail if tail is not None else "(no log file configured)\n"
    return _zip(files, known_secrets(config))


__all__ = ["History", "LogRing", "build_bundle", "build_offline_bundle", "bundle_name",
           "log_ring", "scrub", "strip_userinfo"]
