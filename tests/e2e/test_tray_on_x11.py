"""The tray for real: the app (``python -m app``) on Xvfb with a window manager (openbox), a session bus and a real
system tray host (trayer, the XEmbed system tray protocol that panels such as XFCE's, LXDE's and stand-alone trays
speak). The icon docks inside the tray host's window, and xdotool clicks on it and on its menu show and hide the
companion, switch click-through, align it to a corner and quit. Without a tray host, the window offers the same menu.

Qt 6 asks the session bus for a StatusNotifierWatcher first (KDE Plasma, GNOME with the AppIndicator extension) and
falls back to XEmbed when none is registered: the bus here has none, as on the desktops this test stands for.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.ui.placement import MARGIN
from tests.support.x11_desktop import (
    ancestors,
    background,
    geometry,
    is_viewable,
    run,
    session_bus,
    shape_extents,
    wait_for,
    windows_of,
)
from tests.support.xvfb import running_xvfb

pytestmark = pytest.mark.tier3
ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("Xvfb", "openbox", "trayer", "xdotool", "xwininfo", "xprop", "dbus-daemon", "dbus-send")
SCREEN = (1024, 768)
TRAY_HEIGHT = 24
TRAY_HOST = (
    "trayer", "--edge", "top", "--align", "right", "--widthtype", "request", "--height", str(TRAY_HEIGHT),
    "--SetDockType", "true", "--SetPartialStrut", "true", "--transparent", "false",
)  # fmt: skip
"""A panel along the top edge holding the tray, which keeps windows out of its strip (the work area shrinks)."""
DOUBLE_CLICK_S = 0.5
"""Longer than Qt's double-click interval (400 ms)."""


@pytest.fixture
def x_session() -> Iterator[dict[str, str]]:
    """A display with a window manager and a session bus, as a desktop session has (no tray yet)."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (make setup-test installs them as root)")
    with running_xvfb(screen=f"{SCREEN[0]}x{SCREEN[1]}x24") as display:
        env = {k: v for k, v in os.environ.items() if k not in {"QT_QPA_PLATFORM", "WAYLAND_DISPLAY"}}
        env["DISPLAY"] = display
        env["PATH"] = "/usr/bin:/bin"  # no Godot: the window shows its "not found" state, no engine is needed here
        with session_bus(env) as address, background(env, "openbox"):
            env["DBUS_SESSION_BUS_ADDRESS"] = address
            wait_for(lambda: "_NET_SUPPORTING_WM_CHECK" in run(env, "xprop", "-root"), 10, "openbox")
            yield env


@dataclass
class RunningApp:
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path
    window: str = ""
    """The tamagotchi window's X id."""
    _last_click: float = 0.0

    def wait_logged(self, text: str, seconds: float = 30) -> None:
        wait_for(lambda: text in self.log.read_text() or self.process.poll() is not None, seconds, repr(text))
        assert text in self.log.read_text(), self.log.read_text()[-3000:]

    def shown(self) -> bool:
        return is_viewable(self.env, self.window)

    def others(self) -> list[str]:
        """The app's mapped windows other than the tamagotchi window (a tray icon, a menu)."""
        return [w for w in windows_of(self.env, self.process.pid) if w != self.window]

    def click(self, x: int, y: int, button: int = 1) -> None:
        # Two clicks on one spot within the double-click interval would be a double click, not two clicks.
        time.sleep(max(0.0, self._last_click + DOUBLE_CLICK_S - time.monotonic()))
        # No --sync: xdotool would wait for a motion that never comes when the pointer is there already.
        run(self.env, "xdotool", "mousemove", str(x), str(y), "click", str(button))
        self._last_click = time.monotonic()

    def open_menu(self, x: int, y: int, button: int = 3) -> tuple[int, int, int, int]:
        """Clicks at x, y and returns the geometry of the popup menu that opens."""
        before = set(self.others())
        self.click(x, y, button)
        menus: list[str] = []

        def menu_opened() -> bool:
            menus[:] = [
                w
                for w in set(self.others()) - before
                if "_NET_WM_WINDOW_TYPE_POPUP_MENU" in run(self.env, "xprop", "-id", w, "_NET_WM_WINDOW_TYPE")
            ]
            return bool(menus)

        wait_for(menu_opened, 10, "the menu")
        return geometry(self.env, menus[0])

    def keys(self, *keys: str) -> None:
        run(self.env, "xdotool", "key", "--delay", "80", *keys)

    def quit_code(self) -> int:
        """The exit code of a process that was asked to quit (stopped with SIGTERM if it does not within 30 s)."""
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.process.wait(30)
            raise


@contextlib.contextmanager
def running_app(env: dict[str, str], profile: Path, log: Path) -> Iterator[RunningApp]:
    with log.open("a") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "-v", "--runtime", "native", "--user-data", str(profile)],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    app = RunningApp(env, process, log)
    try:
        app.wait_logged("window shown")
        found = run(
            env, "xdotool", "search", "--onlyvisible", "--pid", str(process.pid), "--name", "^Stage Tamagotchi$"
        )
        app.window = max(found.split(), key=lambda w: geometry(env, w)[2])  # not the tray icon, titled alike
        yield app
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(30)


def tray_host_window(env: dict[str, str]) -> int | None:
    found = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--class", "^Trayer$"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return int(found.stdout.split()[0]) if found.stdout.strip() else None


def menu_item(menu: tuple[int, int, int, int], which: str) -> tuple[int, int]:
    """Where to click the menu's first or last item (the ends are the same whatever the style's item heights)."""
    x, y, width, height = menu
    return x + width // 2, (y + 10 if which == "first" else y + height - 10)


def test_the_icon_docks_in_a_real_tray_and_its_menu_drives_the_app(x_session: dict[str, str], tmp_path: Path) -> None:
    env = x_session
    with background(env, *TRAY_HOST):
        wait_for(lambda: tray_host_window(env) is not None, 10, "the tray host")
        with running_app(env, tmp_path / "profile", tmp_path / "app.log") as app:
            app.wait_logged("tray icon shown")
            # Docked: the icon's X window sits inside the tray host's window (XEmbed reparents it there).
            tray_window = tray_host_window(env)
            wait_for(lambda: bool(app.others()), 10, "the tray icon")
            [icon] = app.others()
            assert tray_window in ancestors(env, icon)
            ix, iy, iw, ih = geometry(env, icon)
            tx, ty, tw, th = geometry(env, hex(tray_window))
            assert tx <= ix and ix + iw <= tx + tw and ty <= iy and iy + ih <= ty + th
            names = run(
                env, "dbus-send", "--session", "--dest=org.freedesktop.DBus", "--print-reply", "/org/freedesktop/DBus",
                "org.freedesktop.DBus.ListNames",
            )  # fmt: skip
            assert "StatusNotifierItem" not in names  # the XEmbed path, not a D-Bus tray item
            icon_at = (ix + iw // 2, iy + ih // 2)

            # A left click on the icon hides the companion, another shows it again.
            assert app.shown()
            app.click(*icon_at)
            wait_for(lambda: not app.shown(), 10, "the window hidden by a click on the icon")
            app.click(*icon_at)
            wait_for(app.shown, 10, "the window shown by a click on the icon")

            # A right click opens the menu under the icon; its first entry hides, then shows the companion.
            menu = app.open_menu(*icon_at)
            assert menu[1] >= iy + ih - 2 and menu[0] <= icon_at[0] <= menu[0] + menu[2] + 2, (menu, icon_at)
            app.click(*menu_item(menu, "first"))
            wait_for(lambda: not app.shown(), 10, "the window hidden from the menu")
            app.click(*menu_item(app.open_menu(*icon_at), "first"))
            wait_for(app.shown, 10, "the window shown from the menu")

            # Click-through (on by default): the window's shape is its controls and status, not the empty stage.
            _x, _y, width, height = geometry(env, app.window)
            shaped = shape_extents(env, app.window)
            assert shaped is not None and shaped[3] < height - 100, (shaped, height)
            app.open_menu(*icon_at)
            app.keys("Down", "Down", "Down", "Return")  # Hide, Align to, Click through empty areas
            wait_for(lambda: shape_extents(env, app.window) is None, 10, "click-through switched off")
            app.open_menu(*icon_at)
            app.keys("Down", "Down", "Down", "Return")
            wait_for(lambda: shape_extents(env, app.window) is not None, 10, "click-through switched on")

            # Align to a corner: the top left of the work area (below the tray's panel), then the bottom right.
            app.open_menu(*icon_at)
            app.keys("Down", "Down", "Right", "Down", "Return")  # Align to > Center, Top left
            wait_for(lambda: geometry(env, app.window)[:2] == (MARGIN, TRAY_HEIGHT + MARGIN), 10, "top left")
            app.open_menu(*icon_at)
            app.keys("Down", "Down", "Right", "Down", "Down", "Down", "Down", "Return")  # ... Bottom right
            right_bottom = (SCREEN[0] - MARGIN - width, SCREEN[1] - MARGIN - height)
            wait_for(lambda: geometry(env, app.window)[:2] == right_bottom, 10, "bottom right")

            # Quit, the menu's last entry: the app exits cleanly and its icon leaves the tray.
            app.click(*menu_item(app.open_menu(*icon_at), "last"))
            assert app.quit_code() == 0, app.log.read_text()[-3000:]
            assert "Traceback" not in app.log.read_text()


def test_without_a_tray_the_window_offers_the_menu_and_the_icon_docks_when_a_tray_appears(
    x_session: dict[str, str], tmp_path: Path
) -> None:
    env = x_session
    profile, log = tmp_path / "profile", tmp_path / "app.log"
    with running_app(env, profile, log) as app:
        app.wait_logged("no system tray (yet)")
        assert app.others() == []  # no icon window anywhere
        wait_for(lambda: shape_extents(env, app.window) is not None, 10, "the click-through shape")
        x, y, width, height = geometry(env, app.window)
        shaped = shape_extents(env, app.window)
        assert shaped is not None
        status_at = (x + shaped[0] + shaped[2] // 2, y + shaped[1] + 6)  # the top of the status box (no bubble yet)
        menu_button_at = (x + width - 55, y + height - 26)  # right of Stop, left of the size grip

        # A right click on the companion opens the menu: Hide. Without a tray, starting the app again shows it.
        app.click(*menu_item(app.open_menu(*status_at), "first"))
        wait_for(lambda: not app.shown(), 10, "the window hidden from its own menu")
        again = subprocess.run(
            [sys.executable, "-m", "app", "--user-data", str(profile)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert again.returncode == 0 and "already running" in again.stdout, again
        wait_for(app.shown, 10, "the window shown by a second start")

        # The menu button opens the same menu: Align to > Top left (no panel here: the screen's corner).
        app.open_menu(*menu_button_at, button=1)
        app.keys("Down", "Down", "Right", "Down", "Return")
        wait_for(lambda: geometry(env, app.window)[:2] == (MARGIN, MARGIN), 10, "top left")

        # A tray host starting after the app (a panel that starts late, or restarts): the icon docks in it, and
        # from then on closing the window (Alt+F4 through the window manager) hides it instead of quitting.
        with background(env, *TRAY_HOST):
            wait_for(lambda: bool(app.others()), 10, "the icon docked in the late tray")
            [icon] = app.others()
            tray_window = tray_host_window(env)
            assert tray_window is not None and tray_window in ancestors(env, icon)
            run(env, "xdotool", "windowactivate", "--sync", app.window, "key", "alt+F4")
            wait_for(lambda: not app.shown(), 10, "the window hidden by closing it")
            assert app.process.poll() is None
            ix, iy, iw, ih = geometry(env, icon)
            app.click(ix + iw // 2, iy + ih // 2)
            wait_for(app.shown, 10, "the window back from the tray")

            # Quit from the window's menu: the app exits cleanly.
            x, y, width, height = geometry(env, app.window)
            app.click(*menu_item(app.open_menu(x + width - 55, y + height - 26, button=1), "last"))
            assert app.quit_code() == 0, app.log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()
