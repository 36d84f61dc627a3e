"""``officesync tray [--config FILE]``: the tray app on this desktop."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

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
def tray(config_path: Path | None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings(config_path)
    except SettingsError as err:
        raise click.ClickException(str(err)) from err
    try:
        # Chosen before pystray is imported (it loads its backend on import, and connects to
        # the desktop then); other `officesync` commands must work without a desktop.
        from tray.backend import select_backend

        select_backend()
        from tray.notifier import DesktopNotifier
        from tray.shell import TrayShell

        notifier = DesktopNotifier().notify if sys.platform.startswith("linux") else None
        shell = TrayShell(settings, notifier=notifier)
    except Exception as err:  # no display, no tray backend: one clear line, non-zero exit
        raise click.ClickException(f"cannot start the tray (no desktop session?): {err}") from err
    shell.run()
    if shell.failed:
        raise click.ClickException("the tray stopped after an error (see the log above)")
