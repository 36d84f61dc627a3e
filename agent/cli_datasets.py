"""``officesync dataset connect|disconnect ID`` (S3) and ``officesync diagnostics`` (S12).

Both go through the running node's control API when it runs (it edits its own config file and
applies it at once; the bundle then has its live state), and work on the files when it does
not: the config edit is read at the next start, the bundle is made from the data dir. Every
failure is one line on stderr in the chosen language, exit status non-zero.
"""

from __future__ import annotations

from pathlib import Path

import click

from agent.cli import CONFIG_OPTION, EXIT_USAGE, control_request, fail, load_or_fail
from agent.cli_text import lang_option
from agent.config import Config, ConfigError
from httpkit.control_client import ControlError, ControlFailure, ControlTarget, run_once
from protocol.errors import ProtocolError, render
from protocol.i18n import Lang, Text

# The node cannot be reached: do the work on its files instead.
_NOT_RUNNING = (ControlFailure.NOT_RUNNING, ControlFailure.NO_TOKEN)

_TEXTS = {
    "offline_note": Text(
        "(Dịch vụ OfficeSync đang không chạy: thay đổi có hiệu lực khi nó khởi động.)",
        "(The OfficeSync service is not running: the change applies when it starts.)",
    ),
    "written": Text("Đã ghi gói chẩn đoán: {path} ({size} KB). Gửi tệp này cho bộ phận hỗ trợ; "
                    "nó không chứa mã truy cập hay mật khẩu nào",
                    "Diagnostics bundle written: {path} ({size} KB). Send this file to support; "
                    "it holds no token or password"),
    "offline_bundle": Text(
        "(Dịch vụ OfficeSync đang không chạy: gói được lập từ các tệp trong thư mục dữ liệu.)",
        "(The OfficeSync service is not running: the bundle was made from the data dir.)",
    ),
    "cannot_write": Text("Không ghi được {path}: {reason}", "Cannot write {path}: {reason}"),
    "config_changed": Text("Không sửa được tệp cấu hình: {reason}",
                           "Cannot edit the config file: {reason}"),
}


def _refusal(err: ProtocolError, lang: Lang) -> str:
    return f"{err.code.value}: {render(err.code, lang, err.params)}"


def _local_change(config: Config, path: Path, dataset_id: str, connected: bool) -> None:
    from agent.datasets_admin import outcome, set_connected

    say = config.node.language
    try:
        new = set_connected(path, dataset_id, connected)
    except ProtocolError as err:
        fail(_refusal(err, say), EXIT_USAGE if err.code.value == "VALIDATION_FAILED" else 1)
    except (ConfigError, OSError) as err:
        fail(_TEXTS["config_changed"].format(reason=str(err)).get(say))
    done = outcome(new, dataset_id, connected)
    click.echo(done.message().get(say))
    click.echo(_TEXTS["offline_note"].get(say))


def _change(connected: bool) -> click.Command:
    @click.command("connect" if connected else "disconnect")
    @click.argument("dataset_id", metavar="ID")
    @CONFIG_OPTION
    @lang_option
    def command(dataset_id: str, config_path: Path, lang: str | None) -> None:
        from agent.datasets_admin import check_id

        config = load_or_fail(config_path, lang)
        say = config.node.language
        try:
            check_id(dataset_id)
        except ProtocolError as err:
            fail(_refusal(err, say), EXIT_USAGE)
        action = "connect" if connected else "disconnect"
        try:
            answer = control_request(config, "POST", f"/datasets/{dataset_id}/{action}")
        except ControlError as err:
            if err.reason in _NOT_RUNNING:
                _local_change(config, config_path, dataset_id, connected)
                return
            fail(str(err))
        message = answer.get("message") if isinstance(answer, dict) else None
        click.echo(str(message.get(say, "")) if isinstance(message, dict) else str(answer))

    command.help = (
        "Host dataset ID again: it opens and its kept changes sync." if connected else
        "Stop hosting dataset ID; its file and pending changes are kept (never deleted).")
    return command


@click.group("dataset")
def dataset() -> None:
    """Connect or disconnect a dataset on this node (the config file is edited for you)."""


dataset.add_command(_change(True))
dataset.add_command(_change(False))


@click.command("diagnostics")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the zip [officesync-diagnostics-DATE.zip here].")
@CONFIG_OPTION
@lang_option
def diagnostics(out: Path | None, config_path: Path, lang: str | None) -> None:
    """Write a diagnostics bundle (zip) for support: versions, states, queue, logs; never a
    token or password."""
    from agent.diagnostics import build_offline_bundle, bundle_name

    config = load_or_fail(config_path, lang)
    say = config.node.language
    where = ControlTarget(config.data_dir, config.control.host, config.control.port)
    offline = False
    try:
        data = run_once(where, say, lambda client: client.download("/diagnostics"))
    except ControlError as err:
        if err.reason not in _NOT_RUNNING:
            fail(str(err))
        data = build_offline_bundle(config)
        offline = True
    target = out or Path(bundle_name())
    try:
        target.write_bytes(data)
    except OSError as err:
        fail(_TEXTS["cannot_write"].format(path=target, reason=err.strerror or err).get(say))
    if offline:
        click.echo(_TEXTS["offline_bundle"].get(say))
    click.echo(_TEXTS["written"].format(path=target, size=max(1, len(data) // 1024)).get(say))
