"""The hub's tables (SQLAlchemy Core) and engine setup for SQLite and PostgreSQL.

JSON payloads (record data, op results) are stored as TEXT written by orjson: the hot read path
(the change feed) splices the stored text into its answer without parsing it again.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url

metadata = sa.MetaData()

datasets = sa.Table(
    "hub_datasets",
    metadata,
    sa.Column("id", sa.String(63), primary_key=True),
    sa.Column("last_seq", sa.BigInteger, nullable=False, default=0),
    sa.Column("created_at", sa.String(40), nullable=False),
)

nodes = sa.Table(
    "hub_nodes",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    # When the hub last served the node's token (written at most once a minute per node).
    sa.Column("last_seen", sa.String(40), nullable=True),
    # ``officesync hub revoke``: its token is refused from then on (a new enrollment clears it).
    sa.Column("revoked_at", sa.String(40), nullable=True),
)

enroll_codes = sa.Table(
    "hub_enroll_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("datasets", sa.Text, nullable=False),  # JSON list
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("expires_at", sa.String(40), nullable=False),
    sa.Column("used_at", sa.String(40), nullable=True),
    sa.Column("used_by", sa.String(36), nullable=True),
)

grants = sa.Table(
    "hub_grants",
    metadata,
    sa.Column("node_id", sa.String(36), primary_key=True),
    sa.Column("dataset", sa.String(63), primary_key=True),
)

records = sa.Table(
    "hub_records",
    metadata,
    sa.Column("dataset", sa.String(63), primary_key=True),
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("collection", sa.String(63), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("date", sa.String(10), nullable=True),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Index("ix_hub_records_key", "dataset", "collection", "key"),
    # PostgreSQL: only records that have a date (vouchers, not customers or accounts); every
    # query on it asks for a date range, which no NULL date is in. A database made before
    # keeps its full index (the same answers).
    sa.Index("ix_hub_records_date", "dataset", "collection", "date",
             postgresql_where=sa.text('"date" IS NOT NULL')),
)

changes = sa.Table(
    "hub_changes",
    metadata,
    sa.Column("dataset", sa.String(63), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("collection", sa.String(63), nullable=False),
    sa.Column("id", sa.String(36), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("op_id", sa.String(36), nullable=False),
    sa.Column("node_id", sa.String(36), nullable=False),
    # Added with the record history: the workstation the node named on the op, and when the
    # hub applied it (NULL on older rows).
    sa.Column("workstation", sa.String(200), nullable=True),
    sa.Column("applied_at", sa.String(40), nullable=True),
)

op_results = sa.Table(
    "hub_op_results",
    metadata,
    sa.Column("dataset", sa.String(63), primary_key=True),
    sa.Column("op_id", sa.String(36), primary_key=True),
    sa.Column("result", sa.Text, nullable=False),  # the first answer, JSON
)

# Small facts about the database itself, e.g. the form its stored keys are in.
meta = sa.Table(
    "hub_meta",
    metadata,
    sa.Column("key", sa.String(63), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

series = sa.Table(
    "hub_series",
    metadata,
    sa.Column("dataset", sa.String(63), primary_key=True),
    sa.Column("series", sa.String(20), primary_key=True),
    sa.Column("next", sa.BigInteger, nullable=False),
)


def normalise_url(db_url: str) -> URL:
    """``postgresql://`` (and ``postgres://``) use psycopg 3; SQLite stays pysqlite."""
    url = make_url(db_url.replace("postgres://", "postgresql://", 1))
    if url.drivername in ("postgresql", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+psycopg")
    if url.drivername not in ("postgresql+psycopg", "sqlite", "sqlite+pysqlite"):
        raise ValueError(f"unsupported database URL scheme: {url.drivername}")
    return url


def is_postgres(url: URL) -> bool:
    return url.get_backend_name() == "postgresql"


def libpq_conninfo(url: URL) -> str:
    """The URL as psycopg's own ``connect()`` takes it (for the LISTEN connection)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def create_hub_engine(db_url: str) -> Engine:
    url = normalise_url(db_url)
    if is_postgres(url):
        # LIFO: the connection just returned serves the next transaction, so one push after
        # another runs on the same warm server backend (its caches and prepared statements)
        # rather than going round all eight.
        return sa.create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True,
                                pool_use_lifo=True)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    _configure_sqlite(engine)
    return engine


WAL_BACKSTOP_PAGES = 25_000
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes kept of the WAL file after it restarts


def checkpoint(engine: Engine) -> None:
    """Copy committed WAL pages into the SQLite database (PASSIVE: never blocks the writer
    or readers; pages the writer adds meanwhile wait for the next call)."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        cursor.fetchall()
        cursor.close()
    finally:
        raw.close()


# The columns the hub's queries filter or order on: not ``data`` (~300 bytes a record, the
# most expensive column to sample and sort, never in a condition), ``version`` or ``seq``.
_ANALYZED = 'dataset, id, collection, "key", "date", deleted'


def analyze(engine: Engine) -> int:
    """PostgreSQL: refresh the planner's statistics of ``hub_records`` (ANALYZE reads a
    sample of at most 30,000 rows, so it costs the same at 1M rows as at 50k) and return its
    row count as estimated. Gives up at once if autovacuum holds the table."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SET lock_timeout = '100ms'")
        conn.exec_driver_sql(f"ANALYZE hub_records ({_ANALYZED})")
        conn.commit()
        rows = conn.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE oid = 'hub_records'::regclass").scalar()
        conn.rollback()
        conn.exec_driver_sql("RESET lock_timeout")
        conn.commit()
    return max(0, int(rows or 0))


def analyze_if_never(engine: Engine) -> None:
    """PostgreSQL, at start: ANALYZE ``hub_records`` if it holds rows and was never analyzed
    (a restored dump, a table filled before autovacuum's first pass)."""
    with engine.connect() as conn:
        never = conn.exec_driver_sql(
            "SELECT n_live_tup > 0 AND last_analyze IS NULL AND last_autoanalyze IS NULL"
            " FROM pg_stat_user_tables WHERE relid = 'hub_records'::regclass").scalar()
    if never:
        analyze(engine)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: random-uuid index inserts
        # The store checkpoints on a thread of its own after each write (hub.store); the
        # writer checkpoints itself only past this many WAL pages (a backstop, ~100 MiB).
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get("write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# Columns added after a table was first shipped: create_all makes new tables only, so an
# existing database gets them with ALTER TABLE (nullable: old rows read as "never").
_ADDED_COLUMNS: tuple[tuple[sa.Table, str], ...] = (
    (nodes, "last_seen"), (nodes, "revoked_at"),
    (changes, "workstation"), (changes, "applied_at"),
)


def add_new_columns(engine: Engine) -> None:
    """Give an existing database the columns added since it was made (idempotent)."""
    for table, name in _ADDED_COLUMNS:
        have = {c["name"] for c in sa.inspect(engine).get_columns(table.name)}
        if name in have:
            continue
        column = table.c[name]
        kind = column.type.compile(dialect=engine.dialect)
        with engine.connect().execution_options(write=True) as conn, conn.begin():
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN IF NOT EXISTS '
                                     f'"{name}" {kind}')
            else:
                conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN "{name}" {kind}')


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine)
    add_new_columns(engine)
    from hub.records import upgrade_key_form  # records imports this module

    upgrade_key_form(engine)
    if engine.dialect.name == "postgresql":
        analyze_if_never(engine)
