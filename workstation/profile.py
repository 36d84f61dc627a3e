"""The workstation's profile: which node it is paired with and where its token lives.

The profile is ``workstation.json`` in ``platformdirs.user_config_dir("officesync")``, or in
the directory named by the environment variable ``OFFICESYNC_WS_HOME`` (tests use it). The
token itself is never in the profile: see :mod:`workstation.tokens`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, ValidationError

HOME_ENV = "OFFICESYNC_WS_HOME"
PROFILE_FILE = "workstation.json"

TokenStore = Literal["keyring", "file"]


class Profile(BaseModel):
    node_url: str
    workstation_id: str
    name: str
    fingerprint: str | None = None
    token_store: TokenStore
    language: Literal["vi", "en"] | None = None


class ProfileError(Exception):
    """The profile is missing or unreadable; ``missing`` tells which."""

    def __init__(self, path: Path, missing: bool, reason: str = "") -> None:
        self.path = path
        self.missing = missing
        self.reason = reason
        super().__init__(f"{path}: {'not found' if missing else reason}")


def home_dir() -> Path:
    """Where the profile and the fallback token file live."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir("officesync", appauthor=False))


def profile_path(home: Path | None = None) -> Path:
    return (home or home_dir()) / PROFILE_FILE


def load_profile(home: Path | None = None) -> Profile:
    path = profile_path(home)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(path, missing=True) from None
    try:
        return Profile.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as err:
        raise ProfileError(path, missing=False, reason=str(err).splitlines()[0]) from err


def save_profile(profile: Profile, home: Path | None = None) -> Path:
    """Write the profile atomically (temp file + rename), readable by the owner only."""
    path = profile_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(profile.model_dump_json(indent=2))
    os.replace(tmp, path)
    return path
