"""The node as a Windows service (pywin32 ``ServiceFramework``).

Importable everywhere: on a system without pywin32 only the platform-neutral parts exist
(paths, argument parsing, ``serve_until_stopped``), which is what the Linux tests exercise.

The frozen ``officesync-service.exe`` (``installer/windows/officesync.spec``) calls ``main()``:
started by the Service Control Manager it hosts the service; run by hand it takes pywin32's
``install|remove|start|stop|debug`` verbs. A stop or system shutdown sets the ``StopRequest``
that ``run_node`` awaits, so the node closes its stores and sockets before the process ends.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from agent.config import Config, load_config
from agent.logs import LineFormatter, rate_limit
from agent.service.stop import StopRequest

try:  # pragma: no cover - only on Windows with pywin32
    import servicemanager
    import win32service
    import win32serviceutil

    HAVE_PYWIN32 = True
except ImportError:
    HAVE_PYWIN32 = False

SERVICE_NAME = "OfficeSync"
DISPLAY_NAME = "OfficeSync"
DESCRIPTION = (
    "Máy chủ dữ liệu kế toán OfficeSync: phục vụ máy trạm và đồng bộ với đám mây. / "
    "OfficeSync node: serves the office's workstations and syncs with the cloud."
)
STOP_WAIT_HINT_MS = 30_000

NodeRunner = Callable[[Config, asyncio.Event], Awaitable[None]]
Prepare = Callable[[Config], None]
log = logging.getLogger("officesync.service")

# Written at the first start when %ProgramData%\OfficeSync\config.toml is absent, so the MSI
# never owns (overwrites, removes) the admin's configuration.
DEFAULT_CONFIG = """\
# OfficeSync node configuration, written by the service at its first start. Your edits
# survive upgrades and uninstall. Every key is explained in config.example.toml. Most changes
# apply while the service runs; `officesync status` says when a restart is needed.

[node]
# name = "office-primary"    # default: this computer's name
data_dir = "data"            # relative to this file: %ProgramData%\\OfficeSync\\data
language = "vi"

[lan]
host = "0.0.0.0"
port = 8470
tls = false

[control]
host = "127.0.0.1"
port = 8471

[cloud]
# url = "https://hub.example.vn"

[discovery]
enabled = true

[log]
level = "INFO"
file = "data/officesync.log"
"""


def program_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """``%ProgramData%\\OfficeSync``: config, data dir and logs of the service."""
    env = os.environ if env is None else env
    return Path(env.get("ProgramData") or env.get("PROGRAMDATA") or r"C:\ProgramData") / (
        "OfficeSync"
    )


def split_config_arg(
    argv: Sequence[str], env: Mapping[str, str] | None = None
) -> tuple[Path, list[str]]:
    """Take ``--config PATH`` (or ``--config=PATH``) out of ``argv``.

    Falls back to ``OFFICESYNC_CONFIG`` and then ``%ProgramData%\\OfficeSync\\config.toml``.
    Returns the config path and the remaining arguments.
    """
    env = os.environ if env is None else env
    rest: list[str] = []
    found: str | None = None
    args = iter(argv)
    for arg in args:
        if arg == "--config":
            found = next(args, None)
        elif arg.startswith("--config="):
            found = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    if found:
        return Path(found), rest
    if env.get("OFFICESYNC_CONFIG"):
        return Path(env["OFFICESYNC_CONFIG"]), rest
    return program_data_dir(env) / "config.toml", rest


def ensure_config(path: Path) -> bool:
    """Write ``DEFAULT_CONFIG`` at ``path`` when there is no config yet; True if written."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DEFAULT_CONFIG, encoding="utf-8")
    return True


def lock_down_command(data_dir: Path) -> list[str]:
    """``icacls`` making ``data_dir`` readable by SYSTEM and Administrators only (the control
    token and the hub token file live there; ProgramData lets every user read by default)."""
    return [
        "icacls",
        str(data_dir),
        "/inheritance:r",
        "/grant:r",
        "*S-1-5-18:(OI)(CI)F",  # LocalSystem, the service account
        "*S-1-5-32-544:(OI)(CI)F",  # Administrators
    ]


def lock_down_data_dir(config: Config) -> None:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(lock_down_command(config.data_dir), capture_output=True, text=True)
    if done.returncode != 0:
        log.warning("could not restrict %s: %s", config.data_dir, done.stderr.strip())


async def _run_node(config: Config, stop: asyncio.Event) -> None:
    from agent.app import run_node  # the composition root; imported late on purpose

    await run_node(config, stop=stop)


async def serve_until_stopped(
    config_path: Path,
    stop: StopRequest,
    runner: NodeRunner | None = None,
    prepare: Prepare | None = None,
) -> None:
    """Load the config (writing the default one first if there is none), ``prepare`` the
    machine for it, and run the node until ``stop`` is requested (from any thread)."""
    if ensure_config(config_path):
        log.info("wrote the default config %s", config_path)
    config = load_config(config_path)
    if prepare is not None:
        await asyncio.to_thread(prepare, config)
    event = stop.bind()
    await (runner or _run_node)(config, event)


if HAVE_PYWIN32:  # pragma: no cover - exercised on Windows only

    class OfficeSyncService(win32serviceutil.ServiceFramework):
        _svc_name_ = SERVICE_NAME
        _svc_display_name_ = DISPLAY_NAME
        _svc_description_ = DESCRIPTION
        config_path: Path = program_data_dir() / "config.toml"

        def __init__(self, args: list[str]) -> None:
            super().__init__(args)
            self._stop = StopRequest()

        # pywin32's method names
        def GetAcceptedControls(self) -> int:
            # types-pywin32 leaves this method unannotated
            accepted: int = super().GetAcceptedControls()  # type: ignore[no-untyped-call]
            return accepted | win32service.SERVICE_ACCEPT_SHUTDOWN

        def SvcStop(self) -> None:
            self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING, waitHint=STOP_WAIT_HINT_MS)
            self._stop.request("service stop")

        def SvcShutdown(self) -> None:
            self.SvcStop()

        def SvcDoRun(self) -> None:
            handler = logging.handlers.NTEventLogHandler(SERVICE_NAME)
            handler.setLevel(logging.WARNING)
            handler.setFormatter(LineFormatter("%(message)s%(dataset_tag)s"))
            logging.getLogger().addHandler(rate_limit(handler))  # no Event Log flood
            servicemanager.LogInfoMsg(f"{SERVICE_NAME}: starting with {self.config_path}")
            try:
                asyncio.run(
                    serve_until_stopped(self.config_path, self._stop, None, lock_down_data_dir)
                )
            except Exception:
                log.exception("the node stopped with an error")
                raise
            servicemanager.LogInfoMsg(f"{SERVICE_NAME}: stopped ({self._stop.reason})")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``officesync-service.exe``."""
    argv = list(sys.argv if argv is None else argv)
    if not HAVE_PYWIN32:
        print(
            "Dịch vụ Windows cần pywin32 và chỉ chạy trên Windows. / "
            "The Windows service needs pywin32 and runs on Windows only.",
            file=sys.stderr,
        )
        return 2
    config_path, rest = split_config_arg(argv)  # pragma: no cover - Windows only
    OfficeSyncService.config_path = config_path
    if len(rest) <= 1:  # started by the Service Control Manager
        servicemanager.Initialize()
        servicemanager.PrepareToHostSingle(OfficeSyncService)
        # types-pywin32 leaves this function unannotated
        servicemanager.StartServiceCtrlDispatcher()  # type: ignore[no-untyped-call]
        return 0
    win32serviceutil.HandleCommandLine(OfficeSyncService, argv=rest)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
