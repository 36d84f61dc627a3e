"""Three-way merge of a record's data (S9): the last synced copy (``base``), this office's
version (``local``) and the cloud's (``cloud``). Pure: no I/O, the same on every side.

Rules (docs/protocol.md, "Concurrent edits"):

- a field changed on one side only is taken from that side; a field changed on both sides to
  the same value is no clash; to different values it is a clash;
- a list (a voucher's or a sales order's ``lines``) is one value: merged only when one side
  left it unchanged, else the whole list clashes;
- the accounting rule: a voucher posted in the base, or posted/unposted on either side, is
  never merged automatically — it is a conflict of kind ``posted``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from protocol.i18n import Text
from protocol.schema import CollectionSchema

ConflictKind = Literal["fields", "posted", "deleted"]
POSTED_FIELD = "posted"
# A field absent from one of the three copies (a blank optional field).
_ABSENT: Any = object()

KIND_TEXT: dict[str, Text] = {
    "fields": Text("cùng một trường đã được sửa ở cả hai văn phòng",
                   "the same field was changed at both offices"),
    "posted": Text("chứng từ đã được ghi sổ/bỏ ghi ở văn phòng khác",
                   "the voucher was posted/unposted at another office"),
    "deleted": Text("bản ghi đã bị xóa ở một văn phòng và được sửa ở văn phòng kia",
                    "the record was deleted at one office and changed at the other"),
}


class ConflictView(BaseModel):
    """A record in ``conflict`` as the LAN API shows it (``GET …/{id}/conflict``): the kind,
    the clashing fields, the three copies (``cloud`` is null when the cloud deleted it) and
    the message naming the record and what to do."""

    kind: ConflictKind
    fields: list[str]
    base: dict[str, Any] | None
    local: dict[str, Any]
    cloud: dict[str, Any] | None
    message: str
    deleted_on: Literal["local", "cloud"] | None = None
    cloud_version: int | None = None


@dataclass(frozen=True)
class MergeResult:
    """The outcome of :func:`merge`: ``data`` when clean, else the clash and its kind."""

    data: dict[str, Any] | None
    clashes: tuple[str, ...] = ()
    kind: ConflictKind | None = None
    from_local: tuple[str, ...] = ()
    from_cloud: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        """Whether the two sides merged without a clash."""
        return self.data is not None


def _get(data: Mapping[str, Any], name: str) -> Any:
    return data.get(name, _ABSENT)


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    """The fields whose value differs between two copies (a field present in one only too)."""
    return tuple(sorted(n for n in set(before) | set(after)
                        if _get(before, n) != _get(after, n)))


def is_posting_case(schema: CollectionSchema, base: Mapping[str, Any] | None,
                    local: Mapping[str, Any], cloud: Mapping[str, Any],
                    local_posting: bool = False) -> bool:
    """Whether the accounting rule forbids an automatic merge: a postable record posted in the
    base, or whose ``posted`` changed on either side (``local_posting``: the office posted or
    unposted it, even when it came back to the base's state)."""
    if not schema.postable:
        return False
    was = bool((base or {}).get(POSTED_FIELD))
    return (was or local_posting or bool(local.get(POSTED_FIELD)) != was
            or bool(cloud.get(POSTED_FIELD)) != was)


def merge(schema: CollectionSchema, base: Mapping[str, Any] | None,
          local: Mapping[str, Any], cloud: Mapping[str, Any], *,
          local_posting: bool = False) -> MergeResult:
    """Merge ``local`` and ``cloud`` against ``base`` for a record of ``schema``.

    Without a base (a record created offline on both sides, or an old store) every field
    that differs is a clash. Identical sides merge to themselves whatever the rules.
    """
    differing = changed_fields(local, cloud)
    if not differing:
        return MergeResult(dict(cloud))
    if is_posting_case(schema, base, local, cloud, local_posting):
        return MergeResult(None, differing, "posted")
    if base is None:
        return MergeResult(None, differing, "fields")
    merged: dict[str, Any] = {}
    clashes: list[str] = []
    from_local: list[str] = []
    from_cloud: list[str] = []
    for name in sorted(set(base) | set(local) | set(cloud)):
        b, mine, theirs = _get(base, name), _get(local, name), _get(cloud, name)
        if mine == theirs:
            value = mine
        elif mine == b:
            value = theirs
            from_cloud.append(name)
        elif theirs == b:
            value = mine
            from_local.append(name)
        else:
            clashes.append(name)
            continue
        if value is not _ABSENT:
            merged[name] = value
    if clashes:
        return MergeResult(None, tuple(clashes), "fields", tuple(from_local), tuple(from_cloud))
    return MergeResult(merged, (), None, tuple(from_local), tuple(from_cloud))


def pick(base: Mapping[str, Any] | None, local: Mapping[str, Any], cloud: Mapping[str, Any],
         choices: Mapping[str, Literal["local", "cloud"]], clashes: tuple[str, ...],
         ) -> dict[str, Any]:
    """The merge where each clashing field takes the side ``choices`` names and every other
    field is merged as :func:`merge` does (a field changed on one side only keeps that change).
    ``choices`` must name every clashing field (the caller checks)."""
    base = base or {}
    merged: dict[str, Any] = {}
    for name in sorted(set(base) | set(local) | set(cloud)):
        b, mine, theirs = _get(base, name), _get(local, name), _get(cloud, name)
        if name in clashes or name in choices:
            value = mine if choices.get(name, "local") == "local" else theirs
        elif mine == b:
            value = theirs
        else:
            value = mine
        if value is not _ABSENT:
            merged[name] = value
    return merged
