"""The node's hub token: in the OS keyring where a real one exists, else a 0600 file in the
data dir; ``officesync status`` says which (docs/configuration.md). Never in the config, nor in a
plaintext keyring silently."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import keyring.errors
from keyring.backend import KeyringBackend

from protocol.keystore import real_keyring, write_private

SERVICE = "officesync-node"
TOKEN_FILE = "hub.token"
Where = Literal["keyring", "file"]

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
