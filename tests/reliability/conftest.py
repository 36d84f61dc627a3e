"""Fixtures of the reliability harness and its report.

Every test records its figures with the ``figures`` fixture; they are printed at once (for
``-s``) and again, all together, in the terminal summary of ``pytest -q`` under
"reliability figures", so a plain ``make test`` shows them.

``OFFICESYNC_LONG=1`` turns on the long variants (more seeds, longer fault runs, more kills,
more fuzzed examples); see docs/reliability.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.hub_procs import HubProcess
from tests.e2e.procs import NO_KEYRING, free_port

from .cluster import DS

LONG = os.environ.get("OFFICESYNC_LONG", "") not in ("", "0")
_REPORT = pytest.StashKey[list[tuple[str, str]]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REPORT] = []


def _line(figures: dict[str, Any]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in figures.items())


def record_figures(config: pytest.Config, title: str, **values: Any) -> None:
    """Print one line of figures and keep it for the terminal summary."""
    line = _line(values)
    print(f"\n[reliability] {title}: {line}")
    config.stash[_REPORT].append((title, line))


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[..., None]:
    """``figures("fault proxy seed 1", faults=…, acknowledged=…)``: print and keep for the
    terminal summary."""

    def note(title: str, **values: Any) -> None:
        record_figures(request.config, title, **values)

    return note


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(_REPORT, [])
    if not lines:
        return
    terminalreporter.section("reliability figures")
    for title, line in lines:
        terminalreporter.write_line(f"{title}: {line}")


def new_hub(tmp: Path, db_url: str | None = None) -> HubProcess:
    """A hub process (SQLite under ``tmp`` unless ``db_url``) with the dataset created."""
    hub = HubProcess(db_url or f"sqlite:///{tmp}/hub.db", free_port(), tmp / "hub-logs",
                     env=NO_KEYRING)
    hub.create_dataset(DS)
    return hub


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    proc = new_hub(tmp_path)
    proc.start()
    try:
        yield proc
    finally:
        proc.kill()
