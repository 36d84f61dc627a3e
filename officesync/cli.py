"""``officesync``: one console script for the node, the hub, workstations and the tray."""

from __future__ import annotations

import importlib

import click

from protocol.version import PACKAGE_VERSION


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(PACKAGE_VERSION, prog_name="officesync")
def main() -> None:
    """OfficeSync: the office primary node, its cloud hub, workstation client and tray."""


def _attach(module: str, attr: str) -> None:
    mod = importlib.import_module(module)
    obj = getattr(mod, attr)
    for command in obj if isinstance(obj, list | tuple) else [obj]:
        main.add_command(command)


# (module, attribute): a click command, a group, or a list of commands.
for _module, _attr in [
    ("agent.cli", "node_commands"),
    ("agent.workstation.cli", "ws"),
    ("hub.cli", "hub"),
    ("tray.cli", "tray"),
    ("officesync.demo", "demo"),
]:
    try:
        _attach(_module, _attr)
    except ModuleNotFoundError as _err:  # a part not yet built in this checkout
        if not (_err.name or "").startswith(_module.split(".")[0]):
            raise
