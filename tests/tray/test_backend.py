"""The tray's backend choice at start (pure), and the probes on a machine without a desktop."""

from __future__ import annotations

from typing import Any

import pytest

from tests.tray.desktop import StatusNotifierWatcher, session_bus
from tray.backend import (
    BackendChoice,
    Desktop,
    _sni_host_registered,
    choose_backend,
    probe_desktop,
    select_backend,
)


@pytest.mark.parametrize(
    ("desktop", "name", "has_menu"),
    [
        # a StatusNotifier host (KDE, GNOME + AppIndicator extension): AppIndicator
        (Desktop(gtk=True, appindicator=True, sni_host=True), "appindicator", True),
        (Desktop(gtk=True, appindicator=True, sni_host=True, xembed_tray=True),
         "appindicator", True),
        # an XEmbed tray (trayer, stalonetray, older panels): the GTK status icon
        (Desktop(gtk=True, appindicator=True, xembed_tray=True), "gtk", True),
        (Desktop(gtk=True, xembed_tray=True), "gtk", True),
        # a host but no AppIndicator typelib, and an XEmbed tray too: GTK still has the menu
        (Desktop(gtk=True, sni_host=True, xembed_tray=True), "gtk", True),
        # nothing seen yet (the panel starts after the tray): one that waits for a tray
        (Desktop(gtk=True, appindicator=True), "appindicator", True),
        (Desktop(gtk=True), "gtk", True),
        # no GTK bindings at all: xorg, the last resort, without a menu
        (Desktop(xembed_tray=True), "xorg", False),
        (Desktop(appindicator=True, sni_host=True), "xorg", False),
        # the user's PYSTRAY_BACKEND always wins
        (Desktop(override="xorg", gtk=True, appindicator=True, sni_host=True), "xorg", False),
        (Desktop(override="gtk"), "gtk", True),
        # other platforms: pystray's own backend
        (Desktop(platform="win32"), None, True),
        (Desktop(platform="darwin"), None, True),
    ],
)
def test_choose_backend(desktop: Desktop, name: str | None, has_menu: bool) -> None:
    choice = choose_backend(desktop)
    assert (choice.name, choice.has_menu) == (name, has_menu)
    assert choice.reason


def test_probe_without_a_display_or_session_bus_finds_no_tray() -> None:
    desktop = probe_desktop({"DISPLAY": "", "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent"})
    assert not desktop.xembed_tray and desktop.override is None


def test_probe_keeps_the_users_override_without_probing() -> None:
    assert probe_desktop({"PYSTRAY_BACKEND": "xorg"}).override == "xorg"


def test_select_sets_the_env_pystray_reads() -> None:
    env = {"PYSTRAY_BACKEND": "gtk"}
    assert select_backend(env) == BackendChoice("gtk", True, "PYSTRAY_BACKEND=gtk")
    assert env["PYSTRAY_BACKEND"] == "gtk"


def _connect(address: str) -> Any:
    from gi.repository import Gio

    flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
             | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
    return Gio.DBusConnection.new_for_address_sync(address, flags, None, None)


@pytest.mark.parametrize("registered", [True, False])
def test_probe_asks_the_status_notifier_watcher(registered: bool) -> None:
    pytest.importorskip("gi", reason="PyGObject is not installed (pip install '.[tray]')")
    with session_bus() as address:
        bus = _connect(address)
        assert _sni_host_registered(bus) is False  # no watcher on this bus
        with StatusNotifierWatcher(address, registered):
            assert _sni_host_registered(bus) is registered
