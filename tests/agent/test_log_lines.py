"""The node's log lines: every logger named ``officesync.<area>``, the dataset as a field."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

from agent.logs import LineFormatter, dataset_log

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("agent", "hub", "tray", "httpkit", "workstation", "officesync", "protocol")


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("officesync.sync", logging.WARNING, __file__, 1,
                               "sync state %s", ("refused",), None)
    record.__dict__.update(extra)
    return record


def test_the_formatter_shows_the_dataset_field_after_the_logger_name() -> None:
    line = LineFormatter("%(name)s%(dataset_tag)s: %(message)s").format(_record(dataset="cty-a"))
    assert line == "officesync.sync [cty-a]: sync state refused"


def test_a_line_without_a_dataset_has_no_brackets() -> None:
    line = LineFormatter("%(name)s%(dataset_tag)s: %(message)s").format(_record())
    assert line == "officesync.sync: sync state refused"


def test_a_dataset_adapter_puts_the_dataset_on_every_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = dataset_log(logging.getLogger("officesync.sync"), "cty-b")
    with caplog.at_level(logging.INFO, logger="officesync.sync"):
        log.info("pushed %d ops", 3)
    [record] = [r for r in caplog.records if r.name == "officesync.sync"]
    assert record.getMessage() == "pushed 3 ops" and record.__dict__["dataset"] == "cty-b"


def _logger_names(path: Path) -> list[tuple[int, str | None]]:
    """The first argument of every ``logging.getLogger(...)`` call (None: no argument)."""
    found: list[tuple[int, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "getLogger"):
            arg = node.args[0] if node.args else None
            if arg is None:
                found.append((node.lineno, None))
            else:
                value = arg.value if isinstance(arg, ast.Constant) else ast.unparse(arg)
                found.append((node.lineno, str(value)))
    return found


def test_every_logger_of_ours_is_named_officesync_dot_area() -> None:
    wrong = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for lineno, name in _logger_names(path):
                if name is None or name == "aiohttp.access":  # the root; aiohttp's own
                    continue
                if not name.startswith("officesync.") or name.count(".") != 1:
                    wrong.append(f"{path.relative_to(ROOT)}:{lineno}: {name}")
    assert wrong == []
