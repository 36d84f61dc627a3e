"""Where the tray finds the node: the few keys it needs from the node's config file.

The tray must not import ``agent``, so it reads them from the node's TOML itself:
``[node] data_dir, language`` and ``[control] host, port``. A relative ``data_dir`` is
relative to the config file, as in the node. :class:`TraySettings` is a
:class:`httpkit.control_client.NodeLocation`: the control client reads ``runtime.json`` and
``control.token`` from that data dir again on every reconnect, so a restarted node on a new
port or with a new token is found without restarting the tray.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import platformdirs

from protocol.i18n import LANGUAGES, Lang
from protocol.local import read_runtime

_WILDCARD_HOSTS: Final = frozenset({"0.0.0.0", "::", "[::]", ""})


class SettingsError(Exception):
    """The config file is missing or not usable; the message says which and where."""


@dataclass(frozen=True)
class TraySettings:
    data_dir: Path
    language: Lang = "vi"
    control_host: str = "127.0.0.1"
    control_port: int = 8471


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("officesync", appauthor=False))


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise SettingsError(f"[{name}] must be a table")
    return value


def settings_from_toml(raw: dict[str, Any], source: Path | None) -> TraySettings:
    node, control = _section(raw, "node"), _section(raw, "control")
    language = node.get("language", "vi")
    if language not in LANGUAGES:
        raise SettingsError(f"node.language must be one of {', '.join(LANGUAGES)}")
    data_dir = default_data_dir()
    if node.get("data_dir"):
        data_dir = Path(str(node["data_dir"])).expanduser()
        if not data_dir.is_absolute() and source is not None:
            data_dir = source.resolve().parent / data_dir
    port = control.get("port", 8471)
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise SettingsError("control.port must be a port number")
    return TraySettings(data_dir, language, str(control.get("host", "127.0.0.1")), port)


def load_settings(path: Path | None) -> TraySettings:
    """Settings from the node's config file, or the defaults when there is none."""
    if path is None:
        return TraySettings(default_data_dir())
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise SettingsError(f"{path}: cannot read config: {err}") from err
    try:
        return settings_from_toml(raw, path)
    except SettingsError as err:
        raise SettingsError(f"{path}: {err}") from None


def dashboard_url(lan_url: str) -> str:
    """The LAN base URL as a browser on this machine can open it (``0.0.0.0`` -> loopback)."""
    parts = urlsplit(lan_url)
    host = parts.hostname or ""
    netloc = parts.netloc
    if host in _WILDCARD_HOSTS:
        netloc = "127.0.0.1" + (f":{parts.port}" if parts.port else "")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def find_dashboard(settings: TraySettings) -> str | None:
    """The node's LAN dashboard address from ``runtime.json`` (no token needed)."""
    info = read_runtime(settings.data_dir)
    return dashboard_url(info.lan_url) if info is not None and info.lan_url else None
