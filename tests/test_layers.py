"""The import rules between the packages (docs/architecture.md, "Packages and the direction
of imports"), checked on the source with ``ast``: every ``import`` and ``from … import`` of
every module counts, at any depth (also those inside functions and ``TYPE_CHECKING``)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The top-level packages of this repository ("ours").
OURS = frozenset({"protocol", "agent", "hub", "tray", "officesync", "httpkit", "workstation"})


@dataclass(frozen=True)
class Rule:
    """Modules under ``scope`` may import, of ours, only ``allowed`` (None: anything of ours
    but ``forbidden``); third-party names in ``banned`` are refused too."""

    scope: str
    allowed: frozenset[str] | None = None
    forbidden: frozenset[str] = frozenset()
    banned: frozenset[str] = frozenset()

    def violations(self, imported: str) -> bool:
        top = imported.split(".")[0]
        if top in self.banned:
            return True
        if top not in OURS or top == self.scope.split("/")[0]:
            return False
        if self.allowed is not None and top not in self.allowed:
            return True
        return top in self.forbidden


# The table of docs/architecture.md, one row per rule.
RULES: tuple[Rule, ...] = (
    Rule("protocol", allowed=frozenset()),
    Rule("httpkit", allowed=frozenset({"protocol"})),
    Rule("agent", forbidden=frozenset({"hub", "tray", "workstation", "officesync"})),
    Rule("agent/store", forbidden=frozenset({"hub", "tray", "workstation", "officesync"}),
         banned=frozenset({"aiohttp"})),
    Rule("hub", allowed=frozenset({"protocol", "httpkit"})),
    Rule("tray", allowed=frozenset({"protocol", "httpkit"})),
    Rule("workstation", allowed=frozenset({"protocol", "httpkit"})),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """``(line, dotted name)`` of every import in ``source``; relative imports resolved
    against ``module`` (a package's ``__init__`` is its own base)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                yield node.lineno, node.module or ""
                continue
            base = module.split(".")
            drop = node.level - 1 if is_package else node.level
            base = base[: len(base) - drop] if drop else base
            yield node.lineno, ".".join([*base, *([node.module] if node.module else [])])


def broken_rules(path: Path, source: str) -> list[str]:
    rel = path.relative_to(ROOT).as_posix()
    found: list[str] = []
    name = module_name(path)
    for lineno, imported in imports_of(source, name, path.name == "__init__.py"):
        found.extend(
            f"{rel}:{lineno}: imports {imported} (rule of {rule.scope}/)" for rule in RULES
            if (rel + "/").startswith(rule.scope + "/") and rule.violations(imported))
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.scope)
def test_import_rule(rule: Rule) -> None:
    files = modules(rule.scope)
    if not files:
        pytest.skip(f"{rule.scope}/ does not exist (yet)")
    broken = [b for f in files for b in broken_rules(f, f.read_text(encoding="utf-8"))
              if f"rule of {rule.scope}/" in b]
    assert not broken, "\n".join(broken)


def test_the_core_packages_exist() -> None:
    for package in ("protocol", "agent", "agent/store", "hub", "tray"):
        assert modules(package), package


@pytest.mark.parametrize(("where", "source", "expected"), [
    ("protocol/x.py", "from agent.config import Config\n", "imports agent.config"),
    ("protocol/x.py", "def f():\n    import hub.app\n", "imports hub.app"),
    ("agent/store/x.py", "from aiohttp import web\n", "imports aiohttp"),
    ("agent/store/x.py", "import aiohttp.web\n", "imports aiohttp.web"),
    ("agent/x.py", "from tray import viewmodel\n", "imports tray"),
    ("agent/sync/x.py", "from hub.push import Planner\n", "imports hub.push"),
    ("agent/app.py", "from workstation.client import NodeClient\n", "imports workstation.client"),
    ("tray/x.py", "from agent.runtime import read_runtime\n", "imports agent.runtime"),
    ("hub/x.py", "from ..agent import config\n", "imports agent ("),
    ("workstation/x.py", "from agent.config import Config\n", "imports agent.config"),
    ("httpkit/x.py", "from agent import keys\n", "imports agent"),
])
def test_the_checker_catches(where: str, source: str, expected: str) -> None:
    assert any(expected in b for b in broken_rules(ROOT / where, source))


@pytest.mark.parametrize(("where", "source"), [
    ("protocol/x.py", "from protocol.errors import ErrorCode\nimport pydantic\n"),
    ("protocol/sub/__init__.py", "from . import models\nfrom .. import errors\n"),
    ("agent/x.py", "from protocol import models\nfrom httpkit import json\nimport aiohttp\n"),
    ("agent/store/x.py", "import sqlite3\nfrom agent.events import Bus\n"),
    ("tray/x.py", "from protocol.connectivity import Connectivity\nfrom . import client\n"),
    ("hub/x.py", "from httpkit import middleware\nfrom .push import Planner\n"),
    ("workstation/x.py", "from protocol.models import Record\nfrom httpkit import json\n"),
])
def test_the_checker_allows(where: str, source: str) -> None:
    assert broken_rules(ROOT / where, source) == []


def test_relative_imports_resolve() -> None:
    names = [n for _, n in imports_of("from . import a\nfrom ..b import c\n",
                                      "agent.sync.worker", False)]
    assert names == ["agent.sync", "agent.b"]
    names = [n for _, n in imports_of("from . import a\n", "agent.sync", True)]
    assert names == ["agent.sync"]
