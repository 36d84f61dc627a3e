"""Which pystray backend the tray uses, chosen at start from what the desktop offers.

pystray picks its backend once, on import, from ``PYSTRAY_BACKEND`` (else appindicator, then
gtk, then xorg on Linux). Left to itself it takes AppIndicator even on a desktop with only an
XEmbed tray, or falls to xorg (no menu at all) when the GTK bindings are missing. So the tray
looks first (:func:`probe_desktop`, I/O) and decides with :func:`choose_backend` (pure):

- a StatusNotifier host on the session bus (KDE, GNOME with the AppIndicator extension,
  XFCE's, …) and the AppIndicator typelib: ``appindicator``;
- an XEmbed system tray (``_NET_SYSTEM_TRAY_S<n>`` owned: trayer, stalonetray, older panels):
  ``gtk`` (a ``Gtk.StatusIcon`` with a real menu);
- neither seen yet (the panel may start after the tray): ``appindicator`` when its typelib is
  there (it falls back to an XEmbed icon by itself), else ``gtk``;
- no GTK bindings: ``xorg``, which has **no menu**: the log and ``officesync tray --help``
  say so, and a click opens the dashboard instead.

``PYSTRAY_BACKEND`` set by the user always wins. On Windows and macOS pystray's own choice is
kept.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

log = logging.getLogger("officesync.tray")

ENV: Final = "PYSTRAY_BACKEND"
MENU_LESS: Final = frozenset({"xorg", "dummy"})
SNI_WATCHER: Final = "org.kde.StatusNotifierWatcher"
DBUS_TIMEOUT_MS: Final = 1000


@dataclass(frozen=True)
class Desktop:
    """What this session offers a tray icon."""

    platform: str = "linux"
    override: str | None = None  # PYSTRAY_BACKEND as the user set it
    gtk: bool = False  # PyGObject and the Gtk 3 typelib
    appindicator: bool = False  # the AppIndicator3 / AyatanaAppIndicator3 typelib
    sni_host: bool = False  # a StatusNotifier host registered on the session bus
    xembed_tray: bool = False  # an X11 system-tray manager owns _NET_SYSTEM_TRAY_S<n>


@dataclass(frozen=True)
class BackendChoice:
    name: str | None  # None: pystray's own choice (Windows, macOS)
    has_menu: bool
    reason: str  # for the log


def choose_backend(desktop: Desktop) -> BackendChoice:
    """The backend for ``desktop`` (pure; see the module docstring for the rules)."""
    if desktop.override:
        name = desktop.override
        return BackendChoice(name, name not in MENU_LESS, f"{ENV}={name}")
    if not desktop.platform.startswith("linux") and not desktop.platform.startswith("freebsd"):
        return BackendChoice(None, True, f"the platform's own backend ({desktop.platform})")
    if not desktop.gtk:
        return BackendChoice("xorg", False, "no GTK bindings (PyGObject / gir1.2-gtk-3.0)")
    if desktop.sni_host and desktop.appindicator:
        return BackendChoice("appindicator", True, "a StatusNotifier host is running")
    if desktop.xembed_tray:
        return BackendChoice("gtk", True, "an XEmbed system tray is running")
    if desktop.appindicator:
        return BackendChoice("appindicator", True, "no tray seen yet; AppIndicator waits for one")
    return BackendChoice("gtk", True, "no tray seen yet; the GTK status icon waits for one")


# --------------------------------------------------------------------------- probes (I/O)


def probe_desktop(env: Mapping[str, str] | None = None) -> Desktop:
    """Looks at this session; never raises (what cannot be probed counts as absent)."""
    env = os.environ if env is None else env
    override = env.get(ENV) or None
    if override or not sys.platform.startswith(("linux", "freebsd")):
        return Desktop(sys.platform, override)
    gtk = _has_typelib(("Gtk", "3.0"))
    appindicator = gtk and _has_typelib(("AppIndicator3", "0.1"), ("AyatanaAppIndicator3", "0.1"))
    return Desktop(
        sys.platform,
        None,
        gtk=gtk,
        appindicator=appindicator,
        sni_host=gtk and _sni_host_registered(),
        xembed_tray=bool(env.get("DISPLAY")) and _xembed_tray_running(),
    )


def _has_typelib(*candidates: tuple[str, str]) -> bool:
    try:
        import gi
    except ImportError:
        return False
    for namespace, version in candidates:
        try:
            gi.require_version(namespace, version)
            return True
        except ValueError:
            continue
    return False


def _sni_host_registered(bus: Any = None) -> bool:
    """Whether a StatusNotifier host is registered with the watcher on ``bus`` (a Gio
    connection; default: this login's session bus)."""
    try:
        from gi.repository import Gio, GLib

        bus = bus or Gio.bus_get_sync(Gio.BusType.SESSION, None)
        owned = bus.call_sync(
            "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
            "NameHasOwner", GLib.Variant("(s)", (SNI_WATCHER,)), GLib.VariantType("(b)"),
            Gio.DBusCallFlags.NONE, DBUS_TIMEOUT_MS, None,
        ).unpack()[0]
        if not owned:
            return False
        host = bus.call_sync(
            SNI_WATCHER, "/StatusNotifierWatcher", "org.freedesktop.DBus.Properties", "Get",
            GLib.Variant("(ss)", (SNI_WATCHER, "IsStatusNotifierHostRegistered")),
            GLib.VariantType("(v)"), Gio.DBusCallFlags.NONE, DBUS_TIMEOUT_MS, None,
        ).unpack()[0]
        return bool(host)
    except Exception as err:  # no session bus, or a watcher that does not answer
        log.debug("no StatusNotifier host: %s", err)
        return False


def _xembed_tray_running() -> bool:
    try:
        from Xlib import X, display

        dpy = display.Display()
    except Exception as err:  # no X server (Wayland only) or no python-xlib
        log.debug("no X display: %s", err)
        return False
    try:
        atom = dpy.intern_atom(f"_NET_SYSTEM_TRAY_S{dpy.get_default_screen()}")
        return bool(dpy.get_selection_owner(atom) != X.NONE)
    except Exception as err:
        log.debug("no XEmbed tray: %s", err)
        return False
    finally:
        dpy.close()


def select_backend(env: MutableMapping[str, str] | None = None) -> BackendChoice:
    """Probe, choose and set ``PYSTRAY_BACKEND`` so that importing pystray loads the choice.

    Must run before anything imports pystray."""
    env = os.environ if env is None else env
    choice = choose_backend(probe_desktop(env))
    if choice.name is not None:
        env[ENV] = choice.name
    log.info("tray backend: %s (%s)", choice.name or "default", choice.reason)
    return choice
