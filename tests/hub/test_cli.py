"""The hub's admin CLI and a real ``officesync hub serve`` process."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
from click.testing import CliRunner

from hub.cli import hub

SERVE_TIMEOUT = 30


async def start_hub(db_url: str) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "officesync", "hub", "serve", "--db", db_url, "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), SERVE_TIMEOUT)).decode().strip()
    prefix = "officesync hub listening on "
    assert line.startswith(prefix), line
    return proc, line[len(prefix):]


def test_dataset_create_and_enroll_code(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/sub/hub.db"
    runner = CliRunner()
    created = runner.invoke(hub, ["dataset", "create", "cty-abc", "--db", db, "--create",
                                  "--lang", "en"])
    assert created.exit_code == 0, created.output
    assert created.output.strip() == "Dataset cty-abc created"
    again = runner.invoke(hub, ["dataset", "create", "cty-abc", "--db", db])
    assert again.exit_code == 0 and again.output.strip() == "Dữ liệu kế toán cty-abc đã có từ trước"
    code = runner.invoke(hub, ["enroll-code", "--dataset", "cty-abc", "--db", db])
    assert code.exit_code == 0
    last = code.stdout.strip().splitlines()[-1]
    assert len(last) == 14 and last.count("-") == 2


def _one_line_error(args: list[str]) -> str:
    result = CliRunner().invoke(hub, args)
    assert result.exit_code != 0, (args, result.output)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "sqlalchemy" not in result.stderr.lower()
    return lines[0]


def test_errors_exit_non_zero_with_one_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/hub.db"
    assert CliRunner().invoke(hub, ["dataset", "create", "cty-a", "--db", db, "--create"]) \
        .exit_code == 0
    for args in (["enroll-code", "--dataset", "cty-none", "--db", db],
                 ["dataset", "create", "Bad Id", "--db", db],
                 ["dataset", "create", "cty-x", "--db", "mysql://nobody/x"]):
        _one_line_error(args)


def test_a_db_url_without_scheme_names_the_expected_forms() -> None:
    for lang in ("vi", "en"):
        for args in (["dataset", "create", "X", "--db", "hub.db"],
                     ["enroll-code", "--dataset", "cty-a", "--db", "hub.db"]):
            line = _one_line_error([*args, "--lang", lang])
            assert "sqlite:///" in line and "postgresql://" in line and "hub.db" in line


def test_admin_commands_never_create_a_hub_by_accident(tmp_path: Path) -> None:
    typo = tmp_path / "typo" / "dir" / "hub.db"
    for args in (["dataset", "create", "cty-x"], ["enroll-code", "--dataset", "cty-x"]):
        line = _one_line_error([*args, "--db", f"sqlite:///{typo}", "--lang", "en"])
        assert str(typo) in line and "--create" in line and "hub serve" in line
    assert not (tmp_path / "typo").exists()
    empty = tmp_path / "empty.db"  # an SQLite file that is not a hub: left as it is
    empty.write_bytes(b"")
    assert "not an OfficeSync hub database" in _one_line_error(
        ["dataset", "create", "cty-x", "--db", f"sqlite:///{empty}", "--lang", "en"])
    assert empty.stat().st_size == 0
    made = CliRunner().invoke(hub, ["dataset", "create", "cty-x", "--db",
                                    f"sqlite:///{typo}", "--create"])
    assert made.exit_code == 0 and typo.is_file()


def test_an_unreachable_postgresql_is_one_line_without_the_password() -> None:
    line = _one_line_error(["dataset", "create", "cty-x", "--lang", "en", "--db",
                            "postgresql://someone:s3cret@127.0.0.1:1/hub"])
    assert "Cannot open the database" in line and "s3cret" not in line


async def test_serve_prints_real_port_and_stops_on_sigterm(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/hub.db"
    proc, base = await start_hub(db)
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{base}/v1/health") as r:
            assert r.status == 200
            assert (await r.json())["service"] == "officesync-hub"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), SERVE_TIMEOUT) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_serve_with_a_bad_database_exits_with_a_reason() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "officesync", "hub", "serve", "--db", "mysql://x/y",
        "--port", "0", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), SERVE_TIMEOUT)
    assert proc.returncode != 0
    line = err.decode().strip()
    assert len(line.splitlines()) == 1 and "cơ sở dữ liệu" in line and "sqlite:///" in line
