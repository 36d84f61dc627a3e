"""The node's ``GET /control/v1/status`` answer as the tray reads it (DESIGN §6).

Parsing is lenient on purpose: unknown fields are ignored and an unknown connectivity value
(a newer node) is kept as ``None`` so the tray still shows something sensible instead of
crashing on a node it does not know yet.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from protocol.connectivity import Connectivity


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Counts(_Lenient):
    synced: int = 0
    pending: int = 0
    syncing: int = 0
    error: int = 0
    conflict: int = 0
    blocked: int = 0

    @property
    def outstanding(self) -> int:
        """Records still to be sent: waiting or in flight."""
        return self.pending + self.syncing

    @property
    def failed(self) -> int:
        """Records that need someone to look at them."""
        return self.error + self.conflict + self.blocked


class SyncState(StrEnum):
    """Whether the hub takes a dataset's changes: ``ok``, ``refused`` (the hub said no, e.g.
    ``DATASET_NOT_FOUND`` / ``FORBIDDEN``) or ``failing`` (its sync task keeps failing)."""

    OK = "ok"
    REFUSED = "refused"
    FAILING = "failing"


class DatasetSync(_Lenient):
    """``{"state","code","message":{"vi","en"}}``; a missing or unknown state reads as ok."""

    state: SyncState = SyncState.OK
    code: str | None = None
    message: dict[str, str] | None = None

    @field_validator("state", mode="before")
    @classmethod
    def _known_or_ok(cls, value: Any) -> Any:
        if value is None or value not in SyncState._value2member_map_:
            return SyncState.OK  # a newer node's state we do not know: do not alarm
        return value

    @property
    def troubled(self) -> bool:
        return self.state is not SyncState.OK

    def message_in(self, lang: str) -> str | None:
        return (self.message or {}).get(lang) or None


class DatasetStatus(_Lenient):
    id: str
    connected: bool = True
    counts: Counts = Field(default_factory=Counts)
    sync: DatasetSync = Field(default_factory=DatasetSync)

    @field_validator("sync", mode="before")
    @classmethod
    def _null_is_ok(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("counts", mode="before")
    @classmethod
    def _null_is_zero(cls, value: Any) -> Any:
        return {} if value is None else value  # a disconnected dataset may report no counts


class NodeStatus(_Lenient):
    online: bool = False
    connectivity: Connectivity | None = None
    message: dict[str, str] = Field(default_factory=dict)
    datasets: tuple[DatasetStatus, ...] = ()
    workstations: int = 0
    version: str = ""
    tls_fingerprint: str | None = None

    @field_validator("connectivity", mode="before")
    @classmethod
    def _known_or_none(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in Connectivity._value2member_map_:
            return None
        return value

    @property
    def is_online(self) -> bool:
        return self.connectivity is Connectivity.ONLINE

    @property
    def troubled(self) -> tuple[DatasetStatus, ...]:
        """Datasets the hub refuses or that keep failing to sync."""
        return tuple(d for d in self.datasets if d.sync.troubled)

    @property
    def totals(self) -> Counts:
        """Counts summed over every dataset."""
        fields = Counts.model_fields
        return Counts(**{f: sum(getattr(d.counts, f) for d in self.datasets) for f in fields})

    def message_in(self, lang: str) -> str:
        """The node's own connectivity message, else ours for that state."""
        text = self.message.get(lang)
        if text:
            return text
        if self.connectivity is not None:
            return self.connectivity.messages()[lang]
        return ""


def parse_status(raw: Any) -> NodeStatus:
    """Validate one status document; raises ``pydantic.ValidationError`` when it is not one."""
    return NodeStatus.model_validate(raw)
