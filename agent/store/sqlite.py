"""Opening a dataset's SQLite file: WAL, ``synchronous=FULL``, migrations on open.

Database files hold the office's books and the workstations' token hashes: they are created
0640 (owner read-write, the service's group read, nobody else) or narrower if the umask says
so (outside the systemd unit the umask is usually 022, which gave 0644). SQLite creates the
``-wal`` and ``-shm`` files with the mode of the database file, so those follow.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from agent.store.migrate import migrate

DB_MODE = 0o640
_COMPANIONS = ("", "-wal", "-shm", "-journal")


def prepare_db_file(path: Path) -> None:
    """Create ``path`` empty with :data:`DB_MODE` if it does not exist (an empty file is an
    empty SQLite database), and take "other" permissions away from an existing database and
    its companion files (made 0644 by earlier versions)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DB_MODE))  # & ~umask
    for suffix in _COMPANIONS:
        file = path.with_name(path.name + suffix)
        with contextlib.suppress(FileNotFoundError):
            mode = file.stat().st_mode & 0o777
            if mode & 0o007:
                os.chmod(file, mode & ~0o027)


def connect_writer(path: Path) -> sqlite3.Connection:
    """The one read-write connection of a file; transactions are issued explicitly."""
    prepare_db_file(path)
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
