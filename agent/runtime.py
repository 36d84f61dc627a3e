"""Files a running node leaves in its data dir for local tools: ``control.token`` (the local
admin secret, mode 0640: the service account and its group, the node's administrators),
``runtime.json`` (pid and the URLs actually bound) and ``node.lock`` (the lock that lets only
one process use a data dir at a time; it holds that process's pid)."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from protocol.local import (
    CONTROL_TOKEN_FILE,
    RUNTIME_FILE,
    RuntimeInfo,
    read_control_token,
    read_runtime,
)

__all__ = [  # the file names, the runtime model and its readers live in protocol.local
    "CONTROL_TOKEN_FILE", "LOCK_FILE", "RUNTIME_FILE", "DataDirBusy", "RuntimeInfo",
    "acquire_data_dir", "ensure_control_token", "hold_data_dir", "read_control_token",
    "read_runtime", "release_data_dir", "remove_runtime", "write_runtime",
]


def ensure_control_token(data_dir: Path) -> str:
    """Read the control token, creating it (0640, 32 random bytes, urlsafe) when missing.

    Readable by the service account and its group: on Linux the members of the
    ``officesync`` group (the node's administrators) run the tray with it."""
    path = data_dir / CONTROL_TOKEN_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    except FileExistsError:
        token = read_control_token(data_dir)
        if token:
            return token
        path.unlink()
        return ensure_control_token(data_dir)
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(token + "\n")
    return token


def write_runtime(data_dir: Path, info: RuntimeInfo) -> None:
    path = data_dir / RUNTIME_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(info.model_dump_json(), encoding="utf-8")
    os.replace(tmp, path)


def remove_runtime(data_dir: Path, pid: int) -> None:
    """Remove ``runtime.json`` if it still describes process ``pid``."""
    info = read_runtime(data_dir)
    if info is not None and info.pid == pid:
        (data_dir / RUNTIME_FILE).unlink(missing_ok=True)


# --- one process per data dir ----------------------------------------------------------------

LOCK_FILE = "node.lock"
_LOCK_OFFSET = 64  # Windows locks a byte range; the pid is written before it, readable by all
_held: dict[Path, tuple[int, int]] = {}  # data dir -> (fd, nesting), this process's locks


class DataDirBusy(Exception):
    """Another process holds the data dir's lock: ``pid`` (if known) and its runtime info."""

    def __init__(self, data_dir: Path, pid: int | None, info: RuntimeInfo | None) -> None:
        super().__init__(f"data dir {data_dir} is in use by process {pid}")
        self.data_dir = data_dir
        self.pid = pid
        self.info = info


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - Windows
        import msvcrt

        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder_pid(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="ascii")[:_LOCK_OFFSET].strip() or "x")
    except (OSError, ValueError):
        return None


def acquire_data_dir(data_dir: Path) -> None:
    """Take the exclusive lock of ``data_dir`` (``node.lock``, held until the process ends or
    :func:`release_data_dir`). Re-entrant within one process (the demo locks the node's dir
    before it runs the node). Raises :class:`DataDirBusy` at once if another process has it.

    The lock is the OS's (``flock`` / ``msvcrt.locking``): it goes away with its process, even
    after SIGKILL or a power cut, so there is never a stale lock to clean by hand."""
    key = data_dir.resolve()
    if key in _held:
        fd, nesting = _held[key]
        _held[key] = (fd, nesting + 1)
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    if not _try_lock(fd):
        os.close(fd)
        raise DataDirBusy(key, _holder_pid(path), read_runtime(data_dir))
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, f"{os.getpid()}\n".encode("ascii"))
    _held[key] = (fd, 1)


def release_data_dir(data_dir: Path) -> None:
    key = data_dir.resolve()
    if key not in _held:
        return
    fd, nesting = _held[key]
    if nesting > 1:
        _held[key] = (fd, nesting - 1)
        return
    del _held[key]
    os.close(fd)  # closing the descriptor drops the OS lock


@contextmanager
def hold_data_dir(data_dir: Path) -> Iterator[None]:
    """``with hold_data_dir(dir):`` the block runs as the only user of ``dir``."""
    acquire_data_dir(data_dir)
    try:
        yield
    finally:
        release_data_dir(data_dir)
