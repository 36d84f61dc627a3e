"""A private D-Bus session bus and a notification daemon that records what it is sent.

``session_bus()`` runs Debian's ``dbus-daemon --session`` on a socket of its own (never the
user's); :class:`NotificationDaemon` owns ``org.freedesktop.Notifications`` on it, as a
desktop's notification daemon does, from a GLib main loop on a thread of the test process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

NOTIFY_XML = """
<node>
  <interface name="org.freedesktop.Notifications">
    <method name="Notify">
      <arg type="s" direction="in"/><arg type="u" direction="in"/>
      <arg type="s" direction="in"/><arg type="s" direction="in"/>
      <arg type="s" direction="in"/><arg type="as" direction="in"/>
      <arg type="a{sv}" direction="in"/><arg type="i" direction="in"/>
      <arg type="u" direction="out"/>
    </method>
    <method name="GetCapabilities"><arg type="as" direction="out"/></method>
    <method name="CloseNotification"><arg type="u" direction="in"/></method>
  </interface>
</node>
"""


@contextmanager
def session_bus() -> Iterator[str]:
    """A fresh session bus; yields its address. Skips when dbus-daemon is missing."""
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon is not installed (scripts/system-deps.sh installs it)")
    read_addr, write_addr = os.pipe()
    read_pid, write_pid = os.pipe()
    subprocess.run(
        ["dbus-daemon", "--session", "--fork", "--nopidfile",
         f"--print-address={write_addr}", f"--print-pid={write_pid}"],
        pass_fds=(write_addr, write_pid), check=True, timeout=10,
    )
    os.close(write_addr)
    os.close(write_pid)
    with os.fdopen(read_addr) as addr, os.fdopen(read_pid) as pid:
        address, bus_pid = addr.readline().strip(), int(pid.readline().strip())
    try:
        yield address
    finally:
        os.kill(bus_pid, signal.SIGTERM)


@dataclass(frozen=True)
class Note:
    app: str
    title: str
    body: str


class NotificationDaemon:
    """Owns ``org.freedesktop.Notifications`` on ``address`` and records each Notify."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.notes: list[Note] = []
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: Any = None
        self._thread = threading.Thread(target=self._serve, name="fake-notifyd", daemon=True)

    def __enter__(self) -> NotificationDaemon:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("the fake notification daemon did not start")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.quit()
        self._thread.join(5)

    def _serve(self) -> None:
        from gi.repository import Gio, GLib

        context = GLib.MainContext.new()
        context.push_thread_default()
        try:
            flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
                     | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
            conn = Gio.DBusConnection.new_for_address_sync(self.address, flags, None, None)
            info = Gio.DBusNodeInfo.new_for_xml(NOTIFY_XML).interfaces[0]
            conn.register_object("/org/freedesktop/Notifications", info, self._call, None, None)
            reply = conn.call_sync(
                "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                "RequestName", GLib.Variant("(su)", ("org.freedesktop.Notifications", 4)),
                GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, 5000, None)
            assert reply.unpack()[0] == 1, "another notification daemon owns the name"
            self._loop = GLib.MainLoop.new(context, False)
        except BaseException as err:  # reported by __enter__
            self._error = err
            self._ready.set()
            return
        self._ready.set()
        self._loop.run()
        context.pop_thread_default()

    def _call(self, _conn: Any, _sender: str, _path: str, _iface: str, method: str,
              params: Any, invocation: Any) -> None:
        from gi.repository import GLib

        if method == "Notify":
            app, _replaces, _icon, title, body, _actions, _hints, _timeout = params.unpack()
            self.notes.append(Note(app, title, body))
            invocation.return_value(GLib.Variant("(u)", (len(self.notes),)))
        elif method == "GetCapabilities":
            invocation.return_value(GLib.Variant("(as)", (["body"],)))
        else:
            invocation.return_value(None)
