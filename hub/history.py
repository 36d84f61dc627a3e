"""A record's history: every version the hub's change feed holds for it, oldest first.

The feed (``hub_changes``) keeps one row per applied op with the node that pushed it; since
the history route it also keeps when the hub applied it and the workstation the node named
on the op (both ``NULL`` on rows written before). Each version says which top-level fields
differ from the version before (the first: every field it has).
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa

from hub import nodes
from hub.db import changes, records
from hub.db import nodes as node_table
from protocol.errors import ErrorCode, ProtocolError
from protocol.i18n import Text

MAX_VERSIONS = 1000  # the newest ones when a record has more


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """The top-level fields whose value differs between two versions, in ``after``'s order
    then the removed ones."""
    if before is None:
        return list(after)
    names = list(after) + [k for k in before if k not in after]
    return [k for k in names if before.get(k) != after.get(k)]


def record_history(conn: sa.Connection, dataset: str, collection: str,
                   id: str) -> dict[str, Any]:
    stmt = (
        sa.select(changes.c.seq, changes.c.collection, changes.c.version, changes.c.deleted,
                  changes.c.data, changes.c.node_id, changes.c.workstation,
                  changes.c.applied_at, node_table.c.name)
        .select_from(changes.outerjoin(node_table, node_table.c.id == changes.c.node_id))
        .where(changes.c.dataset == dataset, changes.c.id == id)
        .order_by(changes.c.seq.desc()).limit(MAX_VERSIONS)
    )
    rows = list(reversed(conn.execute(stmt).all()))
    if not rows or rows[0].collection != collection:
        exists = conn.execute(sa.select(records.c.collection).where(
            records.c.dataset == dataset, records.c.id == id)).scalar()
        if exists != collection or not rows:
            raise ProtocolError(ErrorCode.NOT_FOUND,
                                {"what": Text(f"lịch sử của bản ghi {collection}/{id}",
                                              f"The history of record {collection}/{id}")},
                                {"collection": collection, "id": id})
    versions: list[dict[str, Any]] = []
    before: dict[str, Any] | None = None
    for r in rows:
        data = orjson.loads(r.data) or {}
        versions.append({
            "seq": r.seq, "version": r.version, "deleted": bool(r.deleted),
            "at": r.applied_at,
            "node_id": r.node_id, "node": r.name, "workstation": r.workstation,
            "changed": changed_fields(before, data), "data": data,
        })
        before = data
    return {"id": id, "collection": collection, "versions": versions}


def authorized_history(conn: sa.Connection, token: str | None, dataset: str, collection: str,
                       id: str) -> dict[str, Any]:
    """:func:`record_history` after the token's authorisation for ``dataset``."""
    nodes.authorize(conn, token, dataset)
    return record_history(conn, dataset, collection, id)
