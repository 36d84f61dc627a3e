"""Where a secret of this machine is kept, one rule for the node's hub token
(``agent.secrets``) and a workstation's token (``workstation.tokens``): the OS keyring when
it is a real secret store, else a file only its owner can read. A plaintext or
"fail"/"null" keyring backend never counts as a real one."""

from __future__ import annotations

import os
from pathlib import Path

import keyring
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend

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
