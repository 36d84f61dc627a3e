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
from typing import Any, Self

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


class FakeService:
    """Owns ``name`` on the bus at ``address`` and serves one interface (``xml``) at ``path``
    from a GLib main loop on its own thread; subclasses answer ``call`` and ``prop``."""

    name = ""
    path = ""
    xml = ""

    def __init__(self, address: str) -> None:
        self.address = address
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: Any = None
        self._thread = threading.Thread(target=self._serve, name=f"fake-{self.name}",
                                        daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError(f"the fake {self.name} did not start")
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
            info = Gio.DBusNodeInfo.new_for_xml(self.xml).interfaces[0]
            conn.register_object(self.path, info, self._call, self._get, None)
            reply = conn.call_sync(
                "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                "RequestName", GLib.Variant("(su)", (self.name, 4)),
                GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, 5000, None)
            assert reply.unpack()[0] == 1, f"another process owns {self.name}"
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
        invocation.return_value(self.call(method, params.unpack()))

    def _get(self, _conn: Any, _sender: str, _path: str, _iface: str, prop: str) -> Any:
        return self.prop(prop)

    def call(self, method: str, args: tuple[Any, ...]) -> Any:
        return None

    def prop(self, name: str) -> Any:
        return None


class NotificationDaemon(FakeService):
    """``org.freedesktop.Notifications``, recording each Notify."""

    name = "org.freedesktop.Notifications"
    path = "/org/freedesktop/Notifications"
    xml = NOTIFY_XML

    def __init__(self, address: str) -> None:
        super().__init__(address)
        self.notes: list[Note] = []

    def call(self, method: str, args: tuple[Any, ...]) -> Any:
        from gi.repository import GLib

        if method == "Notify":
            app, _replaces, _icon, title, body, _actions, _hints, _timeout = args
            self.notes.append(Note(app, title, body))
            return GLib.Variant("(u)", (len(self.notes),))
        if method == "GetCapabilities":
            return GLib.Variant("(as)", (["body"],))
        return None


WATCHER_XML = """
<node>
  <interface name="org.kde.StatusNotifierWatcher">
    <property name="IsStatusNotifierHostRegistered" type="b" access="read"/>
  </interface>
</node>
"""


class StatusNotifierWatcher(FakeService):
    """``org.kde.StatusNotifierWatcher`` as KDE's panel (or GNOME's extension) runs it."""

    name = "org.kde.StatusNotifierWatcher"
    path = "/StatusNotifierWatcher"
    xml = WATCHER_XML

    def __init__(self, address: str, host_registered: bool) -> None:
        super().__init__(address)
        self.host_registered = host_registered

    def prop(self, name: str) -> Any:
        from gi.repository import GLib

        return GLib.Variant("b", self.host_registered)
