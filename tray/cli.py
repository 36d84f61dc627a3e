"""``officesync tray [--config FILE]``: the tray app on this desktop (DESIGN §9)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from tray.settings import SettingsError, load_settings


@click.command("tray")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The node's config file (for its data dir, control port and language).",
)
def tray(config_path: Path | None) -> None:
    """Show the node's sync state in the system tray, with "Work online" and "Sync now"."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings(config_path)
    except SettingsError as err:
        raise click.ClickException(str(err)) from err
    try:
        # Imported here: pystray connects to the desktop on import, and other
        # `officesync` commands must work on machines without one.
        from tray.shell import TrayShell

        shell = TrayShell(settings)
    except Exception as err:  # no display, no tray backend: one clear line, non-zero exit
        raise click.ClickException(f"cannot start the tray (no desktop session?): {err}") from err
    shell.run()
    if shell.failed:
        raise click.ClickException("the tray stopped after an error (see the log above)")
