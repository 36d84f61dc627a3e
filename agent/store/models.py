"""SQLModel tables of a dataset's SQLite file (the shape ``migrations/`` builds).

The hot write path uses the DB-API connection of the single writer directly (see
``docs/architecture.md``, "Local store"); these models are the schema's declaration, used for
ordinary reads by tools and checked against the migrated database by a test.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from agent.store.states import OutboxState, sql_in


class RecordRow(SQLModel, table=True):
    __tablename__ = "records"

    id: str = Field(primary_key=True)
    collection: str
    key: str
    data: str
    deleted: int = 0
    version: int | None = None
    local_rev: int
    sync_state: str
    sync_code: str | None = None
    sync_params: str | None = None
    blocked_by: str | None = None
    date: str | None = None
    updated_at: str
    base_data: str | None = None
    sync_details: str | None = None


class OutboxRow(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (CheckConstraint(f"state IN {sql_in(OutboxState)}", name="outbox_state"),)

    seq: int | None = Field(default=None, primary_key=True)
    op_id: str = Field(unique=True)
    record_id: str
    collection: str
    action: str
    base_version: int | None = None
    data: str | None = None
    created_at: str
    state: str = OutboxState.PENDING.value
    workstation: str | None = None


class MetaRow(SQLModel, table=True):
    __tablename__ = "meta"

    key: str = Field(primary_key=True)
    value: str


class SeriesRow(SQLModel, table=True):
    __tablename__ = "series"

    name: str = Field(primary_key=True)
    start: int = Field(primary_key=True)
    end: int
    next: int


RECORDS = SQLModel.metadata.tables["records"]
