"""Every CLI error path we can reach, in both languages, against real hub and node processes
(issue 8, defects 5, 6, 7 and 13): each answer is one line that says what is wrong and the
step that fixes it, entirely in the chosen language — no English word in Vietnamese output,
no Vietnamese in English output, never a library's own sentence (aiohttp, SQLAlchemy,
pydantic, Xlib) nor a traceback."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from officesync.cli import main
from tests.e2e.hub_procs import HubProcess
from tests.e2e.procs import NO_KEYRING, NodeProcess, free_port, write_node_config

# Words an English sentence cannot do without, and that no Vietnamese message contains.
ENGLISH_WORDS = (" the ", " is ", " not ", " and ", "not found", "error", "cannot", "Cannot",
                 "invalid", "Invalid", "failed", "please", " file ", " run ")
LIBRARY_PHRASES = ("Cannot connect to host", "ssl:default", "Traceback", "sqlalchemy",
                   "SQLAlchemy", "Input should be", "String should match", "Errno",
                   "Bad display name", "Error:", "Could not parse", "ClientConnector")
CODE_PREFIX = re.compile(r"^[A-Z_]+: ")  # `ws` lines start with the protocol's error code


@dataclass
class World:
    tmp: Path
    hub: HubProcess
    node: NodeProcess
    node_config: Path
    env: dict[str, str | None]

    def run(self, lang: str, *args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["--lang", lang, *args], env=self.env)
        shown = (result.stdout + result.stderr).replace(str(self.tmp), "<tmp>")
        return result.exit_code, shown


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("cli-messages")
    hub = HubProcess(f"sqlite:///{tmp}/hub.db", free_port(), tmp / "hub-logs", env=NO_KEYRING)
    hub.create_dataset("cty-abc")
    hub.start()
    config = write_node_config(tmp, cloud_url=hub.url)  # a cloud URL, never enrolled
    node = NodeProcess(config, env=NO_KEYRING)
    try:
        node.start()
        env: dict[str, str | None] = {"OFFICESYNC_WS_HOME": str(tmp / "ws-home"),
                                      "DISPLAY": None, "WAYLAND_DISPLAY": None,
                                      "OFFICESYNC_LANG": None, **NO_KEYRING}
        yield World(tmp, hub, node, config, env)
    finally:
        node.terminate()
        hub.terminate()


def _files(tmp: Path) -> dict[str, str]:
    """Configs for the failures of the config file itself and of a node that is not up."""
    (tmp / "bad-values.toml").write_text(
        '[lan]\nport = 99999\nbogus = 1\n[control]\nhost = "0.0.0.0"\n'
        '[[datasets]]\nid = "Cty ABC"\n', encoding="utf-8")
    (tmp / "bad-syntax.toml").write_text("[lan\nport = 1\n", encoding="utf-8")
    never = write_node_config(tmp, name="never-ran", filename="never-ran.toml")
    stopped = write_node_config(tmp, name="stopped", filename="stopped.toml")
    (tmp / "stopped-data").mkdir(exist_ok=True)
    (tmp / "stopped-data" / "control.token").write_text("x" * 43 + "\n", encoding="ascii")
    return {"bad_values": str(tmp / "bad-values.toml"), "bad_syntax": str(tmp / "bad-syntax.toml"),
            "never": str(never), "stopped": str(stopped), "missing": str(tmp / "missing.toml")}


def error_paths(w: World) -> dict[str, list[str]]:
    f = _files(w.tmp)
    cfg = str(w.node_config)
    nothing = f"http://127.0.0.1:{free_port()}"
    node_hostport = w.node.lan_url.removeprefix("http://")
    hub_db = w.hub.db_url
    return {
        "config missing": ["status", "--config", f["missing"]],
        "config values": ["status", "--config", f["bad_values"]],
        "config syntax": ["pair-code", "--config", f["bad_syntax"]],
        "node never ran": ["status", "--config", f["never"]],
        "node not running": ["offline", "--config", f["stopped"]],
        "second serve": ["serve", "--config", cfg],
        "enroll wrong code": ["enroll", "--config", cfg, "--hub", w.hub.url,
                              "--code", "AAAA-BBBB-CCCC"],
        "enroll at a node": ["enroll", "--config", cfg, "--hub", w.node.lan_url,
                             "--code", "AAAA-BBBB-CCCC"],
        "enroll at nothing": ["enroll", "--config", cfg, "--hub", nothing, "--code", "AAAA"],
        "enroll bad url": ["enroll", "--config", cfg, "--hub", "ftp://hub", "--code", "AAAA"],
        "hub db without scheme": ["hub", "dataset", "create", "cty-x", "--db", "hub.db"],
        "hub db mistyped": ["hub", "enroll-code", "--dataset", "cty-abc", "--db",
                            f"sqlite:///{w.tmp}/typo/hub.db"],
        "hub db unsupported": ["hub", "dataset", "create", "cty-x", "--db", "mysql://x/y"],
        "hub unknown dataset": ["hub", "enroll-code", "--dataset", "cty-none", "--db", hub_db],
        "hub bad dataset id": ["hub", "dataset", "create", "Bad Id", "--db", hub_db],
        "pair at the hub": ["ws", "pair", "--node", w.hub.url, "--code", "123456"],
        "pair at nothing": ["ws", "pair", "--node", nothing, "--code", "123456"],
        "pair bad url": ["ws", "pair", "--node", "ftp://node", "--code", "123456"],
        "pair wrong code": ["ws", "pair", "--node", node_hostport, "--code", "000000"],
        "ws missing @file": ["ws", "create", "cty-abc", "customers", "--data",
                             f"@{w.tmp}/nothing.json"],
        "ws bad json": ["ws", "create", "cty-abc", "customers", "--data", '{"code": }'],
        "ws not an object": ["ws", "create", "cty-abc", "customers", "--data", "[1]"],
        "ws not paired": ["ws", "list", "cty-abc", "customers"],
        "tray no display": ["tray", "--config", cfg],
        "tray config missing": ["tray", "--config", f["missing"]],
    }


def _vietnamese_letters(text: str) -> list[str]:
    return [c for c in text if c.isalpha() and ord(c) > 127 and unicodedata.decomposition(c)]


def check_language(text: str, lang: str) -> list[str]:
    """What is wrong with ``text`` as a message in ``lang`` (empty: nothing)."""
    problems = [f"library text {p!r}" for p in LIBRARY_PHRASES if p in text]
    body = "\n".join(CODE_PREFIX.sub("", line) for line in text.splitlines())
    if lang == "vi":
        problems += [f"English {w!r}" for w in ENGLISH_WORDS if w in f" {body} "]
        if not _vietnamese_letters(body):
            problems.append("no Vietnamese at all")
    else:
        problems += [f"Vietnamese {''.join(_vietnamese_letters(body)[:8])!r}"] \
            if _vietnamese_letters(body) else []
    return problems


def test_the_checker_catches_what_it_is_for() -> None:
    assert check_language("enrollment failed: 401 UNAUTHORIZED: Chưa xác thực", "vi")
    assert check_language("UNAVAILABLE: Không kết nối được máy chủ http://h: Cannot connect "
                          "to host h:1 ssl:default [Connect call failed]", "vi")
    assert check_language("config file not found: x.toml", "vi")
    assert check_language("Dữ liệu không hợp lệ: Input should be a valid date", "vi")
    assert check_language("Error: cannot start the tray: Bad display name \"\"", "en")
    assert check_language("Không có tệp cấu hình x.toml", "en")
    assert not check_language("Không có tệp cấu hình <tmp>/x.toml", "vi")
    assert not check_language("NOT_FOUND: File not found: x.json", "en")


def test_every_cli_error_path_speaks_one_language(world: World) -> None:
    failures: list[str] = []
    for lang in ("vi", "en"):
        for name, args in error_paths(world).items():
            status, shown = world.run(lang, *args)
            lines = shown.strip().splitlines()
            if status == 0:
                failures.append(f"[{lang}] {name}: exit status 0\n{shown}")
            elif len(lines) != 1:
                failures.append(f"[{lang}] {name}: {len(lines)} lines\n{shown}")
            failures += [f"[{lang}] {name}: {p}\n  {shown.strip()}"
                         for p in check_language(shown, lang)]
    assert not failures, "\n".join(failures)


def test_the_status_screen_of_a_node_not_enrolled_yet(world: World) -> None:
    cfg = str(world.node_config)
    for lang in ("vi", "en"):
        status, shown = world.run(lang, "status", "--config", cfg)
        assert status == 0, shown
        assert not check_language(shown, lang), shown
        flat = " ".join(shown.split())
        assert f"officesync enroll --config {cfg.replace(str(world.tmp), '<tmp>')}" in flat
        assert f"--hub {world.hub.url}" in flat
    status, vi_screen = world.run("vi", "status", "--config", cfg)
    assert "cty-abc: đã đồng bộ 0 · chưa đồng bộ 0" in vi_screen  # one line per dataset
    for english in ("synced", "pending", "conflict", "blocked", "Chưa cấu hình Cloud"):
        assert english not in vi_screen


def test_the_hints_name_the_one_step_that_fixes_it(world: World) -> None:
    paths = error_paths(world)
    expected = {
        "pair at the hub": "is an OfficeSync hub, not a node",
        "enroll at a node": "is an OfficeSync node, not a hub",
        "enroll wrong code": "officesync hub enroll-code",
        "enroll at nothing": "Cannot reach the hub at",
        "pair at nothing": "is it running? (on the node: officesync status",
        "ws missing @file": "File not found:",
        "hub db without scheme": "sqlite:///path/to/hub.db",
        "hub db mistyped": "--create",
        "second serve": f"pid {world.node.pid}",
        "tray no display": "No desktop session",
    }
    for name, words in expected.items():
        _, shown = world.run("en", *paths[name])
        assert words in shown, (name, shown)
    assert not (world.tmp / "typo").exists()  # the mistyped hub path created nothing
    _, shown = world.run("en", "ws", "create", "cty-abc", "customers", "--data",
                         f"@{world.tmp}/nothing.json")
    assert shown.startswith("NOT_FOUND: ")  # not INVALID_JSON


def test_an_address_without_scheme_is_http(world: World) -> None:
    hub_hostport = world.hub.url.removeprefix("http://")
    _, shown = world.run("en", "enroll", "--config", str(world.node_config), "--hub",
                         hub_hostport, "--code", "AAAA-BBBB-CCCC")
    assert "enrollment code is not valid" in shown  # the hub itself answered
    _, shown = world.run("en", "ws", "pair", "--node",
                         world.node.lan_url.removeprefix("http://"), "--code", "000000")
    assert shown.startswith("PAIRING_CODE_INVALID: ")  # the node itself answered


def test_control_status_says_not_enrolled_rather_than_no_cloud(world: World) -> None:
    import json

    _, shown = world.run("en", "status", "--config", str(world.node_config), "--json")
    answer = json.loads(shown)
    assert answer["connectivity"] == "not_configured"  # the state value is unchanged
    assert "not enrolled" in answer["message"]["en"]
    assert "officesync enroll" in answer["message"]["vi"]
    assert "Chưa cấu hình Cloud" not in answer["message"]["vi"]
