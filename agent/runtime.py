"""Files a running node leaves in its data dir for local tools: ``control.token`` (the local
admin secret, mode 0640: the service account and its group, the node's administrators) and
``runtime.json`` (pid and the URLs actually bound)."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

CONTROL_TOKEN_FILE = "control.token"
RUNTIME_FILE = "runtime.json"


@dataclass(frozen=True)
class RuntimeInfo:
    pid: int
    lan_url: str
    control_url: str


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


def read_control_token(data_dir: Path) -> str:
    """The control token, or '' when the file is missing or empty."""
    try:
        return (data_dir / CONTROL_TOKEN_FILE).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return ""


def write_runtime(data_dir: Path, info: RuntimeInfo) -> None:
    path = data_dir / RUNTIME_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(info)), encoding="utf-8")
    os.replace(tmp, path)


def read_runtime(data_dir: Path) -> RuntimeInfo | None:
    try:
        raw = json.loads((data_dir / RUNTIME_FILE).read_text(encoding="utf-8"))
        return RuntimeInfo(int(raw["pid"]), str(raw["lan_url"]), str(raw["control_url"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def remove_runtime(data_dir: Path, pid: int) -> None:
    """Remove ``runtime.json`` if it still describes process ``pid``."""
    info = read_runtime(data_dir)
    if info is not None and info.pid == pid:
        (data_dir / RUNTIME_FILE).unlink(missing_ok=True)
