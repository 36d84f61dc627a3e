"""The thin pystray shell: the icon on the GUI (main) thread, the controller on a worker.

Backend: pystray's own choice (win32 on Windows; appindicator, then gtk, then xorg on Linux),
or ``PYSTRAY_BACKEND`` when the user sets it. The xorg fallback has no menu and ignores
everything but a left click (which runs "Sync now"); we say so in the log.

Test hook (used by ``tests/tray/test_smoke.py`` only): when ``OFFICESYNC_TRAY_TEST_TOGGLE_AFTER``
is a number of seconds, that long after the first status from the node the tray activates
its own "Work online" menu item, through the same pystray item a click would call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import unicodedata
from collections.abc import Callable
from typing import Any, Final

import pystray

from tray.controller import TrayController
from tray.icons import render_icon
from tray.settings import TraySettings
from tray.viewmodel import (
    MenuAction,
    MenuEntry,
    Notification,
    TrayState,
    TrayView,
    action_label,
    build_view,
)

log = logging.getLogger(__name__)

ICON_SIZE: Final = 64
TEST_TOGGLE_ENV: Final = "OFFICESYNC_TRAY_TEST_TOGGLE_AFTER"
WORKER_JOIN_S: Final = 5.0

Post = Callable[[MenuAction], None]


def _poster(post: Post, action: MenuAction) -> Callable[[Any, Any], None]:
    def on_click(_icon: Any, _item: Any) -> None:  # pystray inspects the arity: keep 2
        post(action)

    return on_click


def _constant(value: bool) -> Callable[[Any], bool]:
    def checked(_item: Any) -> bool:
        return value

    return checked


def pystray_menu(entries: tuple[MenuEntry, ...], post: Post) -> pystray.Menu:
    """The view-model's menu as pystray items; each item only posts its action."""
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
            default=entry.default,
            enabled=entry.enabled and action is not None,
        ))
    return pystray.Menu(*items)


def ascii_fold(label: str) -> str:
    """``Đồng bộ`` -> ``Dong bo``: for backends that can only send Latin-1 window titles."""
    label = label.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", label)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).encode(
        "latin-1", "replace").decode("latin-1")


class TrayShell:
    """Owns the pystray icon and the worker thread running :class:`TrayController`."""

    def __init__(self, settings: TraySettings, icon_cls: Any = None) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.controller = TrayController(settings, self)
        first = build_view(None, settings.language)
        icon_cls = icon_cls or pystray.Icon
        # pystray's xorg backend sets the tooltip as a Latin-1 WM_NAME and fails on Vietnamese.
        self._title: Callable[[str], str] = (
            ascii_fold if icon_cls.__module__.endswith("_xorg") else str
        )
        # What the icon shows now: only real changes reach the backend (with the xorg one each
        # update is an X round trip from another thread, which python-xlib races on).
        self._shown = (first.icon, self._title(first.tooltip))
        self.icon = icon_cls(
            "officesync", icon=render_icon(first.icon, ICON_SIZE), title=self._shown[1],
            menu=pystray_menu(first.menu, self.post),
        )
        self.failed = False
        self._worker = threading.Thread(target=self._work, name="officesync-tray-client",
                                        daemon=True)
        self._task: asyncio.Task[None] | None = None
        self._toggle_after = _float_env(TEST_TOGGLE_ENV)

    # --------------------------------------------------------------- GUI thread

    def run(self) -> None:
        """Blocks on the main thread until "Quit" (or a failed start)."""
        if not self.icon.HAS_MENU:
            log.warning("this tray backend has no menu; left click runs 'Sync now'. "
                        "Install the GTK/AppIndicator bindings (python3-gi) for the full menu.")
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
        self.icon.menu = pystray_menu(view.menu, self.post)
        if self._toggle_after is not None and view.state is not TrayState.AGENT_DOWN:
            timer = threading.Timer(self._toggle_after, self.activate, (MenuAction.TOGGLE_ONLINE,))
            timer.daemon = True
            timer.start()
            self._toggle_after = None

    def notify(self, note: Notification) -> None:
        log.info("notification: %s: %s", note.title, note.message)
        if not self.icon.HAS_NOTIFICATION:
            return
        try:
            self.icon.notify(note.message, note.title)
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


def _float_env(name: str) -> float | None:
    value = os.environ.get(name)
    try:
        return float(value) if value else None
    except ValueError:
        return None
