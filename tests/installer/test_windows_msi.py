"""The Windows installer sources: the WiX file builds into an MSI (with Debian's `wixl`, from
a placeholder payload made here) whose tables install, start, stop and remove the service and
start the tray at logon; the PyInstaller spec names entry scripts that exist."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WINDOWS = REPO / "installer" / "windows"
EXES = ("officesync-service.exe", "officesync.exe", "officesync-tray.exe")

# msidbServiceControlEvent: start on install, stop on install and uninstall, delete on uninstall
START_INSTALL, STOP_INSTALL, STOP_UNINSTALL, DELETE_UNINSTALL = 0x1, 0x2, 0x20, 0x80
SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START = 0x10, 2


def _tools() -> tuple[str, str, str]:
    found = [shutil.which(t) for t in ("wixl", "wixl-heat", "msiinfo")]
    if not all(found):
        reason = "wixl/msitools are not installed (scripts/system-deps.sh installs them)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return found[0], found[1], found[2]  # type: ignore[return-value]


def _table(msiinfo: str, msi: Path, name: str) -> list[dict[str, str]]:
    out = subprocess.run(
        [msiinfo, "export", str(msi), name], capture_output=True, text=True, timeout=60, check=True
    ).stdout.splitlines()
    header = out[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=False)) for line in out[3:] if line]


@pytest.fixture(scope="module")
def msi(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    wixl, heat, msiinfo = _tools()
    work = tmp_path_factory.mktemp("msi")
    payload = work / "payload"
    (payload / "_internal" / "lib").mkdir(parents=True)
    for exe in EXES:  # placeholders, made here: no binary is ever committed
        (payload / exe).write_bytes(b"MZ placeholder for " + exe.encode())
    (payload / "_internal" / "python311.dll").write_bytes(b"placeholder")
    (payload / "_internal" / "lib" / "base_library.zip").write_bytes(b"placeholder")
    files = "\n".join(
        sorted(
            str(p.relative_to(payload)) for p in (payload / "_internal").rglob("*") if p.is_file()
        )
    )
    fragment = subprocess.run(
        [
            heat,
            "-p",
            "",
            "--directory-ref",
            "INSTALLDIR",
            "--component-group",
            "Runtime",
            "--var",
            "var.PayloadDir",
        ],
        input=files,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=payload,
    ).stdout
    (work / "runtime.wxs").write_text(fragment, encoding="utf-8")
    built = subprocess.run(
        [
            wixl,
            "-a",
            "x64",
            "-D",
            "PayloadDir=payload",
            "-D",
            "Version=0.1.0",
            "-o",
            "officesync.msi",
            str(WINDOWS / "officesync.wxs"),
            "runtime.wxs",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=work,
    )
    assert built.returncode == 0, built.stderr
    return msiinfo, work / "officesync.msi"


def test_the_msi_installs_an_automatic_service(msi: tuple[str, Path]) -> None:
    msiinfo, path = msi
    [service] = _table(msiinfo, path, "ServiceInstall")
    assert service["Name"] == "OfficeSync"
    assert int(service["ServiceType"]) == SERVICE_WIN32_OWN_PROCESS
    assert int(service["StartType"]) == SERVICE_AUTO_START
    assert service["StartName"] == "LocalSystem"
    assert service["Component_"] == "ServiceExe"
    assert '--config "[CommonAppDataFolder]OfficeSync\\config.toml"' in service["Arguments"]


def test_the_service_is_started_stopped_and_removed(msi: tuple[str, Path]) -> None:
    msiinfo, path = msi
    [control] = _table(msiinfo, path, "ServiceControl")
    event = int(control["Event"])
    assert control["Name"] == "OfficeSync" and control["Wait"] == "1"
    for flag in (START_INSTALL, STOP_INSTALL, STOP_UNINSTALL, DELETE_UNINSTALL):
        assert event & flag, hex(flag)


def test_payload_tray_autostart_and_upgrades(msi: tuple[str, Path]) -> None:
    msiinfo, path = msi
    names = {row["FileName"] for row in _table(msiinfo, path, "File")}
    assert set(EXES) | {"python311.dll", "base_library.zip"} <= names
    [run] = [r for r in _table(msiinfo, path, "Registry") if r["Name"] == "OfficeSyncTray"]
    assert run["Root"] == "2"  # HKLM: every user of the machine
    assert run["Key"] == "Software\\Microsoft\\Windows\\CurrentVersion\\Run"
    assert run["Value"].startswith('"[INSTALLDIR]officesync-tray.exe"')
    upgrades = {row["ActionProperty"] for row in _table(msiinfo, path, "Upgrade")}
    assert "WIX_UPGRADE_DETECTED" in upgrades


def test_the_pyinstaller_spec_names_existing_entry_scripts() -> None:
    spec = (WINDOWS / "officesync.spec").read_text(encoding="utf-8")
    tree = ast.parse(spec)
    scripts = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.endswith("_main.py")
    }
    assert scripts == {"service_main.py", "cli_main.py", "tray_main.py"}
    for script in scripts:
        ast.parse((WINDOWS / script).read_text(encoding="utf-8"))
    names = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert {name.removesuffix(".exe") for name in EXES} <= names
