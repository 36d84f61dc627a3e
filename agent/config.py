"""Node configuration: a TOML file validated by pydantic (docs/configuration.md).

Every key here is documented in ``config.example.toml``; ``tests/agent/test_config.py`` fails
when one is not. Unknown keys are refused so a typo never silently falls back to a default.
"""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from protocol.i18n import Lang
from protocol.models import DatasetId


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NodeSection(_Section):
    name: str = Field(default_factory=socket.gethostname, min_length=1, max_length=200)
    data_dir: Path | None = None
    language: Lang = "vi"


class LanSection(_Section):
    host: str = "0.0.0.0"
    port: Annotated[int, Field(ge=0, le=65535)] = 8470
    tls: bool = False
    max_body_mb: Annotated[float, Field(gt=0, le=1024)] = 8
    max_connections: Annotated[int, Field(ge=16, le=100_000)] = 512
    max_connections_per_ip: Annotated[int, Field(ge=1, le=100_000)] = 64
    header_timeout_s: Annotated[float, Field(gt=0, le=600)] = 10
    body_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 60


class ControlSection(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8471

    @field_validator("host")
    @classmethod
    def _loopback_only(cls, value: str) -> str:
        if value not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("the control API listens on loopback only (127.0.0.1 or ::1)")
        return value


class CloudSection(_Section):
    url: str | None = None
    probe_interval_s: Annotated[float, Field(gt=0, le=3600)] = 10
    probe_timeout_s: Annotated[float, Field(gt=0, le=120)] = 3
    max_backoff_s: Annotated[float, Field(gt=0, le=3600)] = 30
    batch_size: Annotated[int, Field(ge=1, le=1000)] = 500
    long_poll_s: Annotated[float, Field(ge=0, le=300)] = 25


class DatasetEntry(_Section):
    id: DatasetId
    # false: kept (its file and pending changes stay on disk) but not hosted; set by
    # ``officesync dataset disconnect``, cleared by ``connect``.
    connected: bool = True


class InboxSection(_Section):
    dir: Path | None = None
    # The dataset of files dropped in dir itself (default: the only dataset); a file in
    # dir/<dataset>/ goes to that dataset.
    dataset: DatasetId | None = None
    duplicates: Literal["skip", "renumber"] = "skip"
    max_file_mb: Annotated[float, Field(gt=0, le=1024)] = 16
    settle_s: Annotated[float, Field(ge=0, le=600)] = 1.0


class SelfcheckSection(_Section):
    """The node's own data check against the cloud (agent/selfcheck.py)."""

    enabled: bool = True
    recent_days: Annotated[int, Field(ge=1, le=3660)] = 31
    interval_s: Annotated[float, Field(ge=1, le=7 * 86400)] = 3600
    # The whole dataset once a night at this local hour, or every full_interval_s seconds
    # when that is set (it wins over full_at).
    full_at: Annotated[int, Field(ge=0, le=23)] | None = 2
    full_interval_s: Annotated[float, Field(ge=1, le=30 * 86400)] | None = None
    page_size: Annotated[int, Field(ge=1, le=1000)] = 50
    start_delay_s: Annotated[float, Field(ge=0, le=86400)] = 60


class DiscoverySection(_Section):
    enabled: bool = True


class LogSection(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    file: Path | None = None
    # "json": one JSON object per line (time, level, logger, message, dataset) for a log
    # collector; "line": the readable line.
    format: Literal["line", "json"] = "line"


class Config(_Section):
    node: NodeSection = Field(default_factory=NodeSection)
    lan: LanSection = Field(default_factory=LanSection)
    control: ControlSection = Field(default_factory=ControlSection)
    cloud: CloudSection = Field(default_factory=CloudSection)
    datasets: list[DatasetEntry] = Field(default_factory=list)
    inbox: InboxSection = Field(default_factory=InboxSection)
    discovery: DiscoverySection = Field(default_factory=DiscoverySection)
    selfcheck: SelfcheckSection = Field(default_factory=SelfcheckSection)
    log: LogSection = Field(default_factory=LogSection)

    source: Path | None = Field(default=None, exclude=True)

    @field_validator("datasets")
    @classmethod
    def _unique_datasets(cls, value: list[DatasetEntry]) -> list[DatasetEntry]:
        ids = [d.id for d in value]
        if len(ids) != len(set(ids)):
            raise ValueError("a dataset is listed twice")
        return value

    @property
    def data_dir(self) -> Path:
        """Where the node keeps its databases, tokens and logs."""
        if self.node.data_dir is not None:
            path = self.node.data_dir
            if not path.is_absolute() and self.source is not None:
                path = self.source.parent / path
            return path
        return Path(platformdirs.user_data_dir("officesync", appauthor=False))

    @property
    def dataset_ids(self) -> list[str]:
        """The datasets the node hosts (connected)."""
        return [d.id for d in self.datasets if d.connected]

    @property
    def disconnected_ids(self) -> list[str]:
        """Datasets listed with ``connected = false``: kept on disk, not hosted."""
        return [d.id for d in self.datasets if not d.connected]


class ConfigError(Exception):
    """The config file is missing, not TOML, or not valid; the message says where."""


def load_config(path: Path | str | None) -> Config:
    if path is None:
        return Config()
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    try:
        config = Config.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in err.errors(include_url=False)
        )
        raise ConfigError(f"{path}: {problems}") from err
    config.source = path.resolve()
    return config
