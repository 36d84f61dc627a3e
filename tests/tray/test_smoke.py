"""The tray as a person uses it: a real menu clicked with the mouse.

Xvfb + an XEmbed tray (trayer) + a private session bus with a notification daemon, a real
hub and an enrolled node (``cty-abc`` granted, ``cty-xyz`` unknown to the hub), and the real
``officesync tray`` process choosing its backend by itself (GTK on an XEmbed tray). ``xdotool``
right-clicks the docked icon and clicks "Làm việc online" in the GTK menu: the node's
``/status`` turns ``offline_by_user`` and the icon grey; records written meanwhile wait; a
second click turns the node online and the queue drains. Desktop notifications (with their
diacritics) arrive at the session's daemon, including the refused dataset's.

``OFFICESYNC_TRAY_SCREENSHOT_DIR=docs/img`` also writes the open menu to ``tray-menu.png``
there (how the picture in docs/tray.md is made).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.e2e.hub_procs import HubProcess, enroll_node
from tests.e2e.procs import (
    NO_KEYRING,
    NodeProcess,
    free_port,
    officesync_cmd,
    wait_until,
    write_node_config,
)
from tests.tray.xdesk import (
    Desk,
    check_item_rows,
    desk,
    docked_icon,
    mostly,
    open_menu,
    screenshot,
)
from tray.viewmodel import ICONS, TrayState
from workstation.client import WorkstationClient

pytestmark = [pytest.mark.display, pytest.mark.e2e]

DS, UNKNOWN_DS = "cty-abc", "cty-xyz"
FAST_CLOUD = {"probe_interval_s": 0.3, "probe_timeout_s": 2, "max_backoff_s": 1,
              "long_poll_s": 5, "batch_size": 100}
QUEUED = 5
SHOT_ENV = "OFFICESYNC_TRAY_SCREENSHOT_DIR"


def control(node: NodeProcess, method: str, path: str) -> Any:
    request = urllib.request.Request(
        f"{node.control_url}/control/v1{path}", method=method,
        headers={"Authorization": f"Bearer {node.control_token()}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def dataset(node: NodeProcess, ds: str) -> dict[str, Any]:
    return next(d for d in control(node, "GET", "/status")["datasets"] if d["id"] == ds)


@pytest.fixture
def office(tmp_path: Path) -> Iterator[NodeProcess]:
    if importlib.util.find_spec("agent.app") is None:
        pytest.skip("agent.app (officesync serve) is not built in this checkout")
    hub = HubProcess(f"sqlite:///{tmp_path}/hub.db", free_port(), tmp_path / "logs",
                     env=NO_KEYRING)
    hub.create_dataset(DS)
    hub.start()
    config = write_node_config(tmp_path, datasets=[DS, UNKNOWN_DS], cloud_url=hub.url,
                               language="vi", cloud=FAST_CLOUD)
    enroll_node(config, hub, hub.enroll_code(DS), NO_KEYRING)
    node = NodeProcess(config, env=NO_KEYRING)
    node.start()
    try:
        wait_until(lambda: control(node, "GET", "/status")["connectivity"] == "online", 30,
                   "the node to be online")
        yield node
    finally:
        node.kill()
        hub.kill()


class Tray:
    """The real ``officesync tray`` in the desk's session."""

    def __init__(self, desk_: Desk, node: NodeProcess, log: Path,
                 env: dict[str, str] | None = None) -> None:
        self.desk, self.log_path = desk_, log
        env = {**(env or desk_.env), "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}
        self._log = log.open("wb")
        self.proc = subprocess.Popen(officesync_cmd("tray", "--config", str(node.config)),
                                     env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait(self, check: Any, within: float, what: str) -> Any:
        try:
            return wait_until(check, within, what)
        except TimeoutError as err:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGABRT)  # faulthandler prints every stack
                self.proc.wait(10)
            pytest.fail(f"{err}\n--- tray log ---\n{self.log()}")

    def icon_box(self) -> tuple[int, int, int, int]:
        return self.wait(lambda: docked_icon(self.desk.display), 20, "the icon to dock")  # type: ignore[no-any-return]

    def icon_shows(self, state: TrayState, within: float = 20) -> None:
        colour = ICONS[state].fill
        self.wait(lambda: mostly(screenshot(self.desk.display, self.icon_box()), colour),
                  within, f"the icon to show {state.value} ({colour})")

    def click_work_online(self, shot: Path | None = None) -> None:
        """Right-click the icon, then click the menu's check item, as a person would."""
        x, y, w, h = self.icon_box()
        self.desk.xdotool("mousemove", "--sync", str(x + w // 2), str(y + h // 2), "click", "3")
        menu = self.wait(lambda: open_menu(self.desk.display), 10, "the menu to open")
        mx, my, mw, _ = menu
        rows = self.wait(lambda: check_item_rows(screenshot(self.desk.display, menu)), 10,
                         "GTK to draw the menu's check box")
        if shot is not None:
            _save_menu_picture(self.desk, menu, shot)
        self.desk.xdotool("mousemove", "--sync", str(mx + mw // 2), str(my + rows[0]),
                          "click", "1")
        self.wait(lambda: open_menu(self.desk.display) is None, 10, "the menu to close")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        finally:
            self._log.close()


def _save_menu_picture(desk_: Desk, menu: tuple[int, int, int, int], path: Path) -> None:
    """The panel and the open menu, as the docs show them."""
    mx, my, _, mh = menu
    left = max(0, mx - 16)
    picture: Image.Image = screenshot(desk_.display, (left, 0, 800 - left, my + mh + 12))
    picture.save(path)
    target = os.environ.get(SHOT_ENV)
    if target:
        shutil.copyfile(path, Path(target) / "tray-menu.png")


async def _write_while_offline(node: NodeProcess, count: int) -> None:
    code = control(node, "POST", "/pairing-code")["code"]
    client = WorkstationClient(node.lan_url, language="en")
    try:
        client.token = (await client.pair(code, "ke-toan")).token
        for i in range(count):
            await client.create(DS, "customers", {"code": f"KH{i:03d}", "name": f"Khách {i}"})
    finally:
        await client.close()


def test_work_online_clicked_in_the_real_gtk_menu(tmp_path: Path, office: NodeProcess) -> None:
    started = time.monotonic()
    with desk(tmp_path) as session:
        tray = Tray(session, office, tmp_path / "tray.log")
        try:
            tray.wait(lambda: "tray backend: gtk (an XEmbed system tray" in tray.log(), 20,
                      "the tray to choose the GTK backend")
            tray.wait(lambda: dataset(office, UNKNOWN_DS)["sync"]["state"] == "refused", 30,
                      f"the node to report {UNKNOWN_DS} refused")
            tray.icon_shows(TrayState.DATASET_REFUSED)

            tray.click_work_online(shot=tmp_path / "tray-menu.png")
            tray.wait(lambda: control(office, "GET", "/status")["connectivity"]
                      == "offline_by_user", 10, "the node to be offline by choice")
            tray.icon_shows(TrayState.OFFLINE_BY_USER)

            asyncio.run(_write_while_offline(office, QUEUED))
            assert dataset(office, DS)["counts"]["pending"] == QUEUED

            tray.click_work_online()
            tray.wait(lambda: control(office, "GET", "/status")["connectivity"] == "online",
                      15, "the node to be online again")
            tray.wait(lambda: dataset(office, DS)["counts"]["pending"] == 0
                      and dataset(office, DS)["counts"]["synced"] >= QUEUED, 30,
                      "the queue to drain")
            tray.wait(lambda: any("Đã gửi" in n.body for n in session.notes.notes), 30,
                      "the back-online notification")
        finally:
            tray.stop()
    titles = [n.title for n in session.notes.notes]
    assert f"OfficeSync: Cloud từ chối dữ liệu {UNKNOWN_DS}" in titles
    assert "OfficeSync: Làm việc offline (theo lựa chọn của bạn)" in titles
    back = next(n for n in session.notes.notes if n.title == "OfficeSync: đã online trở lại")
    assert back.body == f"Đã gửi {QUEUED} bản ghi lên Cloud kể từ khi mất kết nối."
    assert len(titles) == len(set(titles)), titles  # once per transition
    print(f"tray smoke: {time.monotonic() - started:.1f}s with the desktop, "
          f"{len(titles)} desktop notifications")


def test_without_gtk_bindings_xorg_says_so_and_a_click_opens_the_dashboard(
    tmp_path: Path,
) -> None:
    """The last resort: pystray's xorg backend has no menu. The start says so (log and a
    desktop notification), the tooltip is folded to ASCII, and a real left click on the
    icon opens the dashboard (``$BROWSER`` records the address)."""
    if importlib.util.find_spec("agent.app") is None:
        pytest.skip("agent.app (officesync serve) is not built in this checkout")
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n', encoding="utf-8")
    browser.chmod(0o755)
    node = NodeProcess(write_node_config(tmp_path, language="vi"), env=NO_KEYRING)
    with desk(tmp_path) as session, node:
        assert isinstance(node, NodeProcess)
        session_env = {**session.env, "PYSTRAY_BACKEND": "xorg", "BROWSER": str(browser)}
        tray = Tray(session, node, tmp_path / "tray.log", env=session_env)
        try:
            tray.wait(lambda: "has no menu: a click opens the dashboard" in tray.log(), 20,
                      "the no-menu warning")
            tray.icon_shows(TrayState.NOT_CONFIGURED)
            # A click can be lost while the tray manager still lays the icon out (seen once
            # in CI: the icon painted, the one click never reached it), and xdotool's move
            # can stall (seen once in CI: ``mousemove --sync`` still waiting after 10 s): a
            # person clicks again, and so does this test, up to three times, each time on
            # another pixel of the icon.
            for attempt in range(3):
                x, y, w, h = tray.icon_box()
                try:
                    session.xdotool("mousemove", "--sync",
                                    str(x + w // 2 + (0, 1, -1)[attempt]), str(y + h // 2),
                                    "click", "1")
                except subprocess.TimeoutExpired:
                    if attempt == 2:
                        raise
                    continue
                if attempt == 2:
                    tray.wait(opened.exists, 15, "the click to open the dashboard")
                    break
                try:
                    wait_until(opened.exists, 5, "the click to open the dashboard")
                    break
                except TimeoutError:
                    continue
        finally:
            tray.stop()
    first = opened.read_text(encoding="utf-8").splitlines()[0].strip()
    assert first == node.lan_url.rstrip("/") + "/"
    assert "OfficeSync: khay không có menu" in [n.title for n in session.notes.notes]
    assert "notification: OfficeSync: Chưa cấu hình Cloud" not in tray.log()  # baseline only


def test_appindicator_backend_has_the_same_clickable_menu(tmp_path: Path) -> None:
    """The AppIndicator backend (the choice where a StatusNotifier host runs; here it falls
    back to an XEmbed icon by itself): the same GTK menu, and its "Làm việc online" works."""
    if importlib.util.find_spec("agent.app") is None:
        pytest.skip("agent.app (officesync serve) is not built in this checkout")
    node = NodeProcess(write_node_config(tmp_path, language="vi"), env=NO_KEYRING)
    with desk(tmp_path) as session, node:
        assert isinstance(node, NodeProcess)
        tray = Tray(session, node, tmp_path / "tray.log",
                    env={**session.env, "PYSTRAY_BACKEND": "appindicator"})
        try:
            tray.icon_shows(TrayState.NOT_CONFIGURED)
            tray.click_work_online()
            tray.wait(lambda: control(node, "GET", "/status")["connectivity"]
                      == "offline_by_user", 10, "the node to be offline by choice")
            tray.icon_shows(TrayState.OFFLINE_BY_USER)
        finally:
            tray.stop()
    assert "tray backend: appindicator" in tray.log()
