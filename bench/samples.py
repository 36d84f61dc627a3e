"""What the benchmarks share: ~300-byte customer records, a hub database to try."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def customer(i: int) -> dict[str, str]:
    return {
        "code": f"KH{i:07d}",
        "name": f"Công ty TNHH Thương mại và Dịch vụ Số {i}",
        "tax_code": f"{i:010d}",
        "address": f"Số {i % 500} đường Nguyễn Trãi, Phường Bến Thành, Quận 1, TP Hồ Chí Minh, "
        "Việt Nam (tầng 3, toà nhà văn phòng)",
        "phone": f"028{i:08d}",
    }


@contextmanager
def database(pg_url: str | None) -> Iterator[str]:
    """A temporary SQLite file, or a fresh schema on ``pg_url`` (dropped afterwards)."""
    if pg_url is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'hub.db'}"
        return
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in pg_url else "?"
    try:
        yield f"{pg_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
