"""``officesync``: one console script for the node, the hub, workstations and the tray.

Each command lives in its package (``agent.cli``, ``workstation.cli``, ``hub.cli``,
``tray.cli``, ``officesync.demo``) and is imported only when it runs — a workstation's
``officesync ws list`` does not load the node, the hub, SQLAlchemy or the tray.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, NoReturn

import click

from officesync.usage import language_of, usage_message
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
    "dataset": ("agent.cli_datasets", "dataset"),
    "diagnostics": ("agent.cli_datasets", "diagnostics"),
    "download": ("agent.cli_tools", "commands"),
    "maintain": ("agent.cli_tools", "commands"),
    "refresh": ("agent.cli_tools", "commands"),
    "ws": ("workstation.cli", "ws"),
    "hub": ("hub.cli", "hub"),
    "tray": ("tray.cli", "tray"),
    "demo": ("officesync.demo", "demo"),
    "export": ("agent.cli_xml", "xml_commands"),
    "import": ("agent.cli_xml", "xml_commands"),
}


class LazyGroup(click.Group):
    def main(self, *args: Any, **kwargs: Any) -> NoReturn:
        """click's own loop, but a usage error (unknown command, missing option, bad value)
        is one line in the user's language (:mod:`officesync.usage`), not click's English."""
        kwargs["standalone_mode"] = False
        given = args[0] if args else kwargs.get("args")
        argv = list(given) if given is not None else sys.argv[1:]
        try:
            code = super().main(*args, **kwargs)
        except click.UsageError as err:
            click.echo(usage_message(err, language_of(argv)), err=True)
            sys.exit(err.exit_code)
        except click.ClickException as err:  # ours, already worded: no English "Error:"
            click.echo(err.format_message(), err=True)
            sys.exit(err.exit_code)
        except click.Abort:
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

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
