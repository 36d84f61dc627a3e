"""Datasets, enrollment codes, nodes and their grants: synchronous SQLAlchemy Core.

Secrets (node tokens, enrollment codes) are stored only as sha256 hashes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

import orjson
import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError

from hub.db import datasets, enroll_codes, grants, nodes
from protocol.errors import ErrorCode, ProtocolError
from protocol.i18n import Text
from protocol.models import DatasetId

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
_DATASET_ID = TypeAdapter(DatasetId)


@dataclass(frozen=True)
class Node:
    id: str
    name: str
    datasets: frozenset[str]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def new_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return "-".join(raw[i : i + 4] for i in range(0, 12, 4))


def check_dataset_id(dataset: str) -> str:
    try:
        return _DATASET_ID.validate_python(dataset)
    except ValidationError:
        raise ProtocolError(
            ErrorCode.VALIDATION_FAILED,
            {"reason": Text(
                f"mã dữ liệu kế toán '{dataset}' chỉ được gồm chữ thường a-z, chữ số, "
                "dấu - và _, bắt đầu bằng chữ hoặc số, tối đa 63 ký tự (ví dụ cty-abc)",
                f"the dataset id '{dataset}' may hold only lower-case letters a-z, "
                "digits, - and _, start with a letter or digit, at most 63 characters "
                "(e.g. cty-abc)")},
            {"dataset": dataset},
        ) from None


def create_dataset(conn: sa.Connection, dataset: str) -> bool:
    """Create ``dataset``; ``False`` when it already exists."""
    check_dataset_id(dataset)
    if conn.execute(sa.select(datasets.c.id).where(datasets.c.id == dataset)).first():
        return False
    conn.execute(
        datasets.insert().values(id=dataset, last_seq=0, created_at=now().isoformat())
    )
    return True


def _require_datasets(conn: sa.Connection, wanted: list[str]) -> None:
    found = set(conn.execute(sa.select(datasets.c.id).where(datasets.c.id.in_(wanted))).scalars())
    for dataset in wanted:
        if dataset not in found:
            raise ProtocolError(ErrorCode.DATASET_NOT_FOUND, {"dataset": dataset},
                                {"dataset": dataset})


def create_enroll_code(conn: sa.Connection, wanted: list[str], ttl: dt.timedelta) -> str:
    """A one-time code granting ``wanted``; only its hash is stored."""
    _require_datasets(conn, wanted)
    code = new_code()
    conn.execute(
        enroll_codes.insert().values(
            code_hash=sha256(normalise_code(code)),
            datasets=orjson.dumps(sorted(set(wanted))).decode(),
            created_at=now().isoformat(), expires_at=(now() + ttl).isoformat(),
        )
    )
    return code


# What the one who reads a refusal of the hub does: a node's operator, not a workstation.
_NEW_CODE = Text(". Mã đăng ký sai, đã dùng hoặc đã hết hạn: hãy xin quản trị Cloud mã mới "
                 "(officesync hub enroll-code)",
                 " The enrollment code is wrong, used or expired: ask the hub's administrator "
                 "for a new one (officesync hub enroll-code).")
_ENROLL_AGAIN = Text(". Hãy đăng ký lại máy chủ văn phòng với Cloud (officesync enroll)",
                     " Enroll the office node with the hub again (officesync enroll).")


def _token_refused(reason: str) -> ProtocolError:
    return ProtocolError(ErrorCode.UNAUTHORIZED, {"hint": _ENROLL_AGAIN}, {"reason": reason})


def _bad_code() -> ProtocolError:
    return ProtocolError(ErrorCode.UNAUTHORIZED, {"hint": _NEW_CODE}, {"reason": "enroll_code"})


def enroll(conn: sa.Connection, code: str, node_name: str) -> tuple[str, str, list[str]]:
    """Use a one-time code: create the node (or rotate the token of the node with that name)
    and add the code's grants. Answers ``(node_id, token, all datasets granted)``."""
    code_hash = sha256(normalise_code(code))
    row = conn.execute(
        sa.select(enroll_codes.c.datasets, enroll_codes.c.expires_at).where(
            enroll_codes.c.code_hash == code_hash, enroll_codes.c.used_at.is_(None)
        ).with_for_update()
    ).first()
    if row is None or row.expires_at < now().isoformat():
        raise _bad_code()
    token = "osn_" + secrets.token_urlsafe(32)
    node_id = conn.execute(sa.select(nodes.c.id).where(nodes.c.name == node_name)).scalar()
    if node_id is None:
        node_id = str(uuid.uuid4())
        conn.execute(nodes.insert().values(
            id=node_id, name=node_name, token_hash=sha256(token), created_at=now().isoformat()
        ))
    else:  # a new enrollment also lifts a revocation
        conn.execute(nodes.update().where(nodes.c.id == node_id)
                     .values(token_hash=sha256(token), revoked_at=None))
    conn.execute(
        enroll_codes.update().where(enroll_codes.c.code_hash == code_hash)
        .values(used_at=now().isoformat(), used_by=node_id)
    )
    have = set(conn.execute(sa.select(grants.c.dataset).where(grants.c.node_id == node_id))
               .scalars())
    new = [d for d in orjson.loads(row.datasets) if d not in have]
    if new:
        conn.execute(grants.insert(), [{"node_id": node_id, "dataset": d} for d in new])
    return node_id, token, sorted(have | set(new))


def authenticate(conn: sa.Connection, token: str | None) -> Node:
    if not token:
        raise _token_refused("missing_token")
    node = conn.execute(
        sa.select(nodes.c.id, nodes.c.name, nodes.c.revoked_at)
        .where(nodes.c.token_hash == sha256(token))
    ).first()
    if node is None:
        raise _token_refused("bad_token")
    if node.revoked_at is not None:
        raise _token_refused("revoked")
    granted = conn.execute(sa.select(grants.c.dataset).where(grants.c.node_id == node.id))
    return Node(node.id, node.name, frozenset(granted.scalars()))


def authorize(conn: sa.Connection, token: str | None, dataset: str) -> Node:
    """The node behind ``token`` if it may use ``dataset``: 401, 404 or 403 otherwise."""
    node = authenticate(conn, token)
    if dataset in node.datasets:
        return node
    exists = conn.execute(sa.select(datasets.c.id).where(datasets.c.id == dataset)).first()
    if exists is None:
        raise ProtocolError(ErrorCode.DATASET_NOT_FOUND, {"dataset": dataset},
                            {"dataset": dataset})
    raise ProtocolError(ErrorCode.FORBIDDEN, {}, {"dataset": dataset})


# --- admin: what the hub holds, grants, revocation, last seen -------------------------------


@dataclass(frozen=True)
class DatasetInfo:
    id: str
    created_at: str
    nodes: tuple[str, ...]  # names of the nodes granted it
    records: int  # live records (tombstones not counted)


@dataclass(frozen=True)
class NodeInfo:
    id: str
    name: str
    created_at: str
    last_seen: str | None
    revoked_at: str | None
    datasets: tuple[str, ...]


def list_datasets(conn: sa.Connection) -> list[DatasetInfo]:
    from hub.db import records

    counts: dict[str, int] = {str(r[0]): int(r[1]) for r in conn.execute(
        sa.select(records.c.dataset, sa.func.count())
        .where(records.c.deleted.is_(False)).group_by(records.c.dataset))}
    granted: dict[str, list[str]] = {}
    for dataset, name in conn.execute(
            sa.select(grants.c.dataset, nodes.c.name)
            .join(nodes, nodes.c.id == grants.c.node_id).order_by(nodes.c.name)):
        granted.setdefault(dataset, []).append(name)
    return [DatasetInfo(row.id, row.created_at, tuple(granted.get(row.id, ())),
                        int(counts.get(row.id, 0)))
            for row in conn.execute(sa.select(datasets).order_by(datasets.c.id))]


def list_nodes(conn: sa.Connection) -> list[NodeInfo]:
    granted: dict[str, list[str]] = {}
    for node_id, dataset in conn.execute(
            sa.select(grants.c.node_id, grants.c.dataset).order_by(grants.c.dataset)):
        granted.setdefault(node_id, []).append(dataset)
    return [NodeInfo(r.id, r.name, r.created_at, r.last_seen, r.revoked_at,
                     tuple(granted.get(r.id, ())))
            for r in conn.execute(
                sa.select(nodes.c.id, nodes.c.name, nodes.c.created_at, nodes.c.last_seen,
                          nodes.c.revoked_at).order_by(nodes.c.name))]


def _node_not_found(node: str, known: list[str]) -> ProtocolError:
    shown = ", ".join(known) or "—"
    return ProtocolError(
        ErrorCode.NOT_FOUND,
        {"what": Text(f"máy chủ (node) {node}", f"Node {node}"),
         "hint": Text(f". Các máy chủ đã đăng ký: {shown}", f" Enrolled nodes: {shown}.")},
        {"node": node, "nodes": known},
    )


def find_node(conn: sa.Connection, node: str) -> tuple[str, str]:
    """``(id, name)`` of the node named ``node`` (or with that id)."""
    row = conn.execute(sa.select(nodes.c.id, nodes.c.name).where(
        sa.or_(nodes.c.name == node, nodes.c.id == node))).first()
    if row is None:
        raise _node_not_found(node, list(conn.execute(
            sa.select(nodes.c.name).order_by(nodes.c.name)).scalars()))
    return row.id, row.name


def grant(conn: sa.Connection, node: str, dataset: str) -> bool:
    """Let ``node`` (name or id) use ``dataset``; ``False`` when it already may."""
    check_dataset_id(dataset)
    _require_datasets(conn, [dataset])
    node_id, _name = find_node(conn, node)
    have = conn.execute(sa.select(grants.c.dataset).where(
        grants.c.node_id == node_id, grants.c.dataset == dataset)).first()
    if have is not None:
        return False
    conn.execute(grants.insert().values(node_id=node_id, dataset=dataset))
    return True


def revoke(conn: sa.Connection, node: str) -> tuple[str, str, bool]:
    """Refuse the token of ``node`` (name or id) from now on: ``(id, name, newly revoked)``."""
    node_id, name = find_node(conn, node)
    revoked = conn.execute(sa.select(nodes.c.revoked_at).where(nodes.c.id == node_id)).scalar()
    if revoked is not None:
        return node_id, name, False
    conn.execute(nodes.update().where(nodes.c.id == node_id).values(revoked_at=now().isoformat()))
    return node_id, name, True


def mark_seen(conn: sa.Connection, token_hashes: list[str], at: str) -> None:
    """Record ``last_seen`` of the nodes behind these token hashes (unknown ones: no-op)."""
    if token_hashes:
        conn.execute(nodes.update().where(nodes.c.token_hash.in_(token_hashes))
                     .values(last_seen=at))
