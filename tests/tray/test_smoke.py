"""Smoke test of the real thing: Xvfb + trayer + a real node + the real tray process.

The tray runs with pystray's xorg backend (it docks into trayer; it has no menu, so the
"Work online" item is activated by the tray's documented test hook, through the same pystray
menu item a click would call). We check the screen pixels of the docked icon changed and
that the node's ``GET /status`` says ``online: false``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops

from tests.e2e.procs import NodeProcess, officesync_cmd, wait_until, write_node_config
from tray.shell import TEST_TOGGLE_ENV

pytestmark = [pytest.mark.display, pytest.mark.e2e]

TOGGLE_AFTER_S = 3.0  # time we have to photograph the icon before the hook clicks


def _need(binary: str) -> None:
    if shutil.which(binary) is None:
        pytest.skip(f"{binary} is not installed (scripts/system-deps.sh installs it)")


@pytest.fixture
def display(tmp_path: Path) -> Iterator[str]:
    """A private X server with a system-tray manager; yields its DISPLAY."""
    _need("Xvfb")
    _need("trayer")
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "640x480x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    trayer: subprocess.Popen[bytes] | None = None
    try:
        with os.fdopen(read_fd) as pipe:
            name = ":" + pipe.readline().strip()
        assert name != ":", "Xvfb did not report a display number"
        trayer = subprocess.Popen(
            ["trayer", "--edge", "top", "--align", "right", "--widthtype", "pixel",
             "--width", "120", "--heighttype", "pixel", "--height", "32",
             "--transparent", "false", "--tint", "0xffffff"],
            env={**os.environ, "DISPLAY": name},
            stdout=(tmp_path / "trayer.out").open("wb"), stderr=subprocess.STDOUT,
        )
        wait_until(lambda: _tray_manager_ready(name), 15, "trayer to own the system tray")
        yield name
    finally:
        for proc in (trayer, xvfb):
            if proc is not None:
                proc.terminate()
                proc.wait(10)


def _tray_manager_ready(name: str) -> bool:
    from Xlib import X, display

    dpy = display.Display(name)
    try:
        atom = dpy.intern_atom(f"_NET_SYSTEM_TRAY_S{dpy.get_default_screen()}")
        return dpy.get_selection_owner(atom) != X.NONE
    finally:
        dpy.close()


def _icon_window(dpy: Any) -> Any | None:
    """The docked tray window: pystray names it after the tooltip."""
    todo = [dpy.screen().root]
    while todo:
        win = todo.pop()
        try:
            title = win.get_wm_name()
            todo.extend(win.query_tree().children)
        except Exception:  # a window that went away while we walked
            continue
        if isinstance(title, str) and title.startswith("OfficeSync"):
            return win
    return None


def _snapshot(name: str) -> tuple[str, Image.Image] | None:
    """(tooltip, pixels on screen) of the tray icon, or None before it is docked."""
    from Xlib import X, display

    dpy = display.Display(name)
    try:
        win = _icon_window(dpy)
        if win is None:
            return None
        geo = win.get_geometry()
        if geo.width < 8 or geo.height < 8:
            return None
        raw = win.get_image(0, 0, geo.width, geo.height, X.ZPixmap, 0xFFFFFFFF)
        image = Image.frombytes("RGB", (geo.width, geo.height), raw.data, "raw", "BGRX")
        return str(win.get_wm_name()), image
    except Exception:  # the window was re-embedded under us (python-xlib errors vary): retry
        return None
    finally:
        dpy.close()


def _showing(name: str, word: str) -> tuple[str, Image.Image] | None:
    """The icon's snapshot once its tooltip contains ``word``."""
    shot = _snapshot(name)
    return shot if shot is not None and word in shot[0] else None


def _wait_showing(
    name: str, word: str, tray: subprocess.Popen[bytes], log: Path
) -> tuple[str, Image.Image]:
    try:
        return wait_until(lambda: _showing(name, word), 20, f"the icon to say {word!r}")
    except TimeoutError as err:
        shot = _snapshot(name)
        tray.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
        tray.wait(10)
        pytest.fail(f"{err}; icon now: {shot and shot[0]!r}\n{log.read_text()}")


def _get_status(node: NodeProcess) -> dict[str, Any]:
    request = urllib.request.Request(
        node.control_url.rstrip("/") + "/control/v1/status",
        headers={"Authorization": f"Bearer {node.control_token()}"},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        return dict(json.load(resp))


def test_work_online_toggle_changes_the_icon_and_the_node(
    tmp_path: Path, display: str
) -> None:
    if importlib.util.find_spec("agent.app") is None:
        pytest.skip("agent.app (officesync serve) is not built in this checkout")
    config = write_node_config(tmp_path, lan_port=0, control_port=0, language="vi")
    with NodeProcess(config) as node:
        assert isinstance(node, NodeProcess)
        assert _get_status(node)["online"] is True
        env = {**os.environ, "DISPLAY": display, "PYSTRAY_BACKEND": "xorg",
               TEST_TOGGLE_ENV: str(TOGGLE_AFTER_S), "PYTHONUNBUFFERED": "1",
               "PYTHONFAULTHANDLER": "1"}
        log = (tmp_path / "tray.log").open("wb")
        tray = subprocess.Popen(officesync_cmd("tray", "--config", str(config)), env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            before = _wait_showing(display, "Cloud", tray, tmp_path / "tray.log")
            assert before[0] == "OfficeSync: Chua cau hinh Cloud"  # vi, folded for xorg
            wait_until(lambda: _get_status(node)["online"] is False, 20,
                       "the node to be offline after the Work online click")
            after = _wait_showing(display, "offline", tray, tmp_path / "tray.log")
        finally:
            tray.terminate()
            tray.wait(10)
            log.close()
    before[1].save(tmp_path / "icon-before.png")  # kept for a look when this fails
    after[1].save(tmp_path / "icon-after.png")
    assert after[0] == "OfficeSync: Lam viec offline (theo lua chon cua ban)"
    changed = ImageChops.difference(before[1], after[1]).convert("L").point(
        lambda v: 255 if v > 40 else 0)
    area = after[1].width * after[1].height
    assert sum(changed.histogram()[255:]) >= area // 10, (tmp_path / "tray.log").read_text()
