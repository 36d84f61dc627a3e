"""Where a workstation keeps the token it got when pairing.

In the OS keyring when a real one exists (Windows Credential Manager, macOS Keychain, Secret
Service); otherwise in a file readable only by the user (mode 0600) next to the profile. A
plaintext or "fail"/"null" keyring backend is never used silently: it counts as no keyring and
the caller is told that the token went to a file.

The keyring test ("is this a real secret store?") and the 0600 file writer are the node's
(:mod:`protocol.keystore`), so node and workstation follow one rule.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import keyring.errors
from keyring.backend import KeyringBackend

from protocol.keystore import real_keyring, write_private
from workstation.profile import TokenStore

__all__ = [
    "SERVICE", "TOKEN_FILE", "TokenError", "TokenLocation", "forget_token", "load_token",
    "real_keyring", "store_token", "token_file",
]

SERVICE = "officesync-workstation"
TOKEN_FILE = "workstation.token"


class TokenError(Exception):
    """The token cannot be found where the profile says it is."""


@dataclass(frozen=True)
class TokenLocation:
    store: TokenStore
    where: str  # the keyring's name, or the token file's path


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
    path = write_private(token_file(home), token)
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
            with contextlib.suppress(keyring.errors.KeyringError):  # already gone
                kr.delete_password(SERVICE, account)
        return
    _remove_file(token_file(home))


def _keyring_name(kr: KeyringBackend) -> str:
    return str(getattr(kr, "name", type(kr).__name__))


def _remove_file(path: Path) -> None:
    path.unlink(missing_ok=True)
