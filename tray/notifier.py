"""Desktop notifications through ``org.freedesktop.Notifications`` on the session bus.

pystray's GTK backends send notifications from their main-loop idle callbacks and drop any
error silently, and its xorg backend has none: so the tray sends its own, with Gio (part of
PyGObject), from the worker thread (a ``GDBusConnection`` is thread-safe and ``call_sync``
needs no main loop). Without a session bus or a notification daemon, :meth:`notify` answers
False and the shell keeps the note in the log only (it always logs it).
"""

from __future__ import annotations

import logging
from typing import Any, Final

log = logging.getLogger("officesync.tray")

BUS_NAME: Final = "org.freedesktop.Notifications"
OBJECT_PATH: Final = "/org/freedesktop/Notifications"
APP_NAME: Final = "OfficeSync"
CALL_TIMEOUT_MS: Final = 3000
EXPIRE_DEFAULT: Final = -1


class DesktopNotifier:
    """One connection to the session bus, opened lazily (and again after a failure)."""

    def __init__(self, address: str | None = None) -> None:
        self._address = address  # None: the session bus of this login
        self._bus: Any = None
        self.last_id = 0  # the daemon's id of the last bubble
        self._broken = False

    def _connect(self) -> Any:
        from gi.repository import Gio

        if self._address is None:
            return Gio.bus_get_sync(Gio.BusType.SESSION, None)
        flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
                 | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
        return Gio.DBusConnection.new_for_address_sync(self._address, flags, None, None)

    def notify(self, title: str, body: str, icon_path: str = "") -> bool:
        """Shows one bubble; False when there is no desktop to show it (said once in the log)."""
        try:
            from gi.repository import GLib

            if self._bus is None:
                self._bus = self._connect()
            reply = self._bus.call_sync(
                BUS_NAME, OBJECT_PATH, BUS_NAME, "Notify",
                GLib.Variant("(susssasa{sv}i)", (
                    APP_NAME, 0, icon_path, title, body, [], {}, EXPIRE_DEFAULT)),
                GLib.VariantType("(u)"), 0, CALL_TIMEOUT_MS, None,
            )
        except Exception as err:  # no gi, no session bus, no notification daemon
            if not self._broken:
                log.warning("desktop notifications unavailable (%s); they go to the log only",
                            err)
            self._broken, self._bus = True, None
            return False
        self.last_id = int(reply.unpack()[0])
        if self._broken:
            log.info("desktop notifications work again")
        self._broken = False
        return True
