"""Shapes of the LAN API's own answers (records and pages are in :mod:`protocol.models`)."""

from __future__ import annotations

from pydantic import BaseModel

from protocol.models import Record


class DatasetState(BaseModel):
    id: str
    connected: bool


class InfoResponse(BaseModel):
    name: str
    version: str
    protocol: int
    datasets: list[DatasetState]
    tls_fingerprint: str | None = None


class DatasetsResponse(BaseModel):
    datasets: list[DatasetState]


class SyncSummary(BaseModel):
    connectivity: str
    online: bool
    counts: dict[str, int]
    last_push_at: str | None = None
    last_pull_at: str | None = None


class IssuesResponse(BaseModel):
    items: list[Record]


class Accepted(BaseModel):
    accepted: bool = True
