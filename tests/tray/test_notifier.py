"""Desktop notifications over a real D-Bus session bus (a private dbus-daemon) to a daemon
that records them; without a bus or a daemon, the tray falls back to the log."""

from __future__ import annotations

import logging

import pytest

from tests.tray.desktop import NotificationDaemon, session_bus
from tray.notifier import DesktopNotifier

pytest.importorskip("gi", reason="PyGObject is not installed (pip install '.[tray]')")


def test_a_note_reaches_the_desktops_daemon_with_its_diacritics() -> None:
    with session_bus() as address, NotificationDaemon(address) as daemon:
        notifier = DesktopNotifier(address)
        assert notifier.notify("OfficeSync: Làm việc offline", "Đã gửi 5 bản ghi lên Cloud.")
        assert notifier.notify("second", "two")
    assert [(n.app, n.title, n.body) for n in daemon.notes] == [
        ("OfficeSync", "OfficeSync: Làm việc offline", "Đã gửi 5 bản ghi lên Cloud."),
        ("OfficeSync", "second", "two"),
    ]
    assert notifier.last_id == 2


def test_no_daemon_on_the_bus_answers_false_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with session_bus() as address:
        notifier = DesktopNotifier(address)
        with caplog.at_level(logging.WARNING, logger="officesync.tray"):
            assert notifier.notify("t", "m") is False
            assert notifier.notify("t", "m") is False
        with NotificationDaemon(address) as daemon:  # a daemon that starts later is used
            assert notifier.notify("t", "later") is True
    assert caplog.text.count("desktop notifications unavailable") == 1
    assert [n.body for n in daemon.notes] == ["later"]


def test_no_session_bus_answers_false() -> None:
    assert DesktopNotifier("unix:path=/nonexistent/bus").notify("t", "m") is False
