"""Where the tray finds the node: the config file, ``runtime.json`` and ``control.token``.

The tray must not import ``agent``, so it reads the few keys it needs from the node's TOML
itself: ``[node] data_dir, language`` and ``[control] host, port``. A relative ``data_dir`` is
relative to the config file, as in the node. The node writes ``<data_dir>/runtime.json``
(``{"pid", "lan_url", "control_url"}``) with the real ports when it starts; the tray prefers
it, and reads it and the token again on every reconnect, so a restarted node on a new port
or with a new token is found without restarting the tray.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import platformdirs

from protocol.i18n import LANGUAGES, Lang

CONTROL_PREFIX: Final = "/control/v1"
TOKEN_FILE: Final = "control.token"
RUNTIME_FILE: Final = "runtime.json"
_WILDCARD_HOSTS: Final = frozenset({"0.0.0.0", "::", "[::]", ""})


class SettingsError(Exception):
    """The config file is missing or not usable; the message says which and where."""


class TokenUnreadable(Exception):
    """``control.token`` exists but this user may not read it."""


class NodeNotStarted(Exception):
    """No ``runtime.json`` / token yet, or no usable port: the node is not running."""


@dataclass(frozen=True)
class TraySettings:
    data_dir: Path
    language: Lang = "vi"
    control_host: str = "127.0.0.1"
    control_port: int = 8471


@dataclass(frozen=True)
class Endpoint:
    base_url: str  # ends with /control/v1
    token: str


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


def control_base(url: str) -> str:
    """``http://host:port`` or ``…/control/v1`` (with or without a slash) -> ``…/control/v1``."""
    url = url.rstrip("/")
    return url if url.endswith(CONTROL_PREFIX) else url + CONTROL_PREFIX


def dashboard_url(lan_url: str) -> str:
    """The LAN base URL as a browser on this machine can open it (``0.0.0.0`` -> loopback)."""
    parts = urlsplit(lan_url)
    host = parts.hostname or ""
    netloc = parts.netloc
    if host in _WILDCARD_HOSTS:
        netloc = "127.0.0.1" + (f":{parts.port}" if parts.port else "")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def read_runtime(data_dir: Path) -> dict[str, Any]:
    """``runtime.json`` as a dict, or ``{}`` when it is missing or half written."""
    try:
        raw = json.loads((data_dir / RUNTIME_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def read_token(data_dir: Path) -> str:
    path = data_dir / TOKEN_FILE
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise NodeNotStarted(f"{path} does not exist yet") from None
    except PermissionError as err:
        raise TokenUnreadable(str(err)) from err
    except OSError as err:
        raise NodeNotStarted(str(err)) from err
    if not token:
        raise NodeNotStarted(f"{path} is empty")
    return token


def find_dashboard(settings: TraySettings) -> str | None:
    """The node's LAN dashboard address from ``runtime.json`` (no token needed)."""
    lan_url = read_runtime(settings.data_dir).get("lan_url")
    return dashboard_url(lan_url) if isinstance(lan_url, str) and lan_url else None


def resolve_endpoint(settings: TraySettings) -> Endpoint:
    """Where and how to call the node right now (read fresh every time)."""
    runtime = read_runtime(settings.data_dir)
    control_url = runtime.get("control_url")
    if not isinstance(control_url, str) or not control_url:
        if settings.control_port == 0:
            raise NodeNotStarted("control.port is 0 and there is no runtime.json yet")
        host = settings.control_host
        host = f"[{host}]" if ":" in host else host
        control_url = f"http://{host}:{settings.control_port}"
    return Endpoint(base_url=control_base(control_url), token=read_token(settings.data_dir))
