"""Menu wiring of the pystray shell, through a fake ``pystray._base.Icon`` (no display)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pystray import _base

from tests.tray.helpers import make_status
from tray.notes import NoteKind, Notification
from tray.settings import TraySettings
from tray.shell import TrayShell, ascii_fold, icon_class, is_xorg
from tray.viewmodel import MenuAction, build_view


class FakeIcon(_base.Icon):
    """A backend that draws nothing: records what the shell asks of it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stopped = threading.Event()
        self.shown: list[tuple[str, str]] = []

    def _show(self) -> None:
        pass

    def _hide(self) -> None:
        pass

    def _update_icon(self) -> None:
        self._icon_valid = True

    def _update_title(self) -> None:
        pass

    def _update_menu(self) -> None:
        pass

    def _run(self) -> None:
        self._mark_ready()
        self.stopped.wait(10)

    def _stop(self) -> None:
        self.stopped.set()

    def _notify(self, message: str, title: str | None = None) -> None:
        self.shown.append((title or "", message))


class BrokenIcon(FakeIcon):
    def _show(self) -> None:
        raise RuntimeError("no system tray on this desktop")


class SilentIcon(FakeIcon):
    HAS_NOTIFICATION = False


def wait(check: Any, what: str, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[TrayShell]:
    """A shell whose loop runs on a thread; ``performed`` records posted actions."""
    tray = TrayShell(TraySettings(tmp_path, "vi", control_port=0), icon_cls=FakeIcon)
    performed: list[MenuAction] = []

    async def perform(action: MenuAction) -> None:
        performed.append(action)

    tray.controller.perform = perform  # type: ignore[method-assign]
    tray.performed = performed  # type: ignore[attr-defined]
    loop_thread = threading.Thread(target=tray.loop.run_forever, daemon=True)
    loop_thread.start()
    wait(tray.loop.is_running, "the loop")
    yield tray
    tray.loop.call_soon_threadsafe(tray.loop.stop)
    loop_thread.join(5)
    tray.loop.close()


def _items(icon: _base.Icon) -> list[Any]:
    return [i for i in icon.menu.items if i is not _base.Menu.SEPARATOR]


def test_menu_shows_the_view_model(shell: TrayShell) -> None:
    status = make_status(datasets={"cty-abc": {"pending": 2, "error": 1}})
    shell.show(build_view(status, "vi"))
    items = {i.text: i for i in _items(shell.icon)}
    assert items["Làm việc online"].checked is True
    assert items["Đồng bộ ngay"].default and items["Đồng bộ ngay"].enabled
    assert not items["cty-abc: chờ 2 · lỗi 1 · xung đột 0"].enabled
    assert shell.icon.title == "OfficeSync: Có bản ghi đồng bộ lỗi hoặc xung đột (1)"
    assert shell.icon.icon.size == (64, 64)


def test_left_click_is_sync_now_and_items_only_post_to_the_loop(shell: TrayShell) -> None:
    shell.show(build_view(make_status("offline_by_user"), "vi"))
    shell.icon()  # what a left click does in every backend: the default item
    by_text = {i.text: i for i in _items(shell.icon)}
    assert by_text["Làm việc online"].checked is False
    by_text["Làm việc online"](shell.icon)
    by_text["Mã ghép nối"](shell.icon)
    by_text["Mở bảng điều khiển"](shell.icon)
    performed = shell.performed  # type: ignore[attr-defined]
    wait(lambda: len(performed) == 4, "four posted actions")
    assert performed == [MenuAction.SYNC_NOW, MenuAction.TOGGLE_ONLINE,
                         MenuAction.PAIRING_CODE, MenuAction.OPEN_DASHBOARD]


def test_node_down_leaves_only_quit_clickable(shell: TrayShell) -> None:
    shell.show(build_view(None, "en"))
    enabled = [i.text for i in _items(shell.icon) if i.enabled]
    assert enabled == ["Quit"]


def test_notifications_go_to_the_backend(shell: TrayShell) -> None:
    shell.notify(Notification(NoteKind.ERRORS, "T", "M"))
    assert shell.icon.shown == [("T", "M")]  # type: ignore[attr-defined]


def test_backend_without_notifications_is_not_an_error(tmp_path: Path) -> None:
    tray = TrayShell(TraySettings(tmp_path), icon_cls=SilentIcon)
    tray.notify(Notification(NoteKind.ERRORS, "T", "M"))
    assert tray.icon.shown == []  # type: ignore[attr-defined]
    tray.loop.close()


def test_quit_stops_the_tray_and_its_worker_only(tmp_path: Path) -> None:
    tray = TrayShell(TraySettings(tmp_path, "en", control_port=0), icon_cls=FakeIcon)
    runner = threading.Thread(target=tray.run, daemon=True)
    runner.start()
    wait(lambda: tray.icon.visible and tray.loop.is_running(), "the tray to start")
    wait(lambda: "not running" in tray.icon.title, "the agent-down tooltip")
    tray.activate(MenuAction.QUIT)
    runner.join(10)
    assert not runner.is_alive() and not tray.failed
    assert tray.loop.is_closed()


def test_a_failing_setup_stops_the_icon_instead_of_hanging(tmp_path: Path) -> None:
    tray = TrayShell(TraySettings(tmp_path), icon_cls=BrokenIcon)
    runner = threading.Thread(target=tray.run, daemon=True)
    runner.start()
    runner.join(10)
    assert not runner.is_alive()
    assert tray.failed


class MenuLessIcon(FakeIcon):
    """What pystray's xorg backend offers: no menu, no notifications."""

    HAS_MENU = False
    HAS_NOTIFICATION = False


def test_desktop_notifier_first_then_the_backend(tmp_path: Path) -> None:
    sent: list[tuple[str, str]] = []

    def desktop(title: str, message: str) -> bool:
        sent.append((title, message))
        return True

    tray = TrayShell(TraySettings(tmp_path), icon_cls=FakeIcon, notifier=desktop)
    tray.notify(Notification(NoteKind.ERRORS, "Tiêu đề", "Nội dung"))
    assert sent == [("Tiêu đề", "Nội dung")]
    assert tray.icon.shown == []  # type: ignore[attr-defined]
    tray.loop.close()


def test_no_notification_daemon_falls_back_to_the_backend_and_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tray = TrayShell(TraySettings(tmp_path), icon_cls=FakeIcon, notifier=lambda t, m: False)
    with caplog.at_level("INFO", logger="officesync.tray"):
        tray.notify(Notification(NoteKind.ERRORS, "T", "M"))
    assert tray.icon.shown == [("T", "M")]  # type: ignore[attr-defined]
    assert "notification: T: M" in caplog.text
    tray.loop.close()


def test_without_a_menu_a_click_opens_the_dashboard_and_the_start_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sent: list[tuple[str, str]] = []

    def desktop(title: str, message: str) -> bool:
        sent.append((title, message))
        return True

    tray = TrayShell(TraySettings(tmp_path, "vi", control_port=0), icon_cls=MenuLessIcon,
                     notifier=desktop)
    clicked: list[MenuAction] = []
    tray.post = clicked.append  # type: ignore[method-assign,assignment]
    tray.show(build_view(make_status(), "vi"))
    tray.icon()  # a left click: the default item
    assert clicked == [MenuAction.OPEN_DASHBOARD]
    with caplog.at_level("WARNING", logger="officesync.tray"):
        tray._warn_no_menu()
    assert "has no menu" in caplog.text and "dashboard" in caplog.text
    assert sent and "bảng điều khiển" in sent[0][1] and "Làm việc online" in sent[0][1]
    tray.loop.close()


def test_menu_less_default_is_the_dashboard_in_the_shell_itself(tmp_path: Path) -> None:
    tray = TrayShell(TraySettings(tmp_path, "en", control_port=0), icon_cls=MenuLessIcon)
    tray.show(build_view(make_status(), "en"))
    defaults = [i.text for i in _items(tray.icon) if i.default]
    assert defaults == ["Open dashboard"]
    tray.loop.close()


def test_tooltip_is_folded_to_ascii_only_for_xorg(tmp_path: Path) -> None:
    class XorgIcon(MenuLessIcon):
        pass

    XorgIcon.__module__ = "pystray._xorg"
    assert is_xorg(XorgIcon) and not is_xorg(FakeIcon)
    xorg = TrayShell(TraySettings(tmp_path, "vi"), icon_cls=XorgIcon)
    gtk = TrayShell(TraySettings(tmp_path, "vi"), icon_cls=FakeIcon)
    folded = "OfficeSync: Dich vu OfficeSync khong chay"
    assert xorg.icon.title == ascii_fold(gtk.icon.title) == folded
    assert gtk.icon.title == "OfficeSync: Dịch vụ OfficeSync không chạy"
    xorg.loop.close()
    gtk.loop.close()


def test_icon_class_keeps_non_gtk_backends_as_they_are() -> None:
    import pystray

    assert icon_class() is pystray.Icon  # the dummy backend under the tests
