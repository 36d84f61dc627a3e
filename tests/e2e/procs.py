"""Reusable helpers for tests and benchmarks that run real ``officesync`` processes.

Every wait is bounded by a deadline; every process writes its stdout/stderr to files (so a
failing test can show them) and is killed by its owner. Nothing here is specific to one test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# A process started by a test must not touch the user's keyring or workstation profile: the
# "fail" keyring forces secrets into 0600 files, and the profile lives in a temp dir.
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}

READY_RE = re.compile(r"officesync node ready: lan=(?P<lan>\S+) control=(?P<control>\S+)")
DEFAULT_READY_TIMEOUT = 30.0


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (for configs that must keep a port across restarts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05
) -> T:
    """Poll ``check`` until it returns a truthy value or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def workstation_env(home: Path) -> dict[str, str]:
    """Environment for an ``officesync ws`` process with its profile under ``home``."""
    return {"OFFICESYNC_WS_HOME": str(home), **NO_KEYRING}


# --- config --------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def to_toml(doc: Mapping[str, Any]) -> str:
    """A small TOML writer for config files: tables of scalars and arrays of tables."""
    lines: list[str] = []
    for name, section in doc.items():
        if isinstance(section, Mapping):
            lines.append(f"[{name}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in section.items() if v is not None]
            lines.append("")
        elif isinstance(section, list | tuple) and all(isinstance(s, Mapping) for s in section):
            for table in section:
                lines.append(f"[[{name}]]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None]
                lines.append("")
        else:
            raise TypeError(f"top-level {name!r} must be a table or an array of tables")
    return "\n".join(lines)


def write_node_config(
    tmp_path: Path,
    *,
    name: str = "node-e2e",
    datasets: Sequence[str] = ("cty-abc",),
    cloud_url: str | None = None,
    lan_port: int | None = None,
    control_port: int | None = None,
    language: str = "vi",
    filename: str = "node.toml",
    **sections: Mapping[str, Any],
) -> Path:
    """Write a node config under ``tmp_path`` and return its path.

    Binds loopback only; ports default to fresh free ports (pass 0 to let the node choose,
    which then changes on restart); data in ``tmp_path/<name>-data``; discovery disabled.
    Any other keyword is a section whose keys are merged over the defaults, e.g.
    ``cloud={"probe_interval_s": 0.5}``.
    """
    doc: dict[str, Any] = {
        "node": {"name": name, "data_dir": tmp_path / f"{name}-data", "language": language},
        "lan": {"host": "127.0.0.1", "port": free_port() if lan_port is None else lan_port},
        "control": {
            "host": "127.0.0.1",
            "port": free_port() if control_port is None else control_port,
        },
        "cloud": {"url": cloud_url},
        "discovery": {"enabled": False},
    }
    for section, values in sections.items():
        doc[section] = {**doc.get(section, {}), **values}
    if not any(v is not None for v in doc["cloud"].values()):
        del doc["cloud"]
    doc["datasets"] = [{"id": ds} for ds in datasets]
    path = tmp_path / filename
    path.write_text(to_toml(doc), encoding="utf-8")
    return path


# --- processes -----------------------------------------------------------------------------


def officesync_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "officesync", *args]


def run_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    stdin: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``officesync ARGS`` to completion (bounded by ``timeout``), capturing its output."""
    return subprocess.run(
        officesync_cmd(*args),
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        input=stdin,
        cwd=cwd,
        check=False,
    )


class ProcessFailed(RuntimeError):
    pass


class ManagedProcess(ABC):
    """A long-running ``officesync`` process with logs in files and a readiness check.

    Subclasses set ``args`` and implement :meth:`_ready` (return truthy once ready).
    """

    label = "process"

    def __init__(
        self,
        args: Sequence[str],
        log_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
    ) -> None:
        self.args = list(args)
        self.log_dir = log_dir
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def stdout_path(self) -> Path:
        return self.log_dir / f"{self.label}-{self.starts}.out"

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"{self.label}-{self.starts}.err"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def start(self) -> ManagedProcess:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"{self.label} is already running")
        self.starts += 1
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                self.args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=self.env
            )
        try:
            wait_until(self._check_ready, self.ready_timeout, f"{self.label} to be ready")
        except (TimeoutError, ProcessFailed):
            self.kill()
            raise
        return self

    def _check_ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise ProcessFailed(
                f"{self.label} exited with {self.proc.returncode} before it was ready\n"
                + self.logs()
            )
        return bool(self._ready())

    @abstractmethod
    def _ready(self) -> object:
        """Truthy once the process serves (subclasses read their own ready signal)."""

    def stdout(self) -> str:
        try:
            return self.stdout_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def logs(self, tail: int = 4000) -> str:
        err = self.stderr_path.read_text(encoding="utf-8", errors="replace") if (
            self.stderr_path.exists()
        ) else ""
        return f"--- stdout ---\n{self.stdout()[-tail:]}\n--- stderr ---\n{err[-tail:]}"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (what a power cut looks like to the process)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait for a clean exit; SIGKILL if it does not come in ``timeout``."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def restart(self) -> ManagedProcess:
        self.terminate()
        return self.start()

    def __enter__(self) -> ManagedProcess:
        return self.start() if not self.running() else self

    def __exit__(self, *exc: object) -> None:
        self.terminate()


class LineReadyProcess(ManagedProcess):
    """Ready once its stdout (of this start) matches ``ready_re``; the match is kept.

    E.g. a hub: ``LineReadyProcess(officesync_cmd("hub", "serve", ...), log_dir,
    re.compile(r"listening on (?P<url>\\S+)"))`` then ``proc.ready_match["url"]``.
    """

    def __init__(
        self,
        args: Sequence[str],
        log_dir: Path,
        ready_re: re.Pattern[str],
        *,
        label: str | None = None,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
    ) -> None:
        super().__init__(args, log_dir, env=env, ready_timeout=ready_timeout)
        self.ready_re = ready_re
        self.ready_match: re.Match[str] | None = None
        if label:
            self.label = label

    def _ready(self) -> bool:
        self.ready_match = self.ready_re.search(self.stdout())
        return self.ready_match is not None


class NodeProcess(ManagedProcess):
    """``officesync serve --config FILE``; ready when it prints its ready line (or, as a
    fallback, when ``runtime.json`` names this process)."""

    label = "node"

    def __init__(
        self,
        config: Path,
        *,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
        log_dir: Path | None = None,
    ) -> None:
        super().__init__(
            officesync_cmd("serve", "--config", str(config)),
            log_dir or config.parent / "logs" / config.stem,  # one folder per node
            env=env,
            ready_timeout=ready_timeout,
        )
        self.config = config
        self.lan_url = ""
        self.control_url = ""

    @property
    def data_dir(self) -> Path:
        from agent.config import load_config

        return load_config(self.config).data_dir

    def _ready(self) -> bool:
        match = READY_RE.search(self.stdout())
        if match is None:
            return self._ready_from_runtime()
        self.lan_url, self.control_url = match["lan"], match["control"]
        return True

    def _ready_from_runtime(self) -> bool:
        """Fallback: ``runtime.json`` written by THIS process (a stale one has another pid)."""
        try:
            raw = json.loads((self.data_dir / "runtime.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return False
        if raw.get("pid") != self.pid:
            return False
        self.lan_url, self.control_url = raw["lan_url"], raw["control_url"]
        return True

    def control_token(self) -> str:
        return (self.data_dir / "control.token").read_text(encoding="ascii").strip()

    def pair_code(self, timeout: float = 60.0) -> str:
        """A fresh workstation pairing code through ``officesync pair-code``."""
        done = run_cli("pair-code", "--config", str(self.config), env=self.env, timeout=timeout)
        if done.returncode != 0:
            raise ProcessFailed(f"pair-code failed ({done.returncode}): {done.stderr}")
        return done.stdout.strip().splitlines()[-1].strip()
