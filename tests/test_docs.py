"""The repository stands alone, and its docs stay true to the tree.

- No tracked text file (docs, comments, config, code, tests) cites something outside the
  repository: a sibling checkout, an outside design brief or scenario list, or
  a Markdown link that climbs out of the repository.
- Every relative Markdown link of README, CONTRIBUTING, CHANGELOG and docs/ names a file that
  exists (and, for a ``#fragment`` into a Markdown file, a heading that exists).
- Every ``officesync`` command and option (the click tree of ``officesync.cli``) is in
  docs/cli.md; every error code and every collection of the accounting pack is in
  docs/protocol.md.
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI_DOC = ROOT / "docs" / "cli.md"

# Written in pieces so that this file does not cite what it forbids.
_BRIEF = "DES" + "IGN"
_SCENARIOS = "SCEN" + "ARIOS"
_OUTSIDE = [
    (re.compile(r"\.\./" + "shared"), "a sibling checkout (../" + "shared)"),
    (re.compile(r"/work/" + "shared"), "an absolute path outside the repository"),
    (re.compile(r"\b" + _BRIEF + r"\b"), f"an outside design document ({_BRIEF})"),
    (re.compile(_SCENARIOS + r"\.md"), "an outside scenario list (use docs/scenarios.md)"),
]
# [text](target) and [label]: target, not inside code spans.
_LINK = re.compile(r"(?<!\!)\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|^\s*\[[^\]]+\]:\s*(\S+)",
                   re.MULTILINE)
_IMAGE = re.compile(r"!\[[^\]\n]*\]\(([^)\s]+)\)")
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
_FENCE = re.compile(r"```.*?```", re.DOTALL)


def tracked_files() -> list[Path]:
    """The files of the repository, as git sees them."""
    try:
        # tracked files and new ones not yet added (but not the ignored: .venv, caches, demo-data)
        command = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
        out = subprocess.run(command, cwd=ROOT, capture_output=True, check=True).stdout.decode()
        names = [n for n in out.split("\0") if n]
    except (OSError, subprocess.CalledProcessError):  # not a checkout: every file but caches
        skip = {".git", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__"}
        names = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*")
                 if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]
    return [ROOT / n for n in names if (ROOT / n).is_file()]


def read_text(path: Path) -> str | None:
    """The file's text, or None for a binary file."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def outside_citations(text: str) -> Iterator[tuple[int, str]]:
    for lineno, line in enumerate(text.splitlines(), 1):
        for pattern, what in _OUTSIDE:
            if pattern.search(line):
                yield lineno, what


def slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = "".join(c for c in text if c in " -" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    found: set[str] = set()
    for line in _FENCE.sub("", markdown).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            found.add(slug(match.group(1)))
    return found


def link_targets(markdown: str) -> Iterator[str]:
    body = _CODE.sub("", markdown)
    for match in _LINK.finditer(body):
        yield match.group(1) or match.group(2)
    for match in _IMAGE.finditer(body):
        yield match.group(1)


def broken_links(path: Path, markdown: str, root: Path = ROOT) -> list[str]:
    """Relative links of ``markdown`` (the text of ``path``) that leave ``root``, name no
    file, or name a heading the target does not have."""
    broken: list[str] = []
    for target in link_targets(markdown):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("//"):
            continue  # http:, https:, mailto:: not a file of the repository
        file_part, _, fragment = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path.resolve()
        if not resolved.is_relative_to(root.resolve()):
            broken.append(f"{target}: leaves the repository")
        elif not resolved.exists():
            broken.append(f"{target}: no such file")
        elif (fragment and resolved.suffix == ".md" and resolved.is_file()
              and fragment not in anchors(resolved.read_text(encoding="utf-8"))):
            broken.append(f"{target}: no heading #{fragment}")
    return broken


def markdown_docs() -> list[Path]:
    return sorted(p for p in tracked_files() if p.suffix == ".md")


def test_no_file_cites_anything_outside_the_repository() -> None:
    files = tracked_files()
    assert len(files) > 50 and ROOT / "README.md" in files
    found = [f"{p.relative_to(ROOT)}:{n}: {what}"
             for p in files if (text := read_text(p)) is not None
             for n, what in outside_citations(text)]
    assert not found, "\n".join(found)


def test_markdown_links_point_at_files_that_exist() -> None:
    docs = markdown_docs()
    assert ROOT / "docs" / "architecture.md" in docs
    found = [f"{p.relative_to(ROOT)}: {b}"
             for p in docs for b in broken_links(p, p.read_text(encoding="utf-8"))]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("line", [
    "see ../" + "shared/seed/x.md",
    "# routes as in " + _BRIEF + " §4",
    "contracts: " + _BRIEF + ".md",
    "the field cases of " + _SCENARIOS + ".md",
])
def test_the_citation_check_catches(line: str) -> None:
    assert list(outside_citations("ok\n" + line + "\n")) != []


def test_the_citation_check_allows_our_own_docs() -> None:
    assert list(outside_citations("see docs/scenarios.md and docs/protocol.md\n")) == []


def test_the_link_check_catches(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.md").write_text("# Values: keys, amounts\n## Hub: `officesync hub …`\n"
                                            "```\n# not a heading\n```\n", encoding="utf-8")
    page = tmp_path / "docs" / "a.md"
    text = ("[up](../../elsewhere.md) [gone](missing.md) [ok](b.md) "
            "[anchor](b.md#values-keys-amounts) [bad anchor](b.md#nope) "
            "[code](b.md#hub-officesync-hub-) [fenced](b.md#not-a-heading) "
            "[web](https://example.com/x) `[code](ignored.md)` ![img](img/none.png)\n")
    found = broken_links(page, text, tmp_path)
    assert found == ["../../elsewhere.md: leaves the repository", "missing.md: no such file",
                     "b.md#nope: no heading #nope", "b.md#not-a-heading: no heading #not-a-heading",
                     "img/none.png: no such file"]


# -- the command line ---------------------------------------------------------------------------

# Options documented once for every command (docs/cli.md, "Language" and the top).
COMMON_OPTIONS = ("--lang", "--help", "--version")


def commands() -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command under ``officesync`` with its path of names (groups included)."""
    from officesync.cli import main

    def walk(cmd: click.Command, path: tuple[str, ...], ctx: click.Context
             ) -> Iterator[tuple[tuple[str, ...], click.Command]]:
        yield path, cmd
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None, name
                yield from walk(sub, (*path, name), click.Context(sub, ctx, info_name=name))

    yield from walk(main, (), click.Context(main, info_name="officesync"))


def options_of(cmd: click.Command) -> list[str]:
    """The options a person may type (hidden ones pass between our own processes)."""
    return [o for p in cmd.params if isinstance(p, click.Option) and not p.hidden
            for o in p.opts if o.startswith("--")]


def documenting_lines(doc: str, path: tuple[str, ...]) -> list[str]:
    """Lines with a code span naming the command: ``ws list DS …``, ``officesync status``,
    or alternatives ``online|offline`` / ``ws delete|post|unpost``."""
    found: list[str] = []
    for line in doc.splitlines():
        for span in re.findall(r"`([^`]+)`", line):
            words = span.replace("\\|", "|").removeprefix("officesync ").split()
            if len(words) >= len(path) and all(
                    name in words[i].split("|") for i, name in enumerate(path)):
                found.append(line)
                break
    return found


def undocumented(doc: str) -> list[str]:
    missing: list[str] = []
    for path, cmd in commands():
        missing.extend(f"{option} (common option)" for option in COMMON_OPTIONS
                       if option in options_of(cmd) and option not in doc)
        if not path:
            continue
        lines = documenting_lines(doc, path)
        name = " ".join(path)
        if not lines:
            missing.append(f"command `{name}`")
            continue
        missing.extend(
            f"option {option} of `{name}`" for option in options_of(cmd)
            if option not in COMMON_OPTIONS and not any(
                re.search(re.escape(option) + r"(?![\w-])", line) for line in lines))
    return missing


def test_every_cli_command_and_option_is_in_the_cli_doc() -> None:
    names = [" ".join(path) for path, _ in commands()]
    assert {"serve", "hub serve", "hub dataset create", "ws list", "demo"} <= set(names)
    missing = undocumented(CLI_DOC.read_text(encoding="utf-8"))
    assert not missing, "undocumented in docs/cli.md: " + ", ".join(dict.fromkeys(missing))


def test_the_cli_check_catches_a_missing_option_and_command() -> None:
    doc = CLI_DOC.read_text(encoding="utf-8")
    without = "\n".join(line for line in doc.splitlines() if "`hub serve" not in line)
    assert "command `hub serve`" in undocumented(without)
    assert "option --min-protocol of `hub serve`" in undocumented(
        doc.replace("--min-protocol", "--min-proto"))


# -- error codes and collections ----------------------------------------------------------------

PROTOCOL_DOC = ROOT / "docs" / "protocol.md"


def section(markdown: str, heading: str) -> str:
    """The text under ``heading`` (a line of the document) up to the next heading of its
    level or above."""
    level = len(heading) - len(heading.lstrip("#"))
    start = markdown.index(heading + "\n") + len(heading)
    end = re.search(rf"^#{{1,{level}}} ", markdown[start:], re.MULTILINE)
    return markdown[start: start + end.start()] if end else markdown[start:]


def test_every_error_code_is_in_the_protocol_doc() -> None:
    from protocol.errors import ErrorCode

    table = section(PROTOCOL_DOC.read_text(encoding="utf-8"), "## Error codes")
    missing = [c.value for c in ErrorCode if f"| `{c.value}` |" not in table]
    assert len(ErrorCode) > 20 and not missing, f"not in docs/protocol.md: {missing}"


def test_every_collection_of_the_pack_is_in_the_protocol_doc() -> None:
    from protocol.accounting import ACCOUNTING_PACK

    table = section(PROTOCOL_DOC.read_text(encoding="utf-8"),
                    "### The accounting pack, field by field")
    names = ACCOUNTING_PACK.names()
    missing = [n for n in names if f"`{n}`" not in table]
    assert "vouchers" in names and not missing, f"not in docs/protocol.md: {missing}"


def test_section_stops_at_the_next_heading() -> None:
    doc = "# T\n## A\nx `ONE`\n### A.1\ny\n## B\n`TWO`\n"
    assert section(doc, "## A") == "\nx `ONE`\n### A.1\ny\n"
    assert section(doc, "### A.1") == "\ny\n"
