"""The node-level SQLite database ``<data_dir>/node.db``: paired workstations and settings.

Writes are rare (pairing, revocation, the online toggle, a periodic ``last_seen`` flush), so
they run on a worker thread under one lock; the hot request path never reads this database
(workstation tokens are cached in memory by :mod:`agent.lan_api.pairing`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, event, update
from sqlmodel import Field, Session, SQLModel, col, create_engine, select

from agent.store.sqlite import prepare_db_file

T = TypeVar("T")


class Workstation(SQLModel, table=True):
    __tablename__ = "node_workstations"

    id: str = Field(primary_key=True)
    name: str
    token_hash: str = Field(index=True, unique=True)
    created_at: float
    last_seen: float | None = None
    revoked_at: float | None = None
    # where it was last seen from, and what paired: "workstation" (a bearer-token client) or
    # "browser" (a dashboard session held in an HttpOnly cookie)
    address: str | None = None
    kind: str = "workstation"


# Columns added after the table first shipped: (name, SQL type and default), added on open.
_ADDED_COLUMNS = (("address", "TEXT"), ("kind", "TEXT NOT NULL DEFAULT 'workstation'"))


def _add_columns(engine: Engine) -> None:
    with engine.begin() as conn:
        have = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info(node_workstations)")}
        for name, sql_type in _ADDED_COLUMNS:
            if name not in have:
                conn.exec_driver_sql(f"ALTER TABLE node_workstations ADD COLUMN {name} {sql_type}")


class Setting(SQLModel, table=True):
    __tablename__ = "node_settings"

    key: str = Field(primary_key=True)
    value: str  # JSON


class Job(SQLModel, table=True):
    """A repair job (download, maintenance) of one dataset: kept after it ends, with its
    report, so a restart never loses one (agent/jobs.py)."""

    __tablename__ = "node_jobs"

    id: str = Field(primary_key=True)
    dataset: str = Field(index=True)
    kind: str
    state: str = Field(index=True)  # queued | running | done | failed | interrupted
    params: str = "{}"  # JSON
    done: int = 0
    total: int = 0
    report: str | None = None  # JSON
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None


@dataclass(frozen=True)
class WorkstationInfo:
    id: str
    name: str
    created_at: float
    last_seen: float | None
    revoked_at: float | None
    address: str | None = None
    kind: str = "workstation"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "last_seen": self.last_seen,
            "revoked_at": self.revoked_at,
            "address": self.address,
            "kind": self.kind,
        }


def _info(row: Workstation) -> WorkstationInfo:
    return WorkstationInfo(row.id, row.name, row.created_at, row.last_seen, row.revoked_at,
                           row.address, row.kind)


def _pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class NodeDB:
    """Workstations and settings of one node. Open with :meth:`open`, close with :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._engine: Engine | None = None
        self._lock = asyncio.Lock()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("NodeDB is not open")
        return self._engine

    async def open(self) -> None:
        prepare_db_file(self.path)  # 0640, not the umask's 0644
        engine = create_engine(f"sqlite:///{self.path}", connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _pragmas)
        # SQLModel sets ``__table__`` on a table model without declaring it
        tables = [Workstation.__table__, Setting.__table__,  # type: ignore[attr-defined]
                  Job.__table__]  # type: ignore[attr-defined]
        await asyncio.to_thread(SQLModel.metadata.create_all, engine, tables=tables)
        await asyncio.to_thread(_add_columns, engine)
        self._engine = engine

    async def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await asyncio.to_thread(engine.dispose)

    async def _run(self, fn: Callable[[Session], T], *, write: bool = False) -> T:
        def work() -> T:
            with Session(self.engine) as session:
                result = fn(session)
                if write:
                    session.commit()
                return result

        if write:
            async with self._lock:
                return await asyncio.to_thread(work)
        return await asyncio.to_thread(work)

    # --- workstations ------------------------------------------------------------------------

    async def add_workstation(self, ws_id: str, name: str, token_hash: str, at: float, *,
                              address: str | None = None, kind: str = "workstation") -> None:
        row = Workstation(id=ws_id, name=name, token_hash=token_hash, created_at=at,
                          address=address, kind=kind, last_seen=at)
        await self._run(lambda s: s.add(row), write=True)

    async def list_workstations(self, *, include_revoked: bool = False) -> list[WorkstationInfo]:
        def query(session: Session) -> list[WorkstationInfo]:
            stmt = select(Workstation).order_by(col(Workstation.created_at))
            if not include_revoked:
                stmt = stmt.where(col(Workstation.revoked_at).is_(None))
            return [_info(row) for row in session.exec(stmt)]

        return await self._run(query)

    async def active_tokens(self) -> dict[str, str]:
        """``{token_hash: workstation_id}`` of every workstation not revoked."""

        def query(session: Session) -> dict[str, str]:
            stmt = select(Workstation.token_hash, Workstation.id).where(
                col(Workstation.revoked_at).is_(None)
            )
            return dict(session.exec(stmt).all())

        return await self._run(query)

    async def revoke_workstation(self, ws_id: str, at: float) -> bool:
        """Revoke ``ws_id``; False when it does not exist or was already revoked."""

        def work(session: Session) -> bool:
            row = session.get(Workstation, ws_id)
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = at
            session.add(row)
            return True

        return await self._run(work, write=True)

    async def touch_workstations(
        self, seen: dict[str, float], where: dict[str, str] | None = None
    ) -> None:
        """Record when (and from which address) each workstation was last seen (flushed
        periodically, not per request)."""
        if not seen:
            return
        where = where or {}

        def work(session: Session) -> None:
            for ws_id, at in seen.items():
                values: dict[str, Any] = {"last_seen": at}
                if ws_id in where:
                    values["address"] = where[ws_id]
                session.execute(
                    update(Workstation).where(col(Workstation.id) == ws_id).values(**values)
                )

        await self._run(work, write=True)

    # --- settings ----------------------------------------------------------------------------

    async def get_setting(self, key: str, default: Any = None) -> Any:
        row = await self._run(lambda s: s.get(Setting, key))
        return default if row is None else json.loads(row.value)

    async def set_setting(self, key: str, value: Any) -> None:
        encoded = json.dumps(value)

        def work(session: Session) -> None:
            row = session.get(Setting, key)
            if row is None:
                session.add(Setting(key=key, value=encoded))
            else:
                row.value = encoded
                session.add(row)

        await self._run(work, write=True)

    # --- jobs ----------------------------------------------------------------------------------

    async def save_job(self, job: Job) -> None:
        """Insert or replace one job row."""
        copy = job.model_copy()
        await self._run(lambda s: s.merge(copy), write=True)

    async def get_job(self, job_id: str) -> Job | None:
        return await self._run(lambda s: s.get(Job, job_id))

    async def list_jobs(self, *, dataset: str | None = None, states: tuple[str, ...] = (),
                        limit: int = 50) -> list[Job]:
        def work(session: Session) -> list[Job]:
            stmt = select(Job)
            if dataset is not None:
                stmt = stmt.where(col(Job.dataset) == dataset)
            if states:
                stmt = stmt.where(col(Job.state).in_(states))
            stmt = stmt.order_by(col(Job.created_at).desc()).limit(limit)
            return list(session.exec(stmt))

        return await self._run(work)
