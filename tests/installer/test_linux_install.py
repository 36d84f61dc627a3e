"""The Linux installer: install.sh into a temporary DESTDIR lays down the unit, the config
(only if absent), the tray autostart entry and a working venv, and calls no systemctl or
useradd; the unit passes `systemd-analyze verify` and its security exposure stays under the
threshold; uninstall.sh removes the program and keeps config and data unless --purge."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import load_config
from protocol.version import PACKAGE_VERSION

REPO = Path(__file__).resolve().parents[2]
LINUX = REPO / "installer" / "linux"
UNIT = LINUX / "officesync.service"
SECURITY_THRESHOLD = 2.5  # systemd-analyze security exposure, 0 (locked down) .. 10


def _fake_tools(bin_dir: Path, marker: Path) -> None:
    """systemctl/useradd/userdel that only record being called."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in ("systemctl", "useradd", "userdel", "chgrp"):
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{marker}"\n', encoding="utf-8")
        script.chmod(0o755)


def _run(script: Path, destdir: Path, tmp: Path, *args: str, **env: str) -> str:
    marker = tmp / "system-calls.log"
    _fake_tools(tmp / "fakebin", marker)
    full_env = {
        **os.environ,
        "PATH": f"{tmp / 'fakebin'}:{os.environ['PATH']}",
        "DESTDIR": str(destdir),
        "PYTHON": sys.executable,
        **env,
    }
    done = subprocess.run(
        ["bash", str(script), *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not marker.exists(), f"DESTDIR run touched the system: {marker.read_text()}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real install (pip installs the project from the checkout; deps left out for time)."""
    tmp = tmp_path_factory.mktemp("install")
    destdir = tmp / "root"
    _run(
        LINUX / "install.sh",
        destdir,
        tmp,
        OFFICESYNC_PIP_ARGS="--no-deps",
        OFFICESYNC_EXTRAS="",
    )
    return destdir


def test_unit_config_autostart_and_docs_are_laid_down(installed: Path) -> None:
    unit = installed / "etc/systemd/system/officesync.service"
    assert unit.read_text() == UNIT.read_text()
    config_path = installed / "etc/officesync/config.toml"
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o640
    config = load_config(config_path)
    assert config.data_dir == Path("/var/lib/officesync")
    assert (installed / "opt/officesync/share/doc/operations.md").exists()
    link = installed / "usr/local/bin/officesync"
    assert os.readlink(link) == "/opt/officesync/venv/bin/officesync"

    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(installed / "etc/xdg/autostart/officesync-tray.desktop", encoding="utf-8")
    desktop = entry["Desktop Entry"]
    assert desktop["Type"] == "Application"
    assert desktop["Exec"].split()[:2] == ["/opt/officesync/venv/bin/officesync", "tray"]
    assert "/etc/officesync/config.toml" in desktop["Exec"]
    assert desktop["Name[vi]"] and desktop["Comment[vi]"]


def test_the_venv_holds_the_installed_program(installed: Path) -> None:
    venv = installed / "opt/officesync/venv"
    script = venv / "bin/officesync"
    assert os.access(script, os.X_OK)
    assert script.read_text().splitlines()[0] == f"#!{venv}/bin/python"
    probe = (
        "import importlib.metadata as m, agent.service.sdnotify as s, pathlib;"
        "print(m.version('officesync'));"
        "print(pathlib.Path(s.__file__).is_relative_to(pathlib.Path(__import__('sys').prefix)))"
    )
    done = subprocess.run(
        [str(venv / "bin/python"), "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [PACKAGE_VERSION, "True"]  # a real copy, not the checkout


def test_an_existing_config_is_kept_on_upgrade(tmp_path: Path) -> None:
    destdir = tmp_path / "root"
    config = destdir / "etc/officesync/config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[node]\nname = "edited by the admin"\n', encoding="utf-8")
    out = _run(LINUX / "install.sh", destdir, tmp_path, OFFICESYNC_INSTALL_SKIP_VENV="1")
    assert config.read_text() == '[node]\nname = "edited by the admin"\n'
    assert "keeping the existing" in out
    assert (destdir / "etc/systemd/system/officesync.service").exists()


def test_uninstall_keeps_config_and_data_unless_purged(tmp_path: Path) -> None:
    destdir = tmp_path / "root"
    _run(LINUX / "install.sh", destdir, tmp_path, OFFICESYNC_INSTALL_SKIP_VENV="1")
    data = destdir / "var/lib/officesync/cty-abc.db"
    data.parent.mkdir(parents=True)
    data.write_bytes(b"books")
    _run(LINUX / "uninstall.sh", destdir, tmp_path)
    for gone in (
        "etc/systemd/system/officesync.service",
        "etc/xdg/autostart/officesync-tray.desktop",
        "usr/local/bin/officesync",
        "opt/officesync",
    ):
        assert not (destdir / gone).exists() and not (destdir / gone).is_symlink(), gone
    assert (destdir / "etc/officesync/config.toml").exists() and data.exists()
    _run(LINUX / "uninstall.sh", destdir, tmp_path, "--purge")
    assert not (destdir / "etc/officesync").exists() and not data.exists()


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        reason = "systemd-analyze is not installed (scripts/system-deps.sh installs systemd)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return tool


def _verify(tool: str, unit_text: str, where: Path, exec_root: Path) -> str:
    """`systemd-analyze verify` on the unit with ExecStart under ``exec_root``; its output."""
    where.mkdir(parents=True, exist_ok=True)
    unit = where / "officesync.service"
    unit.write_text(unit_text.replace("ExecStart=/opt/", f"ExecStart={exec_root}/opt/"))
    done = subprocess.run(
        [tool, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60
    )
    return (done.stdout + done.stderr).strip()


def test_systemd_verifies_the_unit(installed: Path, tmp_path: Path) -> None:
    tool = _systemd_analyze()
    text = UNIT.read_text()
    assert _verify(tool, text, tmp_path / "good", installed) == ""
    # The check can fail: a broken unit is reported.
    broken = text.replace("Type=notify", "Type=notfy")
    assert "notfy" in _verify(tool, broken, tmp_path / "bad", installed)


def test_unit_security_exposure_is_under_the_threshold() -> None:
    tool = _systemd_analyze()
    threshold = round(SECURITY_THRESHOLD * 10)  # the option counts tenths of the shown level
    done = subprocess.run(
        [tool, "security", "--offline=yes", f"--threshold={threshold}", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: ([\d.]+)", done.stdout)
    assert match, done.stdout + done.stderr
    assert float(match.group(1)) <= SECURITY_THRESHOLD
    assert done.returncode == 0, done.stdout


def test_unit_declares_what_the_node_relies_on() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text())
    service = unit["Service"]
    assert service["Type"] == "notify" and service["WatchdogSec"]
    assert service["StateDirectory"] == "officesync" and service["ProtectSystem"] == "strict"
    assert service["User"] == "officesync"
    families = set(service["RestrictAddressFamilies"].split())
    assert families == {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}
    assert "--config /etc/officesync/config.toml" in service["ExecStart"]
