"""The local contract between a running node and the tools on the same machine (the tray,
``officesync status`` …), written once for both sides.

Two files in the node's data dir: ``runtime.json`` (:class:`RuntimeInfo`: the node's pid and
the URLs it really bound, written when it starts, removed when it stops) and
``control.token`` (the local admin secret, one line). And the document of
``GET /control/v1/status`` (also pushed as ``{"type": "status", …}`` on
``/control/v1/events``): :class:`NodeStatus`. The node builds its answer with these models;
the tray parses with them.

Parsing is lenient on purpose: unknown fields are ignored, an unknown connectivity value (a
newer node) reads as ``None``, a missing or unknown dataset sync state reads as ``ok`` and a
message that is not ``{"vi", "en"}`` as none, so a tray keeps showing something sensible for
a node it does not know yet instead of failing on it.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from protocol.connectivity import Connectivity
from protocol.i18n import Text

RUNTIME_FILE: Final = "runtime.json"
CONTROL_TOKEN_FILE: Final = "control.token"
CONTROL_PREFIX: Final = "/control/v1"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# --- the files of the data dir ---------------------------------------------------------------


class RuntimeInfo(_Lenient):
    """``runtime.json``: ``{"pid", "lan_url", "control_url"}``."""

    pid: int
    lan_url: str
    control_url: str

    @classmethod
    def parse(cls, raw: str | bytes) -> RuntimeInfo | None:
        """The runtime info in ``raw``, or None when it is not one (e.g. half written)."""
        try:
            return cls.model_validate_json(raw)
        except ValidationError:
            return None


def read_runtime(data_dir: Path) -> RuntimeInfo | None:
    """``<data_dir>/runtime.json``, or None when it is missing, unreadable or half written."""
    try:
        raw = (data_dir / RUNTIME_FILE).read_bytes()
    except OSError:
        return None
    return RuntimeInfo.parse(raw)


def read_control_token(data_dir: Path) -> str:
    """The control token, or ``''`` when the file is missing or empty.

    Any other failure to read it (``PermissionError``: this user may not) is raised."""
    try:
        return (data_dir / CONTROL_TOKEN_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


# --- the control status document -------------------------------------------------------------


def _text_or_none(value: Any) -> Any:
    """A :class:`Text` or a full ``{"vi", "en"}`` dict is kept; anything else reads as none."""
    if isinstance(value, Text):
        return value
    if isinstance(value, dict) and all(isinstance(value.get(k), str) for k in ("vi", "en")):
        return value
    return None


# A bilingual message from the wire: None when absent or not ``{"vi", "en"}``.
Message = Annotated[Text | None, BeforeValidator(_text_or_none)]


class Counts(_Lenient):
    """Records of a dataset by sync state."""

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


class SyncHealth(StrEnum):
    """Whether the hub takes a dataset's changes: ``ok``, ``refused`` (the hub said no, e.g.
    ``DATASET_NOT_FOUND`` / ``FORBIDDEN``) or ``failing`` (its sync task keeps failing)."""

    OK = "ok"
    REFUSED = "refused"
    FAILING = "failing"


class DatasetSync(_Lenient):
    """``{"state", "code", "message": None | {"vi", "en"}}``; a missing or unknown state
    reads as ok."""

    state: SyncHealth = SyncHealth.OK
    code: str | None = None
    message: Message = None

    @field_validator("state", mode="before")
    @classmethod
    def _known_or_ok(cls, value: Any) -> Any:
        if value is None or value not in SyncHealth._value2member_map_:
            return SyncHealth.OK  # a newer node's state we do not know: do not alarm
        return value

    @property
    def troubled(self) -> bool:
        """The hub refuses the dataset or its sync keeps failing."""
        return self.state is not SyncHealth.OK

    def message_in(self, lang: str) -> str | None:
        """The node's message in ``lang``, or None when it sent none."""
        return (self.message.get(lang) or None) if self.message else None


class SelfCheckState(StrEnum):
    """The node's own check of a dataset against the cloud: ``ok`` (matches), ``repaired``
    (drift found and repaired), ``needs_person`` (a conflict to settle), ``never`` (not run
    yet)."""

    OK = "ok"
    REPAIRED = "repaired"
    NEEDS_PERSON = "needs_person"
    NEVER = "never"


class SelfCheck(_Lenient):
    """``{"state", "checked_at", "through", "full", "message": {"vi", "en"}}``: ``through`` is
    when the data was compared as of; an unknown state reads as ``never``."""

    state: SelfCheckState = SelfCheckState.NEVER
    checked_at: str | None = None
    through: str | None = None
    full: bool = False
    message: Message = None

    @field_validator("state", mode="before")
    @classmethod
    def _known_or_never(cls, value: Any) -> Any:
        if value is None or value not in SelfCheckState._value2member_map_:
            return SelfCheckState.NEVER
        return value

    def message_in(self, lang: str) -> str | None:
        """The node's message in ``lang``, or None when it sent none."""
        return (self.message.get(lang) or None) if self.message else None

    def as_json(self) -> dict[str, Any]:
        """The wire shape."""
        return self.model_dump(mode="json")


def _grouped(n: int, lang: str) -> str:
    """420000 as "420.000" (vi) or "420,000" (en)."""
    shown = f"{n:,}"
    return Text(shown.replace(",", "."), shown).get(lang)


class Download(_Lenient):
    """A first download of a dataset under way: records received so far, and how many the
    cloud holds when the node knows it."""

    done: int = 0
    total: int | None = None

    def message_in(self, lang: str) -> str:
        """"đang tải 420.000 / 1.000.000 bản ghi", "downloading 420,000 / 1,000,000 records"."""
        count = _grouped(self.done, lang)
        if self.total is not None:
            count += f" / {_grouped(self.total, lang)}"
        return Text(f"đang tải {count} bản ghi", f"downloading {count} records").get(lang)


def search_backlog_message(left: int | None, lang: str) -> str | None:
    """What the node says while the search indexes take in ``left`` records after a first
    download; None when none are left."""
    if not left:
        return None
    count = _grouped(left, lang)
    return Text(f"đang lập chỉ mục tìm kiếm: còn {count} bản ghi (vẫn tìm được, chậm hơn)",
                f"building the search index: {count} records to go (search works, "
                "slower)").get(lang)


class DatasetStatus(_Lenient):
    """One hosted dataset; a disconnected one's ``counts`` are those its kept file holds
    (null when it has no file)."""

    id: str
    connected: bool = True
    counts: Counts | None = None
    sync: DatasetSync = Field(default_factory=DatasetSync)
    selfcheck: SelfCheck = Field(default_factory=SelfCheck)
    download: Download | None = None  # a first download under way (null otherwise)
    # After a first download: records still to enter the search indexes (null: none). The
    # search finds them meanwhile, reading the records (slower).
    search_backlog: int | None = None

    def search_message_in(self, lang: str) -> str | None:
        """"đang lập chỉ mục tìm kiếm: còn 420.000 bản ghi" while the search indexes take in
        what a first download left them; None otherwise."""
        return search_backlog_message(self.search_backlog, lang)

    @field_validator("sync", mode="before")
    @classmethod
    def _null_is_ok(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("selfcheck", mode="before")
    @classmethod
    def _null_is_never(cls, value: Any) -> Any:
        return {} if value is None else value

    @property
    def tally(self) -> Counts:
        """The counts, all zero when the node reported none."""
        return self.counts or Counts()


class HubInfo(_Lenient):
    """Which hub the node syncs with and where its token lives (never the token itself)."""

    url: str | None = None
    node_id: str | None = None
    token_store: str | None = None


class FailingTask(_Lenient):
    """A background task in a failure streak (restarted with backoff)."""

    name: str
    failures: int = 0
    error: str | None = None
    since: str | None = None


class NodeStatus(_Lenient):
    """``GET /control/v1/status``."""

    online: bool = False
    connectivity: Connectivity | None = None
    message: Message = None
    datasets: tuple[DatasetStatus, ...] = ()
    workstations: int = 0
    version: str = ""
    hub: HubInfo = Field(default_factory=HubInfo)
    tls_fingerprint: str | None = None
    pending_restart: Message = None  # config changes that wait for a restart
    config_error: str | None = None  # a refused edit of the config file
    failing_tasks: tuple[FailingTask, ...] = ()  # empty when all is well

    @field_validator("connectivity", mode="before")
    @classmethod
    def _known_or_none(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in Connectivity._value2member_map_:
            return None
        return value

    @property
    def is_online(self) -> bool:
        """Connected to the hub and syncing."""
        return self.connectivity is Connectivity.ONLINE

    @property
    def troubled(self) -> tuple[DatasetStatus, ...]:
        """Datasets the hub refuses or that keep failing to sync."""
        return tuple(d for d in self.datasets if d.sync.troubled)

    @property
    def totals(self) -> Counts:
        """Counts summed over every dataset."""
        fields = Counts.model_fields
        return Counts(**{f: sum(getattr(d.tally, f) for d in self.datasets) for f in fields})

    def message_in(self, lang: str) -> str:
        """The node's own connectivity message, else ours for that state."""
        if self.message is not None and self.message.get(lang):
            return self.message.get(lang)
        if self.connectivity is not None:
            return self.connectivity.messages()[lang]
        return ""

    def as_json(self) -> dict[str, Any]:
        """The wire document (what the node answers)."""
        return self.model_dump(mode="json")


def parse_status(raw: Any) -> NodeStatus:
    """Validate one status document; raises ``pydantic.ValidationError`` when it is not one."""
    return NodeStatus.model_validate(raw)
