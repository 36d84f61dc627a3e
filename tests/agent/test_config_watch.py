"""Live configuration: edits of the config file reach the node, invalid ones are refused, and
``diff_config`` says what applies live and what needs a restart."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent.config import Config, load_config
from agent.config_watch import ConfigWatcher, _Handler, diff_config

DEADLINE = 10.0


def _toml(name: str, *, port: int = 8470, datasets: tuple[str, ...] = ("cty-abc",)) -> str:
    tables = "".join(f'[[datasets]]\nid = "{d}"\n' for d in datasets)
    return f'[node]\nname = "{name}"\n[lan]\nport = {port}\n{tables}'


def _save(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


@dataclass
class Recorder:
    changes: asyncio.Queue[tuple[Config, Config]] = field(default_factory=asyncio.Queue)
    refused: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    fail_next: bool = False

    async def on_change(self, old: Config, new: Config) -> None:
        await self.changes.put((old, new))
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the node could not apply it")

    async def on_refused(self, reason: str) -> None:
        await self.refused.put(reason)

    async def next_change(self) -> tuple[Config, Config]:
        return await asyncio.wait_for(self.changes.get(), timeout=DEADLINE)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(_toml("start"), encoding="utf-8")
    return path


@pytest.fixture
async def watching(config_file: Path) -> AsyncIterator[tuple[ConfigWatcher, Recorder]]:
    recorder = Recorder()
    watcher = ConfigWatcher(
        config_file,
        load_config(config_file),
        recorder.on_change,
        debounce_s=0.3,
        on_refused=recorder.on_refused,
    )
    await watcher.start()
    yield watcher, recorder
    await watcher.stop()


async def test_atomic_replace_is_seen(
    config_file: Path, watching: tuple[ConfigWatcher, Recorder]
) -> None:
    watcher, recorder = watching
    temp = config_file.with_name(".config.toml.tmp")
    _save(temp, _toml("atomic"))
    os.replace(temp, config_file)
    old, new = await recorder.next_change()
    assert (old.node.name, new.node.name) == ("start", "atomic")
    assert watcher.current.node.name == "atomic"


async def test_in_place_write_is_seen(
    config_file: Path, watching: tuple[ConfigWatcher, Recorder]
) -> None:
    _, recorder = watching
    _save(config_file, _toml("in-place"))
    _, new = await recorder.next_change()
    assert new.node.name == "in-place"


async def test_a_burst_of_saves_is_one_change(
    config_file: Path, watching: tuple[ConfigWatcher, Recorder]
) -> None:
    _, recorder = watching
    for i in range(6):  # within one loop tick: far inside the 300 ms debounce
        _save(config_file, _toml(f"burst-{i}"))
    old, new = await recorder.next_change()
    assert (old.node.name, new.node.name) == ("start", "burst-5")
    # The next change follows burst-5 directly: nothing from the burst came in between.
    _save(config_file, _toml("after"))
    old, new = await recorder.next_change()
    assert (old.node.name, new.node.name) == ("burst-5", "after")
    assert recorder.changes.empty()


async def test_an_invalid_file_is_refused_and_the_running_config_stays(
    config_file: Path, watching: tuple[ConfigWatcher, Recorder]
) -> None:
    watcher, recorder = watching
    _save(config_file, _toml("bad", port=99999))
    reason = await asyncio.wait_for(recorder.refused.get(), timeout=DEADLINE)
    assert "lan.port" in reason
    assert watcher.current.node.name == "start"
    assert watcher.last_error == reason
    _save(config_file, "[node\nname=")
    assert "TOML" in await asyncio.wait_for(recorder.refused.get(), timeout=DEADLINE)
    _save(config_file, _toml("fixed"))
    old, new = await recorder.next_change()
    assert (old.node.name, new.node.name) == ("start", "fixed")
    assert watcher.last_error is None


async def test_a_failing_handler_does_not_stop_the_watcher(
    config_file: Path, watching: tuple[ConfigWatcher, Recorder]
) -> None:
    _, recorder = watching
    recorder.fail_next = True
    _save(config_file, _toml("first"))
    await recorder.next_change()
    _save(config_file, _toml("second"))
    old, new = await recorder.next_change()
    assert (old.node.name, new.node.name) == ("first", "second")


def test_an_exception_on_the_observer_thread_is_contained(tmp_path: Path) -> None:
    target = tmp_path / "config.toml"

    def poke() -> None:
        raise RuntimeError("loop is gone")

    class Event:
        is_directory = False
        event_type = "modified"
        src_path = str(target)

    _Handler(target, poke).on_any_event(Event())  # type: ignore[arg-type]


def test_diff_lists_live_and_restart_changes(tmp_path: Path) -> None:
    old = Config.model_validate(
        {"node": {"name": "a"}, "datasets": [{"id": "cty-abc"}, {"id": "cty-x"}]}
    )
    new = Config.model_validate(
        {
            "node": {"name": "a", "language": "en"},
            "lan": {"port": 9000, "tls": True},
            "cloud": {"url": "http://127.0.0.1:8480", "probe_interval_s": 2},
            "log": {"level": "DEBUG"},
            "datasets": [{"id": "cty-abc"}, {"id": "cty-new"}],
        }
    )
    diff = diff_config(old, new)
    assert set(diff.live) == {
        "node.language",
        "cloud.url",
        "cloud.probe_interval_s",
        "log.level",
        "datasets",
    }
    assert set(diff.restart) == {"lan.port", "lan.tls"}
    assert diff.datasets_added == ("cty-new",)
    assert diff.datasets_removed == ("cty-x",)
    assert diff.needs_restart
    assert "lan.port" in diff.messages()["vi"] and "lan.port" in diff.messages()["en"]


def test_diff_of_equal_configs_is_empty() -> None:
    diff = diff_config(Config(), Config())
    assert not diff.changed and not diff.needs_restart and diff.messages() == {}


def test_data_dir_and_control_changes_need_a_restart(tmp_path: Path) -> None:
    old = Config.model_validate({"node": {"data_dir": str(tmp_path / "a")}})
    new = Config.model_validate(
        {"node": {"data_dir": str(tmp_path / "b")}, "control": {"port": 9999}}
    )
    assert set(diff_config(old, new).restart) == {"node.data_dir", "control.port"}
