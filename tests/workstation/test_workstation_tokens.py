"""Where a workstation keeps its token: a real keyring if there is one, else a 0600 file."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from workstation.profile import (
    HOME_ENV,
    Profile,
    ProfileError,
    home_dir,
    load_profile,
    save_profile,
)
from workstation.tokens import (
    SERVICE,
    TokenError,
    forget_token,
    load_token,
    real_keyring,
    store_token,
    token_file,
)


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def delete_password(self, service: str, username: str) -> None:
        if self.secrets.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


class BrokenKeyring(MemoryKeyring):
    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringError("secret service is locked")


class PlaintextKeyring(MemoryKeyring):
    """Looks like keyrings.alt's plaintext file backend."""


PlaintextKeyring.__module__ = "keyrings.alt.file"


class EmptyChainer(chainer.ChainerBackend):
    backends: ClassVar[list[KeyringBackend]] = []


class PlaintextFirstChainer(chainer.ChainerBackend):
    """A chain whose first backend is plaintext: the real one behind it must be used."""

    real = MemoryKeyring()
    backends: ClassVar[list[KeyringBackend]] = [PlaintextKeyring(), real]


@pytest.fixture
def use_keyring() -> Iterator[object]:
    previous = keyring.get_keyring()

    def install(backend: KeyringBackend) -> KeyringBackend:
        keyring.set_keyring(backend)
        return backend

    yield install
    keyring.set_keyring(previous)


def test_token_goes_to_a_real_keyring_and_not_to_disk(tmp_path: Path, use_keyring) -> None:
    kr = use_keyring(MemoryKeyring())
    where = store_token(tmp_path, "ws-1", "secret-token")
    assert where.store == "keyring"
    assert kr.secrets[(SERVICE, "ws-1")] == "secret-token"
    assert not token_file(tmp_path).exists()
    assert load_token(tmp_path, "ws-1", "keyring") == "secret-token"
    forget_token(tmp_path, "ws-1", "keyring")
    with pytest.raises(TokenError):
        load_token(tmp_path, "ws-1", "keyring")


@pytest.mark.parametrize(
    "backend",
    [fail.Keyring(), null.Keyring(), EmptyChainer(), PlaintextKeyring()],
    ids=["fail", "null", "empty-chainer", "plaintext"],
)
def test_no_real_keyring_means_a_private_file(tmp_path: Path, use_keyring, backend) -> None:
    use_keyring(backend)
    assert real_keyring() is None
    where = store_token(tmp_path, "ws-1", "secret-token")
    assert where.store == "file"
    assert where.where == str(token_file(tmp_path))
    mode = stat.S_IMODE(token_file(tmp_path).stat().st_mode)
    assert mode == 0o600
    assert load_token(tmp_path, "ws-1", "file") == "secret-token"
    if isinstance(backend, PlaintextKeyring):
        assert backend.secrets == {}  # never silently written in plain text


def test_a_chain_is_looked_through_past_a_plaintext_backend(tmp_path: Path, use_keyring) -> None:
    chain = use_keyring(PlaintextFirstChainer())
    where = store_token(tmp_path, "ws-1", "secret-token")
    assert where.store == "keyring"
    assert PlaintextFirstChainer.real.secrets == {(SERVICE, "ws-1"): "secret-token"}
    assert chain.backends[0].secrets == {}


def test_a_failing_keyring_falls_back_to_the_file(tmp_path: Path, use_keyring) -> None:
    use_keyring(BrokenKeyring())
    where = store_token(tmp_path, "ws-1", "secret-token")
    assert where.store == "file"
    assert load_token(tmp_path, "ws-1", "file") == "secret-token"


def test_missing_token_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TokenError, match="not found"):
        load_token(tmp_path, "ws-1", "file")


def test_profile_round_trip_under_the_env_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    assert home_dir() == tmp_path / "home"
    with pytest.raises(ProfileError) as missing:
        load_profile()
    assert missing.value.missing
    profile = Profile(
        node_url="http://127.0.0.1:8470", workstation_id="ws-1", name="KT-01",
        token_store="file", language="en",
    )
    path = save_profile(profile)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_profile() == profile
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ProfileError) as bad:
        load_profile()
    assert not bad.value.missing
