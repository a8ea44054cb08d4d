"""The tray for real: the app (``python -m app``) on Xvfb with a window manager (openbox), a session bus and a real
system tray host, driven with xdotool as a person would: the icon shows and hides the companion, and its menu
switches click-through, aligns the window to a corner and quits.

Qt 6 picks the tray protocol at run time, and both are tested. With a StatusNotifierWatcher on the session bus (KDE
Plasma, Xfce 4.18's panel, GNOME with the AppIndicator extension) the icon is a D-Bus StatusNotifierItem that the
panel draws, with the menu exported over D-Bus (dbusmenu) and drawn by the panel: tested with xfce4-panel. Without
one, Qt docks an X window in the XEmbed system tray (trayer, stalonetray, older panels): tested with trayer, on a bus
that has no watcher. Without any tray, the window offers the same menu, and the icon docks when a tray appears.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from app.ui.app_identity import APP_NAME
from app.ui.placement import MARGIN
from app.ui.tray import CORNERS
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
TOOLS = (
    "Xvfb",
    "openbox",
    "trayer",
    "xfce4-panel",
    "xdotool",
    "xwininfo",
    "xprop",
    "import",
    "dbus-daemon",
    "dbus-send",
)
SCREEN = (1024, 768)
TRAY_HEIGHT = 24
TRAY_HOST = (
    "trayer", "--edge", "top", "--align", "right", "--widthtype", "request", "--height", str(TRAY_HEIGHT),
    "--SetDockType", "true", "--SetPartialStrut", "true", "--transparent", "false",
)  # fmt: skip
"""A panel along the top edge holding the tray, which keeps windows out of its strip (the work area shrinks)."""
MENU = (
    "Hide", "Align to", "Click through empty areas", "Always on top", "Stop speaking", "Settings…", "Devtools…", "Quit",
)  # fmt: skip
"""The tray menu's entries in order, separators left out (the keyboard skips them)."""
DOUBLE_CLICK_S = 0.5
"""Longer than Qt's double-click interval (400 ms)."""


@pytest.fixture
def x_session(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A display with a window manager and a session bus, as a desktop session has (no tray yet)."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (make setup-test installs them as root)")
    with running_xvfb(screen=f"{SCREEN[0]}x{SCREEN[1]}x24") as display:
        env = {k: v for k, v in os.environ.items() if k not in {"QT_QPA_PLATFORM", "WAYLAND_DISPLAY"}}
        env["DISPLAY"] = display
        env["PATH"] = "/usr/bin:/bin"  # no Godot: the window shows its "not found" state, no engine is needed here
        for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
            env[name] = str(tmp_path / "session" / name.lower())  # the panel's settings daemon inherits these
        env["NO_AT_BRIDGE"] = "1"  # GTK would start an accessibility bus that outlives the test
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

    def find_window(self) -> str:
        """The tamagotchi window's X id, looked up again; empty while none is mapped."""
        found = self.windows_titled("Stage Tamagotchi")  # the tray icon's X window has that title too: the widest
        self.window = max(found, key=lambda w: geometry(self.env, w)[2]) if found else ""
        return self.window

    def windows_titled(self, title: str) -> list[str]:
        return [
            w
            for w in windows_of(self.env, self.process.pid)
            if run(self.env, "xdotool", "getwindowname", w) == f"{title}\n"
        ]

    def click(self, x: int, y: int, button: int = 1) -> None:
        # Two clicks on one spot within the double-click interval would be a double click, not two clicks.
        time.sleep(max(0.0, self._last_click + DOUBLE_CLICK_S - time.monotonic()))
        # No --sync: xdotool would wait for a motion that never comes when the pointer is there already.
        run(self.env, "xdotool", "mousemove", str(x), str(y), "click", str(button))
        self._last_click = time.monotonic()

    def open_menu(self, x: int, y: int, button: int = 3) -> tuple[int, int, int, int]:
        """Clicks at x, y and returns the geometry of the popup menu that opens (the app's, or a tray host's)."""
        before = set(popup_menus(self.env))
        self.click(x, y, button)
        menus: list[str] = []

        def menu_opened() -> bool:
            menus[:] = [w for w in popup_menus(self.env) if w not in before]
            return bool(menus)

        wait_for(menu_opened, 10, "the menu")
        return geometry(self.env, menus[0])

    def choose(self, icon_at: tuple[int, int], entry: str, corner: str | None = None) -> None:
        """Opens the menu with a right click at ``icon_at`` and chooses ``entry`` (and ``corner`` in its submenu)
        with the keyboard, as a person may."""
        self.open_menu(*icon_at)
        keys = ["Down"] * (MENU.index(entry) + 1)
        if corner is not None:
            keys += ["Right"] + ["Down"] * [label for _corner, label in CORNERS].index(corner)
        self.keys(*keys, "Return")

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
        wait_for(lambda: bool(app.find_window()), 10, "the tamagotchi window")
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


def popup_menus(env: dict[str, str]) -> list[str]:
    """The mapped popup menus on the screen, whoever drew them."""
    found = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--maxdepth", "1", "--name", ""],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return [
        w
        for w in found.stdout.split()
        if "_NET_WM_WINDOW_TYPE_POPUP_MENU" in run(env, "xprop", "-id", w, "_NET_WM_WINDOW_TYPE")
    ]


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
            # The session bus has no StatusNotifierWatcher, so Qt docks an X window in the XEmbed tray; docked, the
            # icon's X window sits inside the tray host's window (XEmbed reparents it there).
            assert not has_status_notifier_watcher(env)
            tray_window = tray_host_window(env)
            wait_for(lambda: bool(app.others()), 10, "the tray icon")
            [icon] = app.others()
            assert tray_window in ancestors(env, icon)
            ix, iy, iw, ih = geometry(env, icon)
            tx, ty, tw, th = geometry(env, hex(tray_window))
            assert tx <= ix and ix + iw <= tx + tw and ty <= iy and iy + ih <= ty + th
            drive_from_the_tray(app, (ix + iw // 2, iy + ih // 2), reserved_top=TRAY_HEIGHT)


def drive_from_the_tray(app: RunningApp, icon_at: tuple[int, int], reserved_top: int) -> None:
    """Clicks on the tray icon at ``icon_at`` and on its menu do what they say; Quit ends the app with code 0.
    ``reserved_top``: the height of the panel along the top edge, kept out of the work area."""
    env = app.env
    # A left click on the icon hides the companion, another shows it again.
    assert app.shown()
    app.click(*icon_at)
    wait_for(lambda: not app.shown(), 10, "the window hidden by a click on the icon")
    app.click(*icon_at)
    wait_for(app.shown, 10, "the window shown by a click on the icon")

    # A right click opens the menu under the icon; its first entry hides, then shows the companion.
    menu = app.open_menu(*icon_at)
    assert menu[1] >= icon_at[1] and menu[0] <= icon_at[0] <= menu[0] + menu[2] + 2, (menu, icon_at)
    app.click(*menu_item(menu, "first"))
    wait_for(lambda: not app.shown(), 10, "the window hidden from the menu")
    app.click(*menu_item(app.open_menu(*icon_at), "first"))
    wait_for(app.shown, 10, "the window shown from the menu")

    # Click-through (on by default): the window's shape is its controls and status, not the empty stage.
    _x, _y, width, height = geometry(env, app.window)
    shaped = shape_extents(env, app.window)
    assert shaped is not None and shaped[3] < height - 100, (shaped, height)
    app.choose(icon_at, "Click through empty areas")
    wait_for(lambda: shape_extents(env, app.window) is None, 10, "click-through switched off")
    app.choose(icon_at, "Click through empty areas")
    wait_for(lambda: shape_extents(env, app.window) is not None, 10, "click-through switched on")

    # Align to a corner: the top left of the work area (below the tray's panel), then the bottom right.
    app.choose(icon_at, "Align to", "Top left")
    wait_for(lambda: geometry(env, app.window)[:2] == (MARGIN, reserved_top + MARGIN), 10, "top left")
    app.choose(icon_at, "Align to", "Bottom right")
    right_bottom = (SCREEN[0] - MARGIN - width, SCREEN[1] - MARGIN - height)
    wait_for(lambda: geometry(env, app.window)[:2] == right_bottom, 10, "bottom right")

    # Always on top, on by default: off, then on again, as the window manager sees it.
    def above() -> bool:
        return "_NET_WM_STATE_ABOVE" in run(env, "xprop", "-id", app.window, "_NET_WM_STATE")

    assert above()
    for wanted in (False, True):
        old = app.window
        app.choose(icon_at, "Always on top")
        wait_for(lambda: above() is wanted, 10, f"always on top {wanted}")  # noqa: B023 - waited here
        # The same X window (a new one would take an embedded stage window down with the old), where it was.
        assert app.find_window() == old
        assert geometry(env, app.window)[:2] == right_bottom

    drive_actions_from_the_tray(app, icon_at)


def drive_actions_from_the_tray(app: RunningApp, icon_at: tuple[int, int]) -> None:
    """Settings…, Devtools…, Stop speaking and Quit from the tray icon's menu."""
    for title in ("Settings", "Devtools"):  # Qt appends the app's display name to their titles
        app.choose(icon_at, f"{title}…")
        wait_for(lambda: bool(app.windows_titled(f"{title} — Stage Tamagotchi")), 10, title)  # noqa: B023

    # Stop speaking: a long text typed into the say box is cut short (the voice plays, unheard, on the null sink).
    x, y, width, height = geometry(app.env, app.window)
    app.click(x + width // 3, y + height - 26)  # the say box
    run(app.env, "xdotool", "type", "--delay", "5", "Let me tell you a long story. " * 6)
    app.keys("Return")
    app.wait_logged("espeak-ng ready")
    assert "aborted" not in app.log.read_text()
    app.choose(icon_at, "Stop speaking")
    app.wait_logged("turn 1 aborted", 10)

    # Quit, the menu's last entry, clicked: the app exits cleanly.
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


XFCE_PANEL_CONFIG = """<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="size" type="uint" value="26"/>
      <property name="plugin-ids" type="array"><value type="int" value="1"/></property>
    </property>
  </property>
  <property name="plugins" type="empty"><property name="plugin-1" type="string" value="systray"/></property>
</channel>
"""
"""One panel along the top with only the notification area (without a configuration the panel asks which it wants)."""


def dbus(env: dict[str, str], *arguments: str) -> str:
    return run(env, "dbus-send", "--session", "--print-reply", *arguments)


def has_status_notifier_watcher(env: dict[str, str]) -> bool:
    owner = ("--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner")
    return "boolean true" in dbus(env, *owner, "string:org.kde.StatusNotifierWatcher")


def status_notifier_item_of(env: dict[str, str], pid: int) -> str | None:
    """The ``Id`` of the StatusNotifierItem that process ``pid`` serves on the session bus, or None."""
    names = dbus(env, "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.ListNames")
    for name in re.findall(r'string "(:[0-9.]+)"', names):
        owner = subprocess.run(
            ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
             "org.freedesktop.DBus.GetConnectionUnixProcessID", f"string:{name}"],
            env=env, capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
        if f"uint32 {pid}" not in owner.stdout:
            continue
        item = subprocess.run(
            ["dbus-send", "--session", "--print-reply", f"--dest={name}", "/StatusNotifierItem",
             "org.freedesktop.DBus.Properties.Get", "string:org.kde.StatusNotifierItem", "string:Id"],
            env=env, capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
        found = re.search(r'variant\s+string "([^"]*)"', item.stdout)
        if found:
            return found.group(1)
    return None


def face_on_screen(env: dict[str, str], box: tuple[int, int, int, int], shot: Path) -> tuple[int, int] | None:
    """The centre of the app icon's face (its skin tones) inside ``box`` on a screenshot, or None."""
    run(env, "import", "-window", "root", str(shot))
    image = QImage(str(shot))
    x0, y0, width, height = box
    skin = [
        (x, y)
        for y in range(y0, y0 + height)
        for x in range(x0, x0 + width)
        if (c := image.pixelColor(x, y)).red() > 230 and 150 < c.green() < 235 and c.red() - c.blue() > 40
    ]
    if len(skin) < 20:
        return None
    return sum(x for x, _ in skin) // len(skin), sum(y for _, y in skin) // len(skin)


def test_on_a_desktop_with_a_status_notifier_host_the_icon_is_a_dbus_item_and_its_menu_drives_the_app(
    x_session: dict[str, str], tmp_path: Path
) -> None:
    """The path Qt 6 takes first: Xfce's panel (4.18) runs a StatusNotifierWatcher on the session bus, so the icon
    is a D-Bus StatusNotifierItem the panel draws, and its menu is exported over D-Bus (dbusmenu) and drawn by the
    panel too; clicks on them reach the app through the bus."""
    env = x_session
    config = Path(env["XDG_CONFIG_HOME"]) / "xfce4" / "xfconf" / "xfce-perchannel-xml" / "xfce4-panel.xml"
    config.parent.mkdir(parents=True)
    config.write_text(XFCE_PANEL_CONFIG)
    with background(env, "xfce4-panel"):
        wait_for(lambda: has_status_notifier_watcher(env), 20, "the panel's tray")
        panel = run(env, "xdotool", "search", "--onlyvisible", "--class", "^xfce4-panel$").split()[0]
        panel_box = geometry(env, panel)
        with running_app(env, tmp_path / "profile", tmp_path / "app.log") as app:
            app.wait_logged("tray icon shown")
            wait_for(lambda: status_notifier_item_of(env, app.process.pid) is not None, 10, "the D-Bus tray item")
            assert status_notifier_item_of(env, app.process.pid) == APP_NAME
            assert app.others() == []  # no XEmbed icon window: the panel draws the icon
            face: list[tuple[int, int]] = []

            def icon_drawn() -> bool:
                found = face_on_screen(env, panel_box, tmp_path / "panel.png")
                face[:] = [found] if found else []
                return bool(face)

            wait_for(icon_drawn, 10, "the app's face in the panel")
            drive_from_the_tray(app, face[0], reserved_top=panel_box[1] + panel_box[3])
