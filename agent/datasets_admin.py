"""Connecting and disconnecting datasets (scenario S3): ``officesync dataset connect|disconnect``
and ``POST /control/v1/datasets/{id}/connect|disconnect``.

The config file is the source of truth: a disconnect keeps the ``[[datasets]]`` table and sets
``connected = false`` in it, a connect takes that key out again (or adds the table), through
:func:`agent.config_edit.edit_config` (comments kept, atomic replace). The running node's config
watcher applies the edit (closes or opens the dataset and its sync worker); a node that is not
running reads it at its next start. A disconnected dataset's file, with every pending change,
stays where it is: nothing is ever deleted, and its changes sync once it is connected again.

What a disconnected dataset still holds is read from its file (read-only, cached by the file's
size and modification time: it does not change while nobody has it open), so ``GET /datasets``
and ``/status`` can say how many unsynced changes it keeps.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

import tomlkit
from tomlkit.toml_document import TOMLDocument

from agent.config import Config
from agent.config_edit import dataset_tables, edit_config
from protocol.errors import ErrorCode, ProtocolError
from protocol.i18n import Text
from protocol.models import DATASET_ID_PATTERN, SyncState

_DATASET_ID = re.compile(DATASET_ID_PATTERN)
_STATES = tuple(state.value for state in SyncState)

_DONE = {
    "disconnect": Text(
        "Đã ngắt kết nối dữ liệu kế toán {dataset}. Tệp dữ liệu và {pending} bản ghi chưa "
        "đồng bộ được giữ nguyên; chúng sẽ được đồng bộ khi kết nối lại (officesync dataset "
        "connect {dataset})",
        "Dataset {dataset} disconnected. Its file and its {pending} unsynced records are kept; "
        "they sync when it is connected again (officesync dataset connect {dataset})",
    ),
    "connect": Text(
        "Đã kết nối dữ liệu kế toán {dataset}; {pending} bản ghi chưa đồng bộ của nó sẽ được "
        "đồng bộ với Cloud",
        "Dataset {dataset} connected; its {pending} unsynced records will sync with the cloud",
    ),
}


@dataclass(frozen=True)
class Outcome:
    """What a connect or disconnect did, as the CLI prints it and the control API answers."""

    dataset: str
    connected: bool
    counts: dict[str, int]

    @property
    def pending(self) -> int:
        """Records with changes the hub does not have yet (every state but ``synced``)."""
        return unsynced(self.counts)

    def message(self) -> Text:
        action = "connect" if self.connected else "disconnect"
        return _DONE[action].format(dataset=self.dataset, pending=self.pending)

    def as_json(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "connected": self.connected, "pending": self.pending,
                "counts": self.counts, "message": self.message().as_dict()}


def unsynced(counts: dict[str, int] | None) -> int:
    """Records of ``counts`` not synced yet (pending, syncing, error, conflict, blocked)."""
    if not counts:
        return 0
    return sum(n for state, n in counts.items() if state != SyncState.SYNCED.value)


# --- counts of a dataset file ---------------------------------------------------------------

_cache: dict[Path, tuple[tuple[int, int, int], dict[str, int]]] = {}
_cache_lock = threading.Lock()


def _signature(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    wal = path.with_name(path.name + "-wal")
    wal_size = wal.stat().st_size if wal.exists() else 0
    return stat.st_mtime_ns, stat.st_size, wal_size


def file_counts(path: Path) -> dict[str, int] | None:
    """Records by sync state in the dataset file at ``path`` (None when there is none),
    read without changing it; cached while the file is unchanged."""
    try:
        signature = _signature(path)
    except FileNotFoundError:
        return None
    with _cache_lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == signature:
            return dict(cached[1])
    counts = dict.fromkeys(_STATES, 0)
    try:
        with contextlib.closing(sqlite3.connect(f"file:{pathname2url(str(path))}?mode=ro",
                                                uri=True, timeout=5)) as conn:
            for state, count in conn.execute(
                "SELECT sync_state, count(*) FROM records GROUP BY sync_state"
            ):
                counts[str(state)] = int(count)
    except sqlite3.Error:
        return None  # not a dataset file (yet): nothing to count
    with _cache_lock:
        if len(_cache) > 256:
            _cache.clear()
        _cache[path] = (signature, counts)
    return dict(counts)


def dataset_file(config: Config, dataset_id: str) -> Path:
    return config.data_dir / "datasets" / f"{dataset_id}.db"


# --- the edits --------------------------------------------------------------------------------


def check_id(dataset_id: str) -> str:
    """``dataset_id`` if it is a valid dataset id, else ``VALIDATION_FAILED`` in vi/en."""
    if not _DATASET_ID.match(dataset_id):
        shown = dataset_id[:80]
        raise ProtocolError(
            ErrorCode.VALIDATION_FAILED,
            {"reason": Text(
                f"mã dữ liệu kế toán '{shown}' chỉ được gồm chữ thường a-z, chữ số, dấu - và "
                "_, bắt đầu bằng chữ hoặc số, tối đa 63 ký tự (ví dụ cty-abc)",
                f"the dataset id '{shown}' may hold only lower-case letters a-z, digits, - "
                "and _, start with a letter or digit, at most 63 characters (e.g. cty-abc)")},
            {"dataset": shown, "field": "dataset"},
        )
    return dataset_id


def _listed(doc: TOMLDocument) -> dict[str, Any]:
    return {str(t.get("id")): t for t in dataset_tables(doc)}


def _connected_ids(doc: TOMLDocument) -> list[str]:
    return sorted(ds for ds, t in _listed(doc).items() if t.get("connected", True) is not False)


def _not_hosted(dataset_id: str, connected: list[str]) -> ProtocolError:
    shown = ", ".join(connected) or "—"
    return ProtocolError(
        ErrorCode.DATASET_NOT_FOUND,
        {"dataset": dataset_id, "hint": Text(
            f". Máy chủ này đang kết nối: {shown}", f" This node has connected: {shown}.")},
        {"dataset": dataset_id, "connected": connected},
    )


def _disconnect_edit(dataset_id: str) -> Any:
    def edit(doc: TOMLDocument) -> None:
        table = _listed(doc).get(dataset_id)
        connected = _connected_ids(doc)
        if table is None:
            raise _not_hosted(dataset_id, connected)
        if table.get("connected", True) is False:
            shown = ", ".join(connected) or "—"
            raise ProtocolError(
                ErrorCode.DATASET_NOT_CONNECTED,
                {"dataset": dataset_id, "hint": Text(
                    f". Dữ liệu đang kết nối: {shown}", f" Connected datasets: {shown}.")},
                {"dataset": dataset_id, "connected": connected},
            )
        table["connected"] = False

    return edit


def _connect_edit(dataset_id: str) -> Any:
    def edit(doc: TOMLDocument) -> None:
        table = _listed(doc).get(dataset_id)
        if table is None:
            tables = doc.get("datasets")
            entry = {"id": dataset_id}
            if tables is None:
                aot = tomlkit.aot()
                aot.append(tomlkit.item(entry))
                doc.append("datasets", aot)
            else:
                tables.append(entry)
            return
        if table.get("connected", True) is not False:
            raise ProtocolError(ErrorCode.DATASET_ALREADY_CONNECTED, {"dataset": dataset_id},
                                {"dataset": dataset_id, "connected": _connected_ids(doc)})
        del table["connected"]

    return edit


def set_connected(config_path: Path, dataset_id: str, connected: bool) -> Config:
    """Edit the config file at ``config_path``: connect or disconnect ``dataset_id``. Refused
    (file unchanged) with ``VALIDATION_FAILED`` for a bad id, ``DATASET_NOT_FOUND`` for a
    disconnect of a dataset the file does not list, ``DATASET_NOT_CONNECTED`` /
    ``DATASET_ALREADY_CONNECTED`` when it already is so. The new config."""
    check_id(dataset_id)
    edit = _connect_edit(dataset_id) if connected else _disconnect_edit(dataset_id)
    return edit_config(config_path, edit)


def outcome(config: Config, dataset_id: str, connected: bool) -> Outcome:
    counts = file_counts(dataset_file(config, dataset_id)) or dict.fromkeys(_STATES, 0)
    return Outcome(dataset_id, connected, counts)


__all__ = ["Outcome", "check_id", "dataset_file", "file_counts", "outcome", "set_connected",
           "unsynced"]
