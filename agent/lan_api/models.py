"""Shapes of the LAN API's own answers (records and pages are in :mod:`protocol.models`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from protocol.models import Record


class DatasetBrief(BaseModel):
    id: str
    connected: bool


class DatasetState(DatasetBrief):
    pending: int = 0  # records with changes the hub does not have yet (kept while disconnected)


class InfoResponse(BaseModel):
    name: str
    version: str
    protocol: int
    datasets: list[DatasetBrief]
    tls_fingerprint: str | None = None
    language: Literal["vi", "en"] = "vi"  # the node's [node] language (the dashboard's default)


class DatasetsResponse(BaseModel):
    datasets: list[DatasetState]


class LocalizedText(BaseModel):
    vi: str
    en: str


class DatasetSync(BaseModel):
    """The dataset's sync state beside connectivity (``ok``, ``refused``, ``failing``)."""

    state: Literal["ok", "refused", "failing"]
    code: str | None = None
    message: LocalizedText | None = None


class SyncSummary(BaseModel):
    connectivity: str
    online: bool
    counts: dict[str, int]
    last_push_at: str | None = None
    last_pull_at: str | None = None
    state: Literal["ok", "refused", "failing"] = "ok"
    code: str | None = None
    message: LocalizedText | None = None
    # The node's own check against the cloud: state ok|repaired|needs_person|never,
    # checked_at, through, full, message {vi, en} (agent/selfcheck.py).
    selfcheck: dict[str, Any] | None = None
    # A first download under way: records received so far, the total when known, and
    # message {vi, en} ("đang tải 420.000 bản ghi"); null otherwise.
    download: dict[str, Any] | None = None
    # After a first download, while the search indexes take in its records: left (how many)
    # and message {vi, en} ("đang lập chỉ mục tìm kiếm: còn 420.000 bản ghi …"); else null.
    search_backlog: dict[str, Any] | None = None


class IssuesResponse(BaseModel):
    items: list[Record]
    dataset: DatasetSync | None = None  # present when the whole dataset does not sync


class Accepted(BaseModel):
    accepted: bool = True
