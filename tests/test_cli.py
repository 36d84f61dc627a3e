"""The root command knows every command, and each resolves to the one its package defines."""

from __future__ import annotations

import click
from click.testing import CliRunner

from officesync.cli import COMMANDS, main


def test_every_command_resolves_and_help_lists_them() -> None:
    ctx = click.Context(main)
    for name in COMMANDS:
        command = main.get_command(ctx, name)
        assert command is not None and command.name == name
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output
    assert main.get_command(ctx, "nope") is None
