"""Fixtures for end-to-end tests: real ``officesync`` processes on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .procs import NO_KEYRING, NodeProcess, workstation_env, write_node_config


@pytest.fixture(scope="module")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def node(e2e_dir: Path) -> Iterator[NodeProcess]:
    """One node (dataset ``cty-abc``, no cloud) shared by a test module; killed at the end."""
    proc = NodeProcess(write_node_config(e2e_dir, datasets=["cty-abc"]), env=NO_KEYRING)
    proc.start()
    try:
        yield proc
    finally:
        proc.terminate()


@pytest.fixture
def ws_env(tmp_path: Path) -> dict[str, str]:
    """Environment of a fresh, unpaired workstation CLI."""
    return workstation_env(tmp_path / "ws-home")
