"""Per-day digests of a collection, computed the same way by the hub and by a node, so data
maintenance (S11) can compare a date range cheaply before comparing record by record."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from protocol.models import DigestBucket


def digest_buckets(rows: Iterable[tuple[str, str, int]]) -> list[DigestBucket]:
    """Buckets of ``(date, id, version)`` rows: per date, the count and the sha256 (hex) of
    ``"id:version\\n"`` lines sorted by id. Days without records have no bucket."""
    by_date: dict[str, list[tuple[str, int]]] = {}
    for date, record_id, version in rows:
        by_date.setdefault(date, []).append((record_id, version))
    buckets = []
    for date in sorted(by_date):
        items = sorted(by_date[date])
        text = "".join(f"{record_id}:{version}\n" for record_id, version in items)
        digest = hashlib.sha256(text.encode()).hexdigest()
        buckets.append(DigestBucket(date=date, count=len(items), hash=digest))
    return buckets
