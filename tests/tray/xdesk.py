"""A small X desktop for the tray's smoke tests: Xvfb, an XEmbed tray (trayer), a private
D-Bus session bus, and the few things a person does there (look at the icon, right-click it,
click a menu line) done with python-xlib and ``xdotool``."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.e2e.procs import wait_until
from tests.tray.desktop import NotificationDaemon, session_bus

SCREEN = (800, 600)
PANEL_H = 32


@dataclass
class Desk:
    display: str
    bus: str
    notes: NotificationDaemon

    @property
    def env(self) -> dict[str, str]:
        """The environment of a program started in this desktop session."""
        env = {k: v for k, v in os.environ.items() if k != "PYSTRAY_BACKEND"}
        return {**env, "DISPLAY": self.display, "DBUS_SESSION_BUS_ADDRESS": self.bus}

    def xdotool(self, *args: str) -> None:
        subprocess.run(["xdotool", *args], env=self.env, check=True, timeout=10)


def _start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
         "-nolisten", "tcp"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        name = ":" + pipe.readline().strip()
    if name == ":":
        xvfb.kill()
        unavailable("Xvfb did not start (no display number reported)")
    return xvfb, name


def unavailable(reason: str) -> None:
    """Skip, saying why; in CI (``CI`` set, after ``scripts/system-deps.sh``) the desktop
    stack must run, so there it is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"the tray's desktop test cannot run in CI: {reason}")
    pytest.skip(reason)


TRAYER_ARGS = ("--edge", "top", "--align", "right", "--widthtype", "pixel", "--width", "120",
               "--heighttype", "pixel", "--height", str(PANEL_H), "--transparent", "false",
               "--tint", "0xffffff")
TRAYER_START_S = 10.0


def _start_trayer(name: str, log: Path, stack: ExitStack) -> None:
    """trayer owning the tray selection; started twice at most (it very rarely never took
    the selection on a loaded machine: its output is in the message)."""
    for _attempt in range(2):
        with log.open("ab") as out:
            trayer = subprocess.Popen(["trayer", *TRAYER_ARGS],
                                      env={**os.environ, "DISPLAY": name},
                                      stdout=out, stderr=subprocess.STDOUT)
        stack.callback(_end, trayer)
        try:
            wait_until(lambda: tray_manager_ready(name), TRAYER_START_S,
                       "trayer to own the system tray")
            return
        except TimeoutError:
            _end(trayer)
    unavailable(f"trayer never owned the system tray on {name} (exit {trayer.poll()}): "
                f"{log.read_text(errors='replace')[-2000:]}")


@contextmanager
def desk(log_dir: Path) -> Iterator[Desk]:
    """Xvfb + trayer + a session bus with a notification daemon; skips (saying why) when a
    piece is missing. ``pytest -rs`` prints the reason."""
    for binary in ("Xvfb", "trayer", "xdotool", "dbus-daemon"):
        if shutil.which(binary) is None:
            unavailable(f"{binary} is not installed (scripts/system-deps.sh installs it)")
    try:
        import gi  # noqa: F401
    except ImportError:
        unavailable("PyGObject is not installed (pip install '.[tray]')")
    with ExitStack() as stack:
        xvfb, name = _start_xvfb()
        stack.callback(_end, xvfb)
        _start_trayer(name, log_dir / "trayer.out", stack)
        bus = stack.enter_context(session_bus())
        notes = stack.enter_context(NotificationDaemon(bus))
        yield Desk(name, bus, notes)


def _end(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def tray_manager_ready(name: str) -> bool:
    from Xlib import X, display

    dpy = display.Display(name)
    try:
        atom = dpy.intern_atom(f"_NET_SYSTEM_TRAY_S{dpy.get_default_screen()}")
        return dpy.get_selection_owner(atom) != X.NONE
    finally:
        dpy.close()


def _walk(win: Any) -> Iterator[tuple[Any, int]]:
    todo = [(win, 0)]
    while todo:
        here, depth = todo.pop()
        yield here, depth
        try:
            todo.extend((c, depth + 1) for c in here.query_tree().children)
        except Exception:  # a window that went away while we walked
            continue


def docked_icon(name: str) -> tuple[int, int, int, int] | None:
    """Screen box (x, y, w, h) of the one icon docked in trayer's panel, if any."""
    from Xlib import display

    dpy = display.Display(name)
    try:
        root = dpy.screen().root
        panel = next((w for w, _ in _walk(root) if _name(w) == "panel"), None)
        if panel is None:
            return None
        icons = [(d, w) for w, d in _walk(panel) if d >= 2 and _mapped_size(w) >= 16]
        if not icons:
            return None
        win = max(icons, key=lambda dw: dw[0])[1]
        geo = win.get_geometry()
        pos = win.translate_coords(root, 0, 0)
        return (-pos.x, -pos.y, geo.width, geo.height)
    except Exception:  # re-embedded under us: try again
        return None
    finally:
        dpy.close()


def _name(win: Any) -> str | None:
    try:
        value = win.get_wm_name()
    except Exception:
        return None
    return value if isinstance(value, str) else None


def _mapped_size(win: Any) -> int:
    from Xlib import X

    try:
        if win.get_attributes().map_state != X.IsViewable:
            return 0
        geo = win.get_geometry()
    except Exception:
        return 0
    return int(min(geo.width, geo.height))


def screenshot(name: str, box: tuple[int, int, int, int] | None = None) -> Image.Image:
    """The screen (or ``box`` of it) as an RGB image."""
    from Xlib import X, display

    dpy = display.Display(name)
    try:
        root = dpy.screen().root
        x, y, w, h = box or (0, 0, SCREEN[0], SCREEN[1])
        x, y = max(0, x), max(0, y)  # clipped to the screen (GetImage fails outside it)
        w, h = min(w, SCREEN[0] - x), min(h, SCREEN[1] - y)
        raw = root.get_image(x, y, w, h, X.ZPixmap, 0xFFFFFFFF)
        return Image.frombytes("RGB", (w, h), raw.data, "raw", "BGRX")
    finally:
        dpy.close()


def open_menu(name: str) -> tuple[int, int, int, int] | None:
    """Screen box of an open popup menu: a mapped override-redirect top-level window."""
    from Xlib import X, display

    dpy = display.Display(name)
    try:
        for win in dpy.screen().root.query_tree().children:
            try:
                attrs = win.get_attributes()
                geo = win.get_geometry()
            except Exception:
                continue
            if (attrs.override_redirect and attrs.map_state == X.IsViewable
                    and geo.height > 60 and geo.width > 60):
                return (geo.x, geo.y, geo.width, geo.height)
        return None
    finally:
        dpy.close()


def check_item_rows(menu: Image.Image, gutter: int = 26) -> list[int]:
    """Vertical centres (menu pixels) of the check boxes in a GTK menu's left gutter: the
    only thing GTK draws left of the labels. ``Làm việc online`` is the menu's one check
    item, so the first centre is its row."""
    grey = menu.convert("L")
    dark_rows = [y for y in range(menu.height)
                 if any(grey.getpixel((x, y)) < 110 for x in range(3, gutter))]  # type: ignore[operator]
    centres: list[int] = []
    run: list[int] = []
    for y in dark_rows:
        if run and y != run[-1] + 1:
            centres.append(sum(run) // len(run))
            run = []
        run.append(y)
    if run:
        centres.append(sum(run) // len(run))
    return centres


def mostly(image: Image.Image, colour: str, share: float = 0.25, tolerance: int = 40) -> bool:
    """At least ``share`` of ``image``'s pixels are within ``tolerance`` of ``colour``."""
    want = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    raw = image.convert("RGB").tobytes()
    near = sum(
        1 for i in range(0, len(raw), 3)
        if all(abs(raw[i + k] - want[k]) <= tolerance for k in range(3))
    )
    return near >= share * (len(raw) // 3)
