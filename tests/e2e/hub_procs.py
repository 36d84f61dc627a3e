"""A real ``officesync hub serve`` process and the admin steps around it, for e2e tests and
benchmarks (the node side is in ``procs.py``)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from .procs import NO_KEYRING, ManagedProcess, ProcessFailed, free_port, officesync_cmd, run_cli

HUB_READY_RE = re.compile(r"officesync hub listening on (?P<url>http://\S+)")


class HubProcess(ManagedProcess):
    """``officesync hub serve --db URL --port P`` (a fixed port survives restarts)."""

    label = "hub"

    def __init__(self, db_url: str, port: int, log_dir: Path, *, min_protocol: int = 1,
                 env: Mapping[str, str] | None = None, workers: int = 1) -> None:
        super().__init__(
            officesync_cmd("hub", "serve", "--db", db_url, "--host", "127.0.0.1",
                           "--port", str(port), "--min-protocol", str(min_protocol),
                           "--workers", str(workers)),
            log_dir, env=env,
        )
        self.db_url = db_url
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def _ready(self) -> bool:
        return HUB_READY_RE.search(self.stdout()) is not None

    def admin(self, *args: str) -> str:
        done = run_cli("hub", *args, "--db", self.db_url, env=self.env)
        if done.returncode != 0:
            raise ProcessFailed(f"hub {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def create_dataset(self, dataset: str) -> None:
        """Works before the first start too: ``--create`` makes the database if needed."""
        self.admin("dataset", "create", dataset, "--create")

    def enroll_code(self, *datasets: str) -> str:
        args: list[str] = ["enroll-code"]
        for dataset in datasets:
            args += ["--dataset", dataset]
        return self.admin(*args).strip().splitlines()[-1].strip()


def enroll_node(config: Path, hub: HubProcess, code: str, env: Mapping[str, str]) -> None:
    done = run_cli("enroll", "--config", str(config), "--hub", hub.url, "--code", code, env=env)
    if done.returncode != 0:
        raise ProcessFailed(f"enroll failed: {done.stderr}")


def hub_with(tmp: Path, *datasets: str) -> Iterator[HubProcess]:
    """A SQLite hub process holding ``datasets`` on a free port, killed at the end: the body of
    a test module's ``hub`` fixture (``yield from hub_with(tmp_path, DS)``)."""
    proc = HubProcess(f"sqlite:///{tmp}/hub.db", free_port(), tmp / "logs", env=NO_KEYRING)
    for dataset in datasets:
        proc.create_dataset(dataset)
    proc.start()
    try:
        yield proc
    finally:
        proc.kill()
