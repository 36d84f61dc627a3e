"""One process per data dir (issue 8, defect 4): the OS lock in ``node.lock``, and two real
``officesync serve`` processes on one config — the second exits at once, naming the first,
and leaves the first one's files alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.runtime import (
    LOCK_FILE,
    RUNTIME_FILE,
    DataDirBusy,
    acquire_data_dir,
    hold_data_dir,
    release_data_dir,
)
from tests.e2e.procs import NO_KEYRING, NodeProcess, run_cli, write_node_config

_HOLDER = """
import sys
from pathlib import Path
from agent.runtime import acquire_data_dir
acquire_data_dir(Path(sys.argv[1]))
print("locked", flush=True)
sys.stdin.read()  # until the test closes stdin (or kills this process)
"""


def _holder(data_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(data_dir)], text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_the_lock_is_reentrant_in_one_process(tmp_path: Path) -> None:
    with hold_data_dir(tmp_path), hold_data_dir(tmp_path):  # the demo locks, then run_node
        assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())
    acquire_data_dir(tmp_path)  # released by both exits: taken again at once
    release_data_dir(tmp_path)


def test_another_process_holding_the_dir_is_named_and_its_death_frees_it(
    tmp_path: Path,
) -> None:
    holder = _holder(tmp_path)
    try:
        with pytest.raises(DataDirBusy) as busy:
            acquire_data_dir(tmp_path)
        assert busy.value.pid == holder.pid
        assert busy.value.data_dir == tmp_path.resolve()
    finally:
        holder.kill()  # SIGKILL: no cleanup code runs, the OS drops the lock anyway
        holder.wait(timeout=10)
    with hold_data_dir(tmp_path):
        pass


def test_a_second_serve_on_the_same_data_dir_exits_at_once_naming_the_first(
    tmp_path: Path,
) -> None:
    config = write_node_config(tmp_path, language="en")
    first = NodeProcess(config, env=NO_KEYRING)
    first.start()
    try:
        data_dir = first.data_dir
        runtime_before = (data_dir / RUNTIME_FILE).read_text()
        for lang, words in (("en", "Another OfficeSync process"),
                            ("vi", "Một tiến trình OfficeSync khác")):
            started = time.monotonic()
            second = run_cli("serve", "--config", str(config), "--lang", lang, env=NO_KEYRING,
                             timeout=20)
            took = time.monotonic() - started
            assert second.returncode == 3, second.stderr
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1, second.stderr
            assert words in lines[0]
            assert str(first.pid) in lines[0] and first.lan_url in lines[0]
            assert took < 10
        # The first one's files are untouched and it still serves.
        assert (data_dir / RUNTIME_FILE).read_text() == runtime_before
        assert json.loads(runtime_before)["pid"] == first.pid
        status = run_cli("status", "--config", str(config), "--json", env=NO_KEYRING)
        assert status.returncode == 0, status.stderr
        assert first.running()
    finally:
        assert first.terminate() == 0
    assert not (first.data_dir / RUNTIME_FILE).exists()  # the first one cleans up its own
