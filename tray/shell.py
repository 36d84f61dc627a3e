"""The thin pystray shell: the icon on the GUI (main) thread, the controller on a worker.

The backend is chosen before pystray is imported (``tray.backend``). With the GTK backends
(gtk, appindicator) the menu is a real ``Gtk.Menu``; notifications go through the desktop's
notification daemon (``tray.notifier``), else the log. The xorg fallback has no menu: a left
click opens the dashboard there (where the toggle is), and the start says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import unicodedata
from collections.abc import Callable
from typing import Any, Final

import pystray

from tray.controller import TrayController
from tray.icons import render_icon
from tray.notes import Notification
from tray.settings import TraySettings, find_dashboard
from tray.texts import text
from tray.viewmodel import MenuAction, MenuEntry, TrayView, action_label, build_view

log = logging.getLogger("officesync.tray")

ICON_SIZE: Final = 64
WORKER_JOIN_S: Final = 5.0

Post = Callable[[MenuAction], None]
Notify = Callable[[str, str], bool]  # (title, message) -> shown on the desktop


def _poster(post: Post, action: MenuAction) -> Callable[[Any, Any], None]:
    def on_click(_icon: Any, _item: Any) -> None:  # pystray inspects the arity: keep 2
        post(action)

    return on_click


def _constant(value: bool) -> Callable[[Any], bool]:
    def checked(_item: Any) -> bool:
        return value

    return checked


def pystray_menu(
    entries: tuple[MenuEntry, ...], post: Post, default: MenuAction | None = None
) -> pystray.Menu:
    """The view-model's menu as pystray items; each item only posts its action.

    ``default`` overrides the view-model's default item (the left-click action)."""
    items = []
    for entry in entries:
        if entry.separator:
            items.append(pystray.Menu.SEPARATOR)
            continue
        action = entry.action
        checked = entry.checked
        items.append(pystray.MenuItem(
            entry.text,
            _poster(post, action) if action is not None else None,
            checked=_constant(checked) if checked is not None else None,
            default=entry.default if default is None else action is default,
            enabled=entry.enabled and action is not None,
        ))
    return pystray.Menu(*items)


class _NoNotifier:
    """Stands in for pystray's D-Bus notifier: the shell sends notifications itself."""

    def notify(self, *_args: Any) -> None:
        pass

    def hide(self) -> None:
        pass


def icon_class() -> Any:
    """pystray's ``Icon`` for the backend chosen at start.

    For the GTK backends, a subclass whose start does not connect pystray's own notifier to
    the session bus: that one fails the whole tray where there is no session bus, and hides
    its errors where there is one (``tray.notifier`` replaces it)."""
    base: Any = pystray.Icon
    if is_xorg(base):
        return _clickable_xorg(base)
    if not hasattr(base, "_initialize"):  # not a GTK backend
        return base

    class GtkIcon(base):  # type: ignore[misc]  # pystray has no types: its Icon is Any
        def _initialize(self) -> None:
            with contextlib.suppress(ValueError):  # not the main thread: no signal to set
                signal.signal(signal.SIGINT, signal.SIG_DFL)  # as pystray does: Ctrl+C quits
            self._notifier = _NoNotifier()
            self._mark_ready()

    return GtkIcon


def _clickable_xorg(base: Any) -> Any:
    """pystray's xorg icon with clicks: pystray 0.19 handles ``ButtonPress`` but never asks
    the X server for it (its window's event mask lacks ``ButtonPressMask``), so a click on the
    docked icon did nothing at all. Found by the smoke test's real click."""

    class XorgIcon(base):  # type: ignore[misc]  # pystray has no types: its Icon is Any
        def _create_window(self) -> Any:
            from Xlib import X

            window = super()._create_window()
            window.change_attributes(
                event_mask=X.ExposureMask | X.StructureNotifyMask | X.ButtonPressMask)
            return window

    return XorgIcon


def is_xorg(icon_cls: Any) -> bool:
    return any(c.__module__.endswith("_xorg") for c in icon_cls.__mro__)


def ascii_fold(label: str) -> str:
    """``Đồng bộ`` -> ``Dong bo``: for backends that can only send Latin-1 window titles."""
    label = label.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", label)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).encode(
        "latin-1", "replace").decode("latin-1")


class TrayShell:
    """Owns the pystray icon and the worker thread running :class:`TrayController`."""

    def __init__(self, settings: TraySettings, icon_cls: Any = None,
                 notifier: Notify | None = None) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.controller = TrayController(settings, self)
        self._notifier = notifier
        first = build_view(None, settings.language)
        icon_cls = icon_cls or icon_class()
        # pystray's xorg backend sets the tooltip as a Latin-1 WM_NAME and fails on Vietnamese;
        # the GTK backends take Unicode as it is.
        self._title: Callable[[str], str] = ascii_fold if is_xorg(icon_cls) else str
        # Without a menu, a click opens the dashboard: the one way left to the toggle.
        self._default = None if icon_cls.HAS_MENU else MenuAction.OPEN_DASHBOARD
        # What the icon shows now: only real changes reach the backend (with the xorg one each
        # update is an X round trip from another thread, which python-xlib races on).
        self._shown = (first.icon, self._title(first.tooltip))
        self.icon = icon_cls(
            "officesync", icon=render_icon(first.icon, ICON_SIZE), title=self._shown[1],
            menu=pystray_menu(first.menu, self.post, self._default),
        )
        self.failed = False
        self._worker = threading.Thread(target=self._work, name="officesync-tray-client",
                                        daemon=True)
        self._task: asyncio.Task[None] | None = None

    # --------------------------------------------------------------- GUI thread

    def run(self) -> None:
        """Blocks on the main thread until "Quit" (or a failed start)."""
        if not self.icon.HAS_MENU:
            self._warn_no_menu()
        try:
            self.icon.run(setup=self._setup)
        finally:
            self._stop_worker()

    def _setup(self, icon: Any) -> None:
        try:
            icon.visible = True
            self._worker.start()
        except Exception:
            log.exception("the tray could not start")
            self.failed = True
            icon.stop()

    def _warn_no_menu(self) -> None:
        """Said once at start, in the log and (where it works) on the desktop."""
        where = find_dashboard(self.settings) or text("nomenu.no_url", self.settings.language)
        log.warning("this tray backend (xorg) has no menu: a click opens the dashboard (%s), "
                    "where 'Work online' and 'Sync now' are. For the menu, install PyGObject "
                    "and gir1.2-gtk-3.0 (docs/tray.md).", where)
        lang = self.settings.language
        self._desktop_note(text("nomenu.title", lang), text("nomenu.body", lang, url=where))

    def quit(self) -> None:
        """Closes the tray only; the node service keeps running."""
        self.icon.stop()

    def post(self, action: MenuAction) -> None:
        """Menu callback: hand the action to the worker loop and return at once."""
        if action is MenuAction.QUIT:
            self.quit()
            return
        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self.controller.perform(action), self.loop)

    # --------------------------------------------------------------- worker thread

    def _work(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._task = self.loop.create_task(self.controller.run())
        try:
            self.loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("the tray's connection to the node failed")
            self.failed = True
            self.icon.stop()
        finally:
            self.loop.close()

    def _stop_worker(self) -> None:
        task = self._task
        if task is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(task.cancel)
        if self._worker.is_alive():
            self._worker.join(WORKER_JOIN_S)

    # ViewSink, called on the worker thread; pystray backends marshal to the GUI thread.
    def show(self, view: TrayView) -> None:
        spec, title = view.icon, self._title(view.tooltip)
        if spec != self._shown[0]:
            self.icon.icon = render_icon(spec, ICON_SIZE)
        if title != self._shown[1]:
            self.icon.title = title
        self._shown = (spec, title)
        self.icon.menu = pystray_menu(view.menu, self.post, self._default)

    def notify(self, note: Notification) -> None:
        log.info("notification: %s: %s", note.title, note.message)
        self._desktop_note(note.title, note.message)

    def _desktop_note(self, title: str, message: str) -> None:
        """The desktop's notification daemon, else the backend's own, else the log only."""
        if self._notifier is not None and self._notifier(title, message):
            return
        if not self.icon.HAS_NOTIFICATION:
            return
        try:
            self.icon.notify(message, title)
        except Exception:  # a notification daemon missing must not break the tray
            log.warning("could not show a notification", exc_info=True)

    def activate(self, action: MenuAction) -> None:
        """Calls the current menu item for ``action`` exactly as a click would."""
        label = action_label(action, self.settings.language)
        for item in self.icon.menu.items:
            if item.text == label:
                item(self.icon)
                return
        log.warning("no menu item for %s", action.value)
