"""The single writer outlives an unexpected failure of one group (issue 8, defect 8: no
background task may die silently): that group's writes fail and are not acknowledged, the next
ones commit, and nothing waits forever."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from agent.store.writer import Writer


def _insert(value: str) -> Any:
    def run(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO t (v) VALUES (?)", (value,))
        return value
    return run


async def _writer(tmp_path: Path) -> Writer:
    path = tmp_path / "w.db"
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE t (v TEXT)")
    return Writer(path, conn)


@pytest.mark.parametrize("heavy", [False, True])
async def test_the_writer_survives_a_group_that_fails_unexpectedly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, heavy: bool) -> None:
    writer = await _writer(tmp_path)
    real = writer._apply_all
    failures = iter([RuntimeError("disk I/O error in SAVEPOINT")])

    def flaky(group: list[Any]) -> None:
        err = next(failures, None)
        if err is not None:
            writer._conn.execute("BEGIN IMMEDIATE")  # fail with a transaction left open
            raise err
        real(group)

    monkeypatch.setattr(writer, "_apply_all", flaky)
    try:
        with pytest.raises(RuntimeError, match="disk I/O"):
            await asyncio.wait_for(writer.submit(_insert("lost"), heavy=heavy), 5)
        assert await asyncio.wait_for(writer.submit(_insert("kept"), heavy=heavy), 5) == "kept"
        rows = writer._conn.execute("SELECT v FROM t").fetchall()
        assert rows == [("kept",)]  # the failed group left nothing, the next one committed
    finally:
        await writer.close()
