"""Finding the node: config keys, runtime.json, control.token, URL normalisation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from httpkit.control_client import (
    ControlError,
    ControlFailure,
    Endpoint,
    control_base,
    read_token,
    resolve_endpoint,
)
from tray.cli import tray
from tray.settings import (
    SettingsError,
    TraySettings,
    dashboard_url,
    default_data_dir,
    find_dashboard,
    load_settings,
)


def _write(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


def test_reads_the_node_config_keys_with_relative_data_dir(tmp_path: Path) -> None:
    cfg = _write(tmp_path / "node.toml", '[node]\ndata_dir = "data"\nlanguage = "en"\n'
                 '[control]\nhost = "127.0.0.1"\nport = 9000\n[lan]\nport = 1\n')
    assert load_settings(cfg) == TraySettings(tmp_path / "data", "en", "127.0.0.1", 9000)


def test_defaults_without_a_config() -> None:
    settings = load_settings(None)
    assert settings == TraySettings(default_data_dir(), "vi", "127.0.0.1", 8471)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("[node]\nlanguage = 'fr'\n", "node.language"),
        ("[control]\nport = 'x'\n", "control.port"),
        ("node = 3\n", "[node]"),
        ("not toml =", "cannot read config"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, body: str, error: str) -> None:
    cfg = _write(tmp_path / "node.toml", body)
    with pytest.raises(SettingsError, match=error.replace("[", r"\[")):
        load_settings(cfg)


def test_cli_fails_with_one_line_reason(tmp_path: Path) -> None:
    result = CliRunner().invoke(tray, ["--config", str(tmp_path / "missing.toml")])
    assert result.exit_code != 0
    assert result.output.strip().startswith("Không có tệp cấu hình")  # vi unless --lang en
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://127.0.0.1:8471", "http://127.0.0.1:8471/control/v1"),
        ("http://127.0.0.1:8471/", "http://127.0.0.1:8471/control/v1"),
        ("http://127.0.0.1:8471/control/v1/", "http://127.0.0.1:8471/control/v1"),
    ],
)
def test_control_base(url: str, base: str) -> None:
    assert control_base(url) == base


@pytest.mark.parametrize(
    ("lan", "dash"),
    [
        ("http://0.0.0.0:8470", "http://127.0.0.1:8470/"),
        ("https://[::]:8470", "https://127.0.0.1:8470/"),
        ("http://192.168.1.5:8470/", "http://192.168.1.5:8470/"),
    ],
)
def test_dashboard_url_opens_on_this_machine(lan: str, dash: str) -> None:
    assert dashboard_url(lan) == dash


def test_endpoint_prefers_runtime_json_and_is_read_fresh(tmp_path: Path) -> None:
    settings = TraySettings(tmp_path, control_port=8471)
    with pytest.raises(ControlError) as err:
        resolve_endpoint(settings)
    assert err.value.reason is ControlFailure.NO_TOKEN
    _write(tmp_path / "control.token", "tok-1\n")
    assert resolve_endpoint(settings) == Endpoint("http://127.0.0.1:8471/control/v1", "tok-1")
    _write(tmp_path / "runtime.json", json.dumps(
        {"pid": 1, "lan_url": "http://0.0.0.0:5000", "control_url": "http://127.0.0.1:5001"}))
    _write(tmp_path / "control.token", "tok-2\n")
    assert resolve_endpoint(settings) == Endpoint("http://127.0.0.1:5001/control/v1", "tok-2")
    assert find_dashboard(settings) == "http://127.0.0.1:5000/"


def test_port_zero_without_runtime_means_not_started(tmp_path: Path) -> None:
    _write(tmp_path / "control.token", "t")
    _write(tmp_path / "runtime.json", "{half writ")
    with pytest.raises(ControlError) as err:
        resolve_endpoint(TraySettings(tmp_path, control_port=0))
    assert err.value.reason is ControlFailure.NOT_RUNNING
    assert find_dashboard(TraySettings(tmp_path)) is None


def test_ipv6_loopback_control_host(tmp_path: Path) -> None:
    _write(tmp_path / "control.token", "t")
    endpoint = resolve_endpoint(TraySettings(tmp_path, control_host="::1", control_port=1))
    assert endpoint.base_url == "http://[::1]:1/control/v1"


def test_token_unreadable_is_told_apart_from_not_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "control.token", "t")

    def denied(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(ControlError) as err:
        read_token(TraySettings(tmp_path))
    assert err.value.reason is ControlFailure.TOKEN_UNREADABLE


def test_empty_token_means_not_started(tmp_path: Path) -> None:
    _write(tmp_path / "control.token", "\n")
    with pytest.raises(ControlError) as err:
        read_token(TraySettings(tmp_path))
    assert err.value.reason is ControlFailure.NO_TOKEN
