"""Database files are 0640 whatever the umask (issue 8, defect 11: they were 0644 outside the
systemd unit), -wal and -shm included; an existing world-readable file is narrowed."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.app import build_context
from agent.store.sqlite import connect_writer
from tests.agent.conftest import DATASET, FakeClock, make_config


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # what a shell usually has: files 0644 by default
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_node_and_dataset_databases_are_not_world_readable(
    tmp_path: Path, clock: FakeClock, loose_umask: None
) -> None:
    config = make_config(tmp_path / "node")
    ctx = await build_context(config, clock=clock)
    try:
        await ctx.pairing.pair(ctx.pairing.issue_code().code, "ws", "127.0.0.1")  # node.db write
        store = ctx.stores.get(DATASET)
        await store.create("customers", {"code": "KH001", "name": "Công ty A"})
        files = sorted(p for p in config.data_dir.rglob("*")
                       if p.is_file() and ".db" in p.name)
        names = {p.name for p in files}
        assert {"node.db", "node.db-wal", "node.db-shm"} <= names
        assert any(n.endswith(".db-wal") and n != "node.db-wal" for n in names)
        modes = {p.name: oct(_mode(p)) for p in files}
        assert all(_mode(p) == 0o640 for p in files), modes
    finally:
        await ctx.close()


def test_an_existing_world_readable_database_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    connect_writer(path).close()
    for suffix in ("", "-wal", "-shm"):
        file = path.with_name(path.name + suffix)
        if file.exists():
            os.chmod(file, 0o644)
    conn = connect_writer(path)
    conn.execute("CREATE TABLE t (a)")
    conn.close()
    assert _mode(path) == 0o640
