"""Node commands of ``officesync`` (docs/cli.md): ``serve``, ``status``, ``pair-code``,
``online``, ``offline``, ``sync`` and ``enroll``. All but ``serve`` and ``enroll`` talk to a
running node through its control API. Exit status 0 on success; otherwise one line on stderr,
entirely in the chosen language (``--lang``, else the config's ``node.language``), and a
non-zero status. The texts are in :mod:`agent.cli_text`."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import tomllib
from pathlib import Path
from typing import Any, NoReturn

import click
from pydantic import ValidationError
from rich.console import Console

from agent.cli_text import (
    chosen_lang,
    config_problems,
    lang_option,
    start_failure,
    text,
    toml_position,
)
from agent.config import Config, ConfigError, LogSection, load_config
from agent.logs import formatter, rate_limit
from agent.runtime import DataDirBusy
from httpkit.control_client import ControlError, ControlTarget, as_status, call_once
from protocol.connectivity import Connectivity
from protocol.i18n import Lang, Text
from protocol.local import NodeStatus

CONFIG_OPTION = click.option(
    "--config", "config_path", required=True,
    type=click.Path(dir_okay=False, path_type=Path), help="The node's TOML config file.",
)
EXIT_USAGE = 2
EXIT_BUSY = 3
STATES = ("synced", "pending", "syncing", "error", "conflict", "blocked")


def label(key: str, lang: Lang) -> str:
    return text(key, lang)


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(message.splitlines()[0] if message else "?", err=True)
    sys.exit(code)


def _peek_language(path: Path) -> Lang:
    """``node.language`` of a config file that may not load (for the message saying why)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        language = raw["node"]["language"]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return "vi"
    return "en" if language == "en" else "vi"


def _config_failure(path: Path, err: ConfigError, lang: Lang | None) -> str:
    cause = err.__cause__
    if isinstance(cause, tomllib.TOMLDecodeError):
        line, column = toml_position(str(cause))
        return text("config_toml", lang or "vi", path=path, line=line, column=column)
    if isinstance(cause, ValidationError):
        say = lang or _peek_language(path)
        return text("config_invalid", say, path=path, problems=config_problems(cause, say))
    return text("config_missing", lang or "vi", path=path)


def load_or_fail(path: Path, lang: str | None = None, *, override: bool = True) -> Config:
    """The config at ``path``, or one line saying what is wrong with it and exit 2. With
    ``override`` the chosen ``--lang`` replaces ``node.language`` (for messages and for the
    ``Accept-Language`` of control API calls)."""
    chosen = chosen_lang(lang)
    if not path.is_file():
        fail(text("config_missing", chosen or "vi", path=path), EXIT_USAGE)
    try:
        config = load_config(path)
    except ConfigError as err:
        fail(_config_failure(path, err, chosen), EXIT_USAGE)
    except (OSError, UnicodeDecodeError) as err:
        fail(text("config_unreadable", chosen or "vi", path=path,
                  reason=type(err).__name__), EXIT_USAGE)
    if override and chosen:
        config.node.language = chosen
    return config


def setup_logging(section: LogSection) -> None:
    handler: logging.Handler
    if section.file is not None:
        section.file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(section.file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(section.format))
    root = logging.getLogger()
    root.handlers[:] = [rate_limit(handler)]  # one line per kind of failure per 10 s
    root.setLevel(section.level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def control_request(config: Config, method: str, path: str, body: Any = None) -> Any:
    """One call to the running node's control API (found from the config's data dir)."""
    where = ControlTarget(config.data_dir, config.control.host, config.control.port)
    return call_once(where, config.node.language, method, path, body)


def _call(config: Config, method: str, path: str, body: Any = None) -> Any:
    try:
        return control_request(config, method, path, body)
    except ControlError as err:
        fail(str(err))


def _status_of(answer: Any, lang: Lang) -> NodeStatus:
    try:
        return as_status(answer, lang)
    except ControlError as err:
        fail(str(err))


def busy_message(busy: DataDirBusy, lang: Lang) -> str:
    """The one line a second process prints: which process holds the data dir, and where."""
    info = busy.info
    pid = busy.pid or (info.pid if info else None)
    url = info.lan_url if info is not None and (pid is None or info.pid == pid) else None
    return text("busy", lang, dir=busy.data_dir, pid=pid or "?",
                url=url or text("busy_starting", lang))


@click.command()
@CONFIG_OPTION
@lang_option
def serve(config_path: Path, lang: str | None) -> None:
    """Run the node: LAN API, control API and sync, until stopped (SIGTERM / Ctrl-C).

    Only one process may use a data dir: a second one exits at once (status 3) naming the
    running one."""
    from agent.app import run_node  # the server stack only for the command that needs it
    from agent.runtime import acquire_data_dir

    config = load_or_fail(config_path, lang, override=False)
    say = chosen_lang(lang) or config.node.language
    try:
        acquire_data_dir(config.data_dir)  # before anything is opened or written
    except DataDirBusy as busy:
        fail(busy_message(busy, say), EXIT_BUSY)
    except OSError as err:  # the data dir cannot be made or written
        fail(start_failure(err, say))
    if config.log.file is not None and not config.log.file.is_absolute() and config.source:
        config.log.file = config.source.parent / config.log.file
    setup_logging(config.log)
    try:
        asyncio.run(run_node(config))
    except OSError as err:  # e.g. the port is taken
        fail(start_failure(err, say))


@click.command("pair-code")
@CONFIG_OPTION
@lang_option
def pair_code(config_path: Path, lang: str | None) -> None:
    """Print a one-time workstation pairing code (valid 10 minutes), alone on the last line."""
    answer = _call(load_or_fail(config_path, lang), "POST", "/pairing-code")
    click.echo(f"expires_at: {answer['expires_at']}")
    click.echo(answer["code"])


def _headline(status: NodeStatus, lang: Lang, config_hint: str) -> str:
    hub = status.hub
    if status.connectivity is Connectivity.NOT_CONFIGURED and hub.url and not hub.node_id:
        return text("not_enrolled", lang, hub=hub.url, config=config_hint)
    return status.message_in(lang)


def render_status(status: NodeStatus | dict[str, Any], lang: Lang, console: Console,
                  config_hint: str = "FILE") -> None:
    """The status document (as answered, or parsed) for a person."""
    if not isinstance(status, NodeStatus):
        status = _status_of(status, lang)
    console.print(_headline(status, lang, config_hint), highlight=False)
    console.print(label("online_on" if status.online else "online_off", lang))
    # One line per dataset, as the tray shows it: nothing is cut on a narrow terminal (a
    # table cut the dataset id and its headers to "cty-de…", "Connec…" at 80 columns).
    for ds in status.datasets:
        if not ds.connected:
            kept = ds.tally.outstanding + ds.tally.failed  # unsynced records in its kept file
            line = f"{ds.id}: {label('not_connected', lang)}"
            if kept:
                line += f" · {text('kept_unsynced', lang, count=kept)}"
            console.print(line, highlight=False, markup=False)
            continue
        shown = [s for s in STATES  # synced and pending always, the rest when not zero
                 if s in ("synced", "pending") or getattr(ds.tally, s)]
        counts = " · ".join(f"{label(state, lang).lower()} {getattr(ds.tally, state)}"
                            for state in shown)
        if ds.download is not None:  # a first download: "đang tải 420.000 bản ghi"
            counts = ds.download.message_in(lang)
        console.print(f"{ds.id}: {counts}", highlight=False, markup=False)
        if (indexing := ds.search_message_in(lang)) is not None:
            console.print(f"{ds.id}: {indexing}", highlight=False, markup=False)
    for ds in status.datasets:  # a dataset the hub refuses, or whose sync keeps failing
        message = ds.sync.message_in(lang)
        if message:
            console.print(f"{ds.id}: {message}", highlight=False, markup=False)
    for ds in status.datasets:  # the self-check: "Dữ liệu khớp với Cloud đến 10:00"
        check = ds.selfcheck.message_in(lang) if ds.connected else None
        if check:
            console.print(f"{ds.id}: {check}", highlight=False, markup=False)
    console.print(f"{label('workstations', lang)}: {status.workstations}")
    console.print(f"{label('version', lang)}: {status.version}")
    if status.tls_fingerprint:
        console.print(f"TLS SHA-256: {status.tls_fingerprint}", highlight=False)
    if status.hub.url:
        console.print(f"{label('hub', lang)}: {status.hub.url}", highlight=False)
        if status.hub.token_store:
            console.print(label(f"token_{status.hub.token_store}", lang), highlight=False)
    if status.pending_restart:
        console.print(status.pending_restart.get(lang), highlight=False)
    if status.config_error:
        console.print(f"{label('config_error', lang)}: {status.config_error}",
                      highlight=False)


def _status_waiting(config: Config, wait: float) -> Any:
    """``GET /status``, trying again for up to ``wait`` seconds while the node is not up."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return control_request(config, "GET", "/status")
        except ControlError as err:
            if time.monotonic() >= deadline:
                fail(str(err))
        time.sleep(0.2)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the control API's JSON as is.")
@click.option("--wait", type=click.FloatRange(0, 600), default=0, show_default=True,
              help="Seconds to wait for a node that is starting (for scripts).")
@CONFIG_OPTION
@lang_option
def status(as_json: bool, wait: float, config_path: Path, lang: str | None) -> None:
    """Connectivity, the online toggle and per-dataset sync counts of the running node."""
    config = load_or_fail(config_path, lang)
    answer = _status_waiting(config, wait)
    if as_json:
        click.echo(json.dumps(answer, ensure_ascii=False, indent=2))
    else:
        render_status(answer, config.node.language, Console(), str(config_path))


def _toggle(online: bool) -> click.Command:
    @click.command("online" if online else "offline")
    @CONFIG_OPTION
    @lang_option
    def command(config_path: Path, lang: str | None) -> None:
        config = load_or_fail(config_path, lang)
        say = config.node.language
        answer = _status_of(_call(config, "PUT", "/online", {"online": online}), say)
        if online:
            # The state leaves "offline by user" when the fresh probe answers: wait for it
            # (a few seconds at most) so the message says how the reconnect went.
            deadline = time.monotonic() + config.cloud.probe_timeout_s * 2 + 1
            while (answer.connectivity is Connectivity.OFFLINE_BY_USER
                   and time.monotonic() < deadline):
                time.sleep(0.1)
                answer = _status_of(_call(config, "GET", "/status"), say)
        click.echo(answer.message_in(say))

    command.help = ("Turn on \"Work online\" (reconnect and sync now)." if online
                    else "Turn off \"Work online\": keep working, queue changes locally.")
    return command


@click.command("sync")
@CONFIG_OPTION
@lang_option
def sync(config_path: Path, lang: str | None) -> None:
    """Sync every dataset now."""
    config = load_or_fail(config_path, lang)
    _call(config, "POST", "/sync")
    click.echo(label("sync_requested", config.node.language))


_ENROLLED = Text(
    "Đã đăng ký với Cloud {hub} (mã máy chủ {node_id}); dữ liệu được cấp: {datasets}. "
    "Mã truy cập được lưu {where}. Hãy khởi động lại dịch vụ nếu nó đang chạy.",
    "Enrolled with {hub} (node id {node_id}); datasets granted: {datasets}. "
    "The token is kept {where}. Restart the service if it is running.",
)
_WHERE = {
    "keyring": Text("trong kho khóa của hệ điều hành ({detail})", "in the OS keyring ({detail})"),
    "file": Text("trong tệp chỉ tài khoản dịch vụ đọc được: {detail}",
                 "in a file only the service account can read: {detail}"),
}


@click.command()
@CONFIG_OPTION
@click.option("--hub", "hub_url", required=True,
              help="The hub's address: http(s)://host:port (host:port means http).")
@click.option("--code", required=True, help="One-time enrollment code from the hub admin.")
@click.option("--wait", type=click.FloatRange(0, 600), default=0, show_default=True,
              help="Seconds to keep trying while nothing answers at --hub (a hub just started).")
@lang_option
def enroll(config_path: Path, hub_url: str, code: str, wait: float, lang: str | None) -> None:
    """Enroll this node with a hub; the node token goes to the OS keyring (or a 0600 file)."""
    from agent.cloud.client import HubError
    from agent.enrollment import enroll_waiting, explain_failure
    from protocol.address import normalize_url

    config = load_or_fail(config_path, lang)
    say = config.node.language
    url = normalize_url(hub_url)
    if url is None:
        fail(text("bad_url", say, url=hub_url), EXIT_USAGE)
    try:
        done = asyncio.run(enroll_waiting(config, url, code, wait))
    except HubError as err:
        fail(asyncio.run(explain_failure(err, url, say)))
    where = _WHERE[done.secret.where].format(detail=done.secret.detail)
    click.echo(_ENROLLED.format(hub=done.hub_url, node_id=done.node_id,
                                datasets=", ".join(done.datasets) or "-", where=where).get(say))


node_commands: list[click.Command] = [
    serve, pair_code, status, _toggle(True), _toggle(False), sync, enroll,
]
