"""Edits of the node's config file by the node's own tools (``officesync dataset connect`` /
``disconnect`` and the control API): the file stays the source of truth and keeps its comments
and layout (tomlkit), the edit is validated as the node would load it before it replaces the
file, and it replaces the file atomically (temp file in the same directory, fsync, ``os.replace``,
then fsync of the directory), so the live config watcher, an editor or a crash never sees half a
file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path

import tomlkit
from pydantic import ValidationError
from tomlkit.items import AoT, Table
from tomlkit.toml_document import TOMLDocument

from agent.config import Config, ConfigError

Edit = Callable[[TOMLDocument], None]


def read_document(path: Path) -> TOMLDocument:
    """The config file as an editable document (comments kept)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err


def dataset_tables(doc: TOMLDocument) -> list[Table]:
    """The ``[[datasets]]`` tables of the document, in file order ([] when there are none)."""
    found = doc.get("datasets")
    if found is None:
        return []
    if not isinstance(found, AoT | list):
        raise ConfigError("datasets: must be a list of [[datasets]] tables")
    return [t for t in found if isinstance(t, Table | dict)]  # type: ignore[misc]


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text``: temp file beside it, fsync, rename, fsync the directory.
    The file's permission bits are kept."""
    directory = path.parent
    mode = None
    with contextlib.suppress(OSError):
        mode = path.stat().st_mode & 0o7777
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # POSIX: the rename itself is durable
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def edit_config(path: Path, edit: Edit) -> Config:
    """Apply ``edit`` to the document at ``path``, check that the result is a valid config,
    write it atomically; the new config. An edit that makes it invalid writes nothing."""
    path = Path(path)
    doc = read_document(path)
    edit(doc)
    text = tomlkit.dumps(doc)
    try:
        config = Config.model_validate(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ValidationError) as err:
        raise ConfigError(f"{path}: the edit would make the file invalid: {err}") from err
    write_atomically(path, text)
    config.source = path.resolve()
    return config


__all__ = ["dataset_tables", "edit_config", "read_document", "write_atomically"]
