"""Node commands of ``officesync`` (DESIGN §9): ``serve``, ``status``, ``pair-code``,
``online``, ``offline`` and ``sync``. All but ``serve`` talk to a running node through its
control API. Exit status 0 on success; otherwise one line on stderr and a non-zero status."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table

from agent.config import Config, ConfigError, LogSection, load_config
from agent.control_api.client import ControlClient, ControlError
from protocol.i18n import Lang

CONFIG_OPTION = click.option(
    "--config", "config_path", required=True,
    type=click.Path(dir_okay=False, path_type=Path), help="The node's TOML config file.",
)

_LABELS: dict[str, tuple[str, str]] = {
    "dataset": ("Dữ liệu", "Dataset"),
    "connected": ("Kết nối", "Connected"),
    "not_connected": ("chưa kết nối", "not connected"),
    "workstations": ("Máy trạm đã ghép nối", "Paired workstations"),
    "version": ("Phiên bản", "Version"),
    "online_on": ("Làm việc online: bật", "Work online: on"),
    "online_off": ("Làm việc online: tắt", "Work online: off"),
    "sync_requested": ("Đã yêu cầu đồng bộ", "Sync requested"),
    "hub": ("Cloud", "Cloud hub"),
    "token_keyring": ("Mã truy cập Cloud: lưu trong kho khóa của hệ điều hành",
                      "Cloud token: kept in the OS keyring"),
    "token_file": ("Mã truy cập Cloud: lưu trong tệp hub.token (quyền 0600) trong thư mục dữ "
                   "liệu, vì máy này không có kho khóa của hệ điều hành",
                   "Cloud token: kept in the file hub.token (mode 0600) in the data dir, as "
                   "this machine has no OS keyring"),
    "config_error": ("Tệp cấu hình vừa sửa không hợp lệ, vẫn dùng cấu hình đang chạy",
                     "The edited config file is invalid; the running config stays"),
    "not_enrolled": ("Máy chủ chưa đăng ký với Cloud: chạy officesync enroll",
                     "This node is not enrolled with the hub: run officesync enroll"),
}


def label(key: str, lang: Lang) -> str:
    vi, en = _LABELS[key]
    return vi if lang == "vi" else en


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(message.splitlines()[0] if message else "error", err=True)
    sys.exit(code)


def _load(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigError as err:
        fail(str(err), 2)


def setup_logging(section: LogSection) -> None:
    handler: logging.Handler
    if section.file is not None:
        section.file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(section.file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(section.level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _call(config: Config, method: str, path: str, body: Any = None) -> Any:
    try:
        return ControlClient(config).call(method, path, body)
    except ControlError as err:
        fail(str(err))


@click.command()
@CONFIG_OPTION
def serve(config_path: Path) -> None:
    """Run the node: LAN API, control API and sync, until stopped (SIGTERM / Ctrl-C)."""
    from agent.app import run_node  # the server stack only for the command that needs it

    config = _load(config_path)
    if config.log.file is not None and not config.log.file.is_absolute() and config.source:
        config.log.file = config.source.parent / config.log.file
    setup_logging(config.log)
    try:
        asyncio.run(run_node(config))
    except OSError as err:  # e.g. the port is taken
        fail(f"cannot start the node: {err}")


@click.command("pair-code")
@CONFIG_OPTION
def pair_code(config_path: Path) -> None:
    """Print a one-time workstation pairing code (valid 10 minutes), alone on the last line."""
    answer = _call(_load(config_path), "POST", "/pairing-code")
    click.echo(f"expires_at: {answer['expires_at']}")
    click.echo(answer["code"])


def render_status(status: dict[str, Any], lang: Lang, console: Console) -> None:
    console.print(status["message"][lang], highlight=False)
    console.print(label("online_on" if status["online"] else "online_off", lang))
    table = Table(label("dataset", lang), label("connected", lang), *[
        state for state in ("synced", "pending", "syncing", "error", "conflict", "blocked")
    ])
    for ds in status["datasets"]:
        counts = ds.get("counts") or {}
        if not ds["connected"]:
            table.add_row(ds["id"], label("not_connected", lang))
            continue
        table.add_row(ds["id"], "✓", *[str(counts.get(s, 0)) for s in (
            "synced", "pending", "syncing", "error", "conflict", "blocked")])
    console.print(table)
    console.print(f"{label('workstations', lang)}: {status['workstations']}")
    console.print(f"{label('version', lang)}: {status['version']}")
    if status.get("tls_fingerprint"):
        console.print(f"TLS SHA-256: {status['tls_fingerprint']}", highlight=False)
    hub = status.get("hub") or {}
    if hub.get("url"):
        console.print(f"{label('hub', lang)}: {hub['url']}", highlight=False)
        where = hub.get("token_store")
        if where:
            console.print(label(f"token_{where}", lang), highlight=False)
        elif not hub.get("node_id"):
            console.print(label("not_enrolled", lang), highlight=False)
    pending = status.get("pending_restart")
    if pending:
        console.print(pending[lang], highlight=False)
    if status.get("config_error"):
        console.print(f"{label('config_error', lang)}: {status['config_error']}",
                      highlight=False)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the control API's JSON as is.")
@CONFIG_OPTION
def status(as_json: bool, config_path: Path) -> None:
    """Connectivity, the online toggle and per-dataset sync counts of the running node."""
    config = _load(config_path)
    answer = _call(config, "GET", "/status")
    if as_json:
        click.echo(json.dumps(answer, ensure_ascii=False, indent=2))
    else:
        render_status(answer, config.node.language, Console())


def _toggle(online: bool) -> click.Command:
    @click.command("online" if online else "offline")
    @CONFIG_OPTION
    def command(config_path: Path) -> None:
        config = _load(config_path)
        answer = _call(config, "PUT", "/online", {"online": online})
        if online:
            # The state leaves "offline by user" when the fresh probe answers: wait for it
            # (a few seconds at most) so the message says how the reconnect went.
            deadline = time.monotonic() + config.cloud.probe_timeout_s * 2 + 1
            while (answer.get("connectivity") == "offline_by_user"
                   and time.monotonic() < deadline):
                time.sleep(0.1)
                answer = _call(config, "GET", "/status")
        click.echo(answer["message"][config.node.language])

    command.help = ("Turn on \"Work online\" (reconnect and sync now)." if online
                    else "Turn off \"Work online\": keep working, queue changes locally.")
    return command


@click.command("sync")
@CONFIG_OPTION
def sync(config_path: Path) -> None:
    """Sync every dataset now."""
    config = _load(config_path)
    _call(config, "POST", "/sync")
    click.echo(label("sync_requested", config.node.language))


_ENROLLED = (
    "Đã đăng ký với Cloud {hub} (mã máy chủ {node_id}); dữ liệu được cấp: {datasets}. "
    "Mã truy cập được lưu {where}. Hãy khởi động lại dịch vụ nếu nó đang chạy.",
    "Enrolled with {hub} (node id {node_id}); datasets granted: {datasets}. "
    "The token is kept {where}. Restart the service if it is running.",
)
_WHERE = {
    "keyring": ("trong kho khóa của hệ điều hành ({detail})", "in the OS keyring ({detail})"),
    "file": ("trong tệp chỉ tài khoản dịch vụ đọc được: {detail}",
             "in a file only the service account can read: {detail}"),
}


@click.command()
@CONFIG_OPTION
@click.option("--hub", "hub_url", required=True, help="The hub's base URL.")
@click.option("--code", required=True, help="One-time enrollment code from the hub admin.")
def enroll(config_path: Path, hub_url: str, code: str) -> None:
    """Enroll this node with a hub; the node token goes to the OS keyring (or a 0600 file)."""
    from agent.cloud.client import HubError
    from agent.enrollment import enroll as do_enroll

    config = _load(config_path)
    try:
        done = asyncio.run(do_enroll(config, hub_url, code))
    except HubError as err:
        fail(f"enrollment failed: {err}")
    lang = config.node.language
    index = 0 if lang == "vi" else 1
    where = _WHERE[done.secret.where][index].format(detail=done.secret.detail)
    click.echo(_ENROLLED[index].format(hub=done.hub_url, node_id=done.node_id,
                                       datasets=", ".join(done.datasets) or "-", where=where))


node_commands: list[click.Command] = [
    serve, pair_code, status, _toggle(True), _toggle(False), sync, enroll,
]
