"""Where a workstation keeps the token it got when pairing.

In the OS keyring when a real one exists (Windows Credential Manager, macOS Keychain, Secret
Service); otherwise in a file readable only by the user (mode 0600) next to the profile. A
plaintext or "fail"/"null" keyring backend is never used silently: it counts as no keyring and
the caller is told that the token went to a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend

from agent.workstation.profile import TokenStore

SERVICE = "officesync-workstation"
TOKEN_FILE = "workstation.token"

# Backends that are not a real secret store: they fail, drop secrets, or keep them in plain text.
_NOT_REAL_MODULES = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")


class TokenError(Exception):
    """The token cannot be found where the profile says it is."""


@dataclass(frozen=True)
class TokenLocation:
    store: TokenStore
    where: str  # the keyring's name, or the token file's path


def real_keyring(backend: KeyringBackend | None = None) -> KeyringBackend | None:
    """The keyring backend to use if it is a real OS secret store, else ``None``.

    A chainer is looked through: its first real backend is used directly, so a secret never
    lands in a plaintext backend that happens to rank first in the chain.
    """
    kr = backend if backend is not None else keyring.get_keyring()
    if isinstance(kr, ChainerBackend):
        return next((b for b in kr.backends if _is_real(b)), None)
    return kr if _is_real(kr) else None


def _is_real(kr: KeyringBackend) -> bool:
    return not type(kr).__module__.startswith(_NOT_REAL_MODULES)


def token_file(home: Path) -> Path:
    return home / TOKEN_FILE


def store_token(home: Path, account: str, token: str) -> TokenLocation:
    """Keep ``token`` in the keyring if a real one works, else in a 0600 file under ``home``."""
    kr = real_keyring()
    if kr is not None:
        try:
            kr.set_password(SERVICE, account, token)
        except keyring.errors.KeyringError:
            pass  # e.g. a locked or absent Secret Service daemon: fall back to the file
        else:
            _remove_file(token_file(home))
            return TokenLocation("keyring", _keyring_name(kr))
    path = _write_private(token_file(home), token)
    return TokenLocation("file", str(path))


def load_token(home: Path, account: str, store: TokenStore) -> str:
    if store == "keyring":
        kr = real_keyring()
        if kr is None:
            raise TokenError("no OS keyring is available on this machine")
        try:
            token = kr.get_password(SERVICE, account)
        except keyring.errors.KeyringError as err:
            raise TokenError(f"keyring: {err}") from err
        if not token:
            raise TokenError(f"no token for {account} in the keyring")
        return token
    path = token_file(home)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise TokenError(f"token file {path} not found") from None
    if not token:
        raise TokenError(f"token file {path} is empty")
    return token


def forget_token(home: Path, account: str, store: TokenStore) -> None:
    """Remove a token kept earlier (used when pairing again)."""
    if store == "keyring":
        kr = real_keyring()
        if kr is not None:
            try:
                kr.delete_password(SERVICE, account)
            except keyring.errors.KeyringError:
                pass  # already gone
        return
    _remove_file(token_file(home))


def _keyring_name(kr: KeyringBackend) -> str:
    return str(getattr(kr, "name", type(kr).__name__))


def _write_private(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def _remove_file(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
