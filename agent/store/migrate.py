"""Numbered SQL migrations (``migrations/NNNN_*.sql``) tracked by ``PRAGMA user_version``."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources

from protocol.accounting import ACCOUNTING_PACK


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    found: list[Migration] = []
    for entry in resources.files("agent.store.migrations").iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.number)
    for expected, migration in enumerate(found, start=1):
        if migration.number != expected:
            raise RuntimeError(f"migration {expected:04d} is missing")
    return found


LATEST = len(migrations())


def _comparison_key(collection: str, key: str) -> str:
    """SQL function of the migrations: a stored key in its comparison form."""
    if not isinstance(key, str) or collection not in ACCOUNTING_PACK:
        return key
    return ACCOUNTING_PACK.get(collection).normalise_key(key)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int | None = None) -> list[int]:
    """Apply every migration above the database's version (up to ``target``); return them."""
    current = schema_version(conn)
    target = LATEST if target is None else target
    if current > LATEST:
        raise RuntimeError(
            f"database schema {current} is newer than this program ({LATEST}): upgrade OfficeSync"
        )
    applied: list[int] = []
    conn.create_function("officesync_key", 2, _comparison_key, deterministic=True)
    for migration in migrations():
        if current < migration.number <= target:
            script = (
                f"BEGIN IMMEDIATE;\n{migration.sql}\n"
                f"PRAGMA user_version = {migration.number};\nCOMMIT;"
            )
            try:
                conn.executescript(script)
            except sqlite3.Error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            applied.append(migration.number)
    return applied
