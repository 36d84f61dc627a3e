"""The platform-neutral half of the Windows service: where it finds its config, and a stop
requested from another thread (the service-control thread) ends the node cleanly."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from agent.config import Config
from agent.service import windows
from agent.service.stop import StopRequest


def test_config_path_from_arguments_env_or_programdata() -> None:
    env = {"ProgramData": r"D:\PD"}
    path, rest = windows.split_config_arg(["svc.exe", "--config", r"E:\o.toml", "debug"], env)
    assert path == Path(r"E:\o.toml")
    assert rest == ["svc.exe", "debug"]
    path, rest = windows.split_config_arg(["svc.exe", "--config=x.toml"], env)
    assert (path, rest) == (Path("x.toml"), ["svc.exe"])
    path, _ = windows.split_config_arg(["svc.exe"], {**env, "OFFICESYNC_CONFIG": "/c.toml"})
    assert path == Path("/c.toml")
    path, _ = windows.split_config_arg(["svc.exe"], env)
    assert path == Path(r"D:\PD") / "OfficeSync" / "config.toml"


def test_main_without_pywin32_explains_itself(capsys: object) -> None:
    if windows.HAVE_PYWIN32:  # pragma: no cover - Windows
        return
    assert windows.main(["svc.exe"]) == 2


async def test_stop_from_the_service_thread_ends_the_node(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text('[node]\nname = "svc-test"\n', encoding="utf-8")
    stop = StopRequest()
    seen: dict[str, object] = {}
    started = asyncio.Event()

    async def fake_node(config: Config, event: asyncio.Event) -> None:
        seen["name"] = config.node.name
        started.set()
        await event.wait()
        seen["stopped_cleanly"] = True

    node = asyncio.create_task(windows.serve_until_stopped(config_file, stop, fake_node))
    await asyncio.wait_for(started.wait(), timeout=5)
    # SvcStop runs on the service-control thread, not on the loop.
    thread = threading.Thread(target=stop.request, args=("service stop",))
    thread.start()
    await asyncio.wait_for(node, timeout=5)
    thread.join()
    assert seen == {"name": "svc-test", "stopped_cleanly": True}
    assert stop.reason == "service stop"


async def test_stop_requested_before_the_loop_runs_is_not_lost() -> None:
    stop = StopRequest()
    stop.request("early")
    assert stop.requested
    event = stop.bind()
    await asyncio.wait_for(event.wait(), timeout=1)


async def test_repeated_requests_keep_the_first_reason() -> None:
    stop = StopRequest()
    stop.bind()
    stop.request("signal SIGTERM")
    stop.request("second")
    await asyncio.wait_for(stop.wait(), timeout=1)
    assert stop.reason == "signal SIGTERM"


async def test_first_start_writes_a_valid_default_config_and_keeps_it_after(
    tmp_path: Path,
) -> None:
    config_file = tmp_path / "ProgramData" / "OfficeSync" / "config.toml"
    prepared: list[Path] = []

    async def fake_node(config: Config, event: asyncio.Event) -> None:
        assert config.data_dir == config_file.parent / "data"
        assert config.log.file is not None

    stop = StopRequest()
    await windows.serve_until_stopped(
        config_file, stop, fake_node, lambda c: prepared.append(c.data_dir)
    )
    assert config_file.read_text(encoding="utf-8") == windows.DEFAULT_CONFIG
    assert prepared == [config_file.parent / "data"]
    _edit(config_file, '[node]\nname = "edited"\n')
    await windows.serve_until_stopped(config_file, StopRequest(), fake_node_keeps_name)
    assert config_file.read_text(encoding="utf-8") == '[node]\nname = "edited"\n'


def _edit(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


async def fake_node_keeps_name(config: Config, event: asyncio.Event) -> None:
    assert config.node.name == "edited"


def test_data_dir_lock_down_keeps_only_system_and_administrators() -> None:
    data = r"C:\ProgramData\OfficeSync\data"
    command = windows.lock_down_command(Path(data))
    assert command[:4] == ["icacls", data, "/inheritance:r", "/grant:r"]
    assert command[4:] == ["*S-1-5-18:(OI)(CI)F", "*S-1-5-32-544:(OI)(CI)F"]
