"""The node's hub token: in the OS keyring where a real one exists, else a 0600 file in the
data dir — and ``officesync status`` says which (DESIGN §8). Never in the config, never in a
plaintext keyring silently."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend

SERVICE = "officesync-node"
TOKEN_FILE = "hub.token"
Where = Literal["keyring", "file"]

# Backends that are not a real secret store: they fail, drop secrets, or keep plain text.
_NOT_REAL_MODULES = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")


def real_keyring(backend: KeyringBackend | None = None) -> KeyringBackend | None:
    """The keyring backend to use if it is a real OS secret store, else ``None``. A chainer
    is looked through, so a secret never lands in a plaintext backend ranked first."""
    kr = backend if backend is not None else keyring.get_keyring()
    if isinstance(kr, ChainerBackend):
        return next((b for b in kr.backends if _is_real(b)), None)
    return kr if _is_real(kr) else None


def _is_real(kr: KeyringBackend) -> bool:
    return not type(kr).__module__.startswith(_NOT_REAL_MODULES)


def write_private(path: Path, secret: str) -> Path:
    """Write ``secret`` to a file only its owner can read (created 0600, never widened)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret)
    os.replace(tmp, path)
    os.chmod(path, 0o600)
    return path


@dataclass(frozen=True)
class SecretLocation:
    where: Where
    detail: str  # the keyring backend's name, or the file's path


class NodeSecrets:
    """The hub token of the node whose data dir is ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.account = f"hub-token:{data_dir.resolve()}"

    @property
    def file(self) -> Path:
        return self.data_dir / TOKEN_FILE

    def store(self, token: str) -> SecretLocation:
        kr = real_keyring()
        if kr is not None:
            try:
                kr.set_password(SERVICE, self.account, token)
            except keyring.errors.KeyringError:
                pass  # a locked or absent Secret Service: fall back to the file
            else:
                self.file.unlink(missing_ok=True)
                return SecretLocation("keyring", _name(kr))
        return SecretLocation("file", str(write_private(self.file, token)))

    def load(self) -> tuple[str, SecretLocation] | None:
        if self.file.exists():
            return self.file.read_text(encoding="utf-8").strip(), SecretLocation(
                "file", str(self.file))
        kr = real_keyring()
        if kr is not None:
            try:
                token = kr.get_password(SERVICE, self.account)
            except keyring.errors.KeyringError:
                token = None
            if token:
                return token, SecretLocation("keyring", _name(kr))
        return None


def _name(kr: KeyringBackend) -> str:
    return f"{type(kr).__module__}.{type(kr).__name__}"
