"""Opening a dataset's SQLite file: WAL, ``synchronous=FULL``, migrations on open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agent.store.migrate import migrate


def connect_writer(path: Path) -> sqlite3.Connection:
    """The one read-write connection of a file; transactions are issued explicitly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: the WAL is fsynced at every commit, so an acknowledged write survives power loss.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.row_factory = sqlite3.Row
    migrate(conn)
    return conn


def connect_reader(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA query_only=ON")
    return conn
