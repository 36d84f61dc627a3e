"""``officesync tray [--config FILE]``: the tray app on this desktop."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from protocol.i18n import LANG_META_KEY, Lang, Text, as_lang
from tray.settings import SettingsError, load_settings

HELP = """Show the node's sync state in the system tray, with "Work online" and "Sync now".

\b
The menu (state, datasets, "Làm việc online" / Work online, "Đồng bộ ngay" / Sync now,
pairing code, dashboard, TLS fingerprint, Quit) needs the GTK bindings on Linux:
PyGObject with gir1.2-gtk-3.0 (and gir1.2-ayatanaappindicator3-0.1 on desktops with a
StatusNotifier tray: KDE, GNOME's AppIndicator extension). The backend is chosen at start
(PYSTRAY_BACKEND=appindicator|gtk|xorg overrides it).

\b
Without them the tray falls back to pystray's xorg backend, where the menu is unavailable:
a click on the icon opens the dashboard, which has "Work online" and "Sync now".
"""


@click.command("tray", help=HELP)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The node's config file (for its data dir, control port and language).",
)
@click.option("--lang", type=click.Choice(["vi", "en"]), default=None,
              help="Language of messages (vi/en); default: the config's node.language.")
def tray(config_path: Path | None, lang: str | None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    chosen = _chosen(lang)
    if config_path is not None and not config_path.is_file():
        _fail("config_missing", chosen or "vi", path=config_path)
    try:
        settings = load_settings(config_path)
    except SettingsError:
        _fail("config_bad", chosen or "vi", path=config_path)
    say: Lang = chosen or settings.language
    if sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        _fail("no_display", say)
    try:
        # Chosen before pystray is imported (it loads its backend on import, and connects to
        # the desktop then); other `officesync` commands must work without a desktop.
        from tray.backend import select_backend

        select_backend()
        from tray.notifier import DesktopNotifier
        from tray.shell import TrayShell

        notifier = DesktopNotifier().notify if sys.platform.startswith("linux") else None
        shell = TrayShell(settings, notifier=notifier)
    except Exception:  # no display, no tray backend: one clear line, non-zero exit
        logging.getLogger("officesync.tray").exception("cannot start the tray")
        _fail("cannot_start", say)
    shell.run()
    if shell.failed:
        _fail("stopped", say)


# The tray command's own failures, one line on stderr, exit status 1.
_TEXTS: dict[str, Text] = {
    "config_missing": Text("Không có tệp cấu hình {path}. Kiểm tra đường dẫn --config",
                           "No config file at {path}. Check the --config path"),
    "config_bad": Text("Tệp cấu hình {path} không dùng được (sai cú pháp hoặc giá trị): chạy "
                       "officesync status --config {path} để xem chỗ sai",
                       "The config file {path} is not usable (syntax or a value): run officesync "
                       "status --config {path} to see what is wrong"),
    "no_display": Text(
        "Không có phiên màn hình (biến DISPLAY/WAYLAND_DISPLAY trống): chạy officesync tray "
        "trong phiên đăng nhập máy tính để bàn",
        "No desktop session (DISPLAY/WAYLAND_DISPLAY is empty): run officesync tray inside "
        "a desktop login session",
    ),
    "cannot_start": Text(
        "Không mở được biểu tượng khay hệ thống trên màn hình này (chi tiết ở nhật ký phía "
        "trên); cần thư viện GTK, xem docs/tray.md",
        "Cannot show the tray icon on this desktop (details in the log above); the GTK "
        "bindings are needed, see docs/tray.md",
    ),
    "stopped": Text("Khay hệ thống đã dừng sau một lỗi (xem nhật ký phía trên)",
                    "The tray stopped after an error (see the log above)"),
}


def _chosen(explicit: str | None) -> Lang | None:
    ctx = click.get_current_context(silent=True)
    value = explicit or (ctx.meta.get(LANG_META_KEY) if ctx is not None else None)
    return as_lang(value)


def _fail(key: str, lang: Lang, **params: object) -> NoReturn:
    click.echo(_TEXTS[key].get(lang).format(**params), err=True)
    sys.exit(1)
