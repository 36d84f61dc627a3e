"""The node's own systemd notifications: READY/STOPPING/WATCHDOG datagrams, and silence
outside systemd."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.service.sdnotify import (
    SystemdNotifier,
    socket_address,
    watchdog_interval,
    watchdog_loop,
)


@pytest.fixture
def manager_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    yield sock, path
    sock.close()


async def _receive(sock: socket.socket) -> str:
    loop = asyncio.get_running_loop()
    data = await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout=5)
    return data.decode()


def test_address_forms() -> None:
    assert socket_address(None) is None
    assert socket_address("") is None
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@abstract/notify") == "\0abstract/notify"
    assert socket_address("vsock:2:1234") is None


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}, pid=42) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 42) == 15.0
    # meant for another process, switched off, or garbage: no pings
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"}, 42) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}, 42) is None
    assert watchdog_interval({"WATCHDOG_USEC": "x"}, 42) is None
    assert watchdog_interval({}, 42) is None


def test_outside_systemd_everything_is_a_noop() -> None:
    notifier = SystemdNotifier.from_env({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.stopping() is False
    assert notifier.watchdog() is False


async def test_ready_and_stopping_reach_the_manager(
    manager_socket: tuple[socket.socket, str],
) -> None:
    sock, path = manager_socket
    notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": path})
    assert notifier.ready(status="serving 2 datasets")
    ready = (await _receive(sock)).split("\n")
    assert "READY=1" in ready
    assert f"MAINPID={os.getpid()}" in ready
    assert "STATUS=serving 2 datasets" in ready
    assert notifier.stopping()
    assert (await _receive(sock)).split("\n") == ["STOPPING=1"]
    notifier.close()


async def test_abstract_socket_is_supported() -> None:
    name = f"officesync-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.setblocking(False)
    try:
        notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notifier.status("hello")
        assert await _receive(sock) == "STATUS=hello"
        notifier.close()
    finally:
        sock.close()


async def test_watchdog_loop_pings_until_cancelled(
    manager_socket: tuple[socket.socket, str],
) -> None:
    sock, path = manager_socket
    notifier = SystemdNotifier(socket_address(path))
    task = asyncio.create_task(watchdog_loop(notifier, interval=0.01))
    for _ in range(3):
        assert await _receive(sock) == "WATCHDOG=1"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    notifier.close()


async def test_watchdog_loop_returns_at_once_without_systemd() -> None:
    await asyncio.wait_for(watchdog_loop(SystemdNotifier(None), interval=0.01), timeout=1)
    await asyncio.wait_for(watchdog_loop(SystemdNotifier("/nonexistent"), interval=None), 1)


def test_a_vanished_manager_does_not_raise(tmp_path: Path) -> None:
    notifier = SystemdNotifier(str(tmp_path / "gone"))
    assert notifier.enabled
    assert notifier.watchdog() is False
