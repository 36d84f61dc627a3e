"""``officesync``: one console script for the node, the hub, workstations and the tray.

Each command lives in its package (``agent.cli``, ``workstation.cli``, ``hub.cli``,
``tray.cli``, ``officesync.demo``) and is imported only when it runs — a workstation's
``officesync ws list`` does not load the node, the hub, SQLAlchemy or the tray.
"""

from __future__ import annotations

import importlib

import click

from protocol.i18n import LANG_META_KEY
from protocol.version import PACKAGE_VERSION

# name -> (module, attribute). The attribute is a click command or group, or a list of
# commands among which the one with that name is taken.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("agent.cli", "node_commands"),
    "status": ("agent.cli", "node_commands"),
    "online": ("agent.cli", "node_commands"),
    "offline": ("agent.cli", "node_commands"),
    "sync": ("agent.cli", "node_commands"),
    "pair-code": ("agent.cli", "node_commands"),
    "enroll": ("agent.cli", "node_commands"),
    "ws": ("workstation.cli", "ws"),
    "hub": ("hub.cli", "hub"),
    "tray": ("tray.cli", "tray"),
    "demo": ("officesync.demo", "demo"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        found = getattr(importlib.import_module(spec[0]), spec[1])
        if isinstance(found, list | tuple):
            return next((c for c in found if c.name == cmd_name), None)
        command: click.Command = found
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(PACKAGE_VERSION, prog_name="officesync")
@click.option(
    "--lang", type=click.Choice(["vi", "en"]), envvar="OFFICESYNC_LANG", default=None,
    help="Language of every message (vi/en); each command also takes --lang. Default: the "
    "node config's node.language, the workstation profile's, else Vietnamese.",
)
@click.pass_context
def main(ctx: click.Context, lang: str | None) -> None:
    """OfficeSync: the office primary node, its cloud hub, workstation client and tray."""
    if lang:
        ctx.meta[LANG_META_KEY] = lang
