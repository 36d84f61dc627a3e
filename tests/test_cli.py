"""The root command knows every command, and each resolves to the one its package defines."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from officesync.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]


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


def test_the_workstation_client_loads_no_node_code() -> None:
    """``officesync ws`` is its own program: importing it loads nothing of ``agent``."""
    code = (
        "import sys, officesync.cli as c\n"
        "c.main.get_command(None, 'ws')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'agent', 'hub', 'tray'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_the_windows_bundle_collects_every_package_a_command_lives_in() -> None:
    """Commands are imported by name at run time, which PyInstaller cannot see: the spec
    must collect each of their packages (the hub is not shipped on Windows)."""
    spec = (ROOT / "installer" / "windows" / "officesync.spec").read_text(encoding="utf-8")
    collected = {
        node.value for node in ast.walk(ast.parse(spec))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    needed = {module.split(".")[0] for module, _ in COMMANDS.values()} - {"hub"}
    assert needed <= collected, needed - collected


def test_every_node_command_takes_lang() -> None:
    ctx = click.Context(main)
    node = [name for name, (module, _) in COMMANDS.items() if module == "agent.cli"]
    missing = []
    for name in node:
        command = main.get_command(ctx, name)
        assert command is not None
        if "--lang" not in {opt for p in command.params for opt in p.opts}:
            missing.append(name)
    assert node and missing == []


def test_sync_answers_in_the_language_given_after_the_command(tmp_path: Path) -> None:
    from tests.e2e.procs import write_node_config

    config = str(write_node_config(tmp_path, language="vi"))  # a node that never ran
    env = {"OFFICESYNC_LANG": None}
    english = CliRunner().invoke(main, ["sync", "--config", config, "--lang", "en"], env=env)
    vietnamese = CliRunner().invoke(main, ["sync", "--config", config], env=env)
    assert english.exit_code == vietnamese.exit_code == 1
    assert "the node never ran" in english.output  # the config says vi; --lang wins
    assert "máy chủ chưa từng chạy" in vietnamese.output
