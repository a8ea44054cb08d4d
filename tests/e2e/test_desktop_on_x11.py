"""The desktop app as a person sees it: a real X server (Xvfb) with a window manager (openbox) and a compositor
(xcompmgr), the app started as ``python -m app --runtime embedded``, the real Godot 4.6 web runtime inside the
tamagotchi window. Checked on screenshots: the avatar shows, the window's empty corners show the desktop through,
the speech bubble shows what is said, and the window stays above a window the user raises."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage
from Xlib import display

from tests.support.x11_desktop import background, geometry, is_viewable, run, wait_for
from tests.support.xvfb import running_xvfb

pytestmark = pytest.mark.tier3
ROOT = Path(__file__).resolve().parents[2]
STAGE_WINDOW_TITLE = "Stage Tamagotchi stage"
TOOLS = ("Xvfb", "openbox", "xcompmgr", "xdotool", "xwininfo", "xprop", "import", "xmessage")


@pytest.fixture
def desktop_env() -> Iterator[dict[str, str]]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (make setup-test installs them as root)")
    with running_xvfb(screen="1024x768x24") as display:
        env = {k: v for k, v in os.environ.items() if k not in {"QT_QPA_PLATFORM", "WAYLAND_DISPLAY"}}
        env["DISPLAY"] = display
        with background(env, "openbox"), background(env, "xcompmgr"):
            time.sleep(0.5)
            yield env


def _screenshot(env: dict[str, str], path: Path) -> QImage:
    run(env, "import", "-window", "root", str(path))
    image = QImage(str(path))
    assert not image.isNull()
    return image


def _near(color: QColor, other: QColor, tolerance: int = 12) -> bool:
    return all(
        abs(a - b) <= tolerance
        for a, b in zip(
            (color.red(), color.green(), color.blue()), (other.red(), other.green(), other.blue()), strict=True
        )
    )


def _count(image: QImage, box: tuple[int, int, int, int], test: Callable[[QColor], bool], step: int = 3) -> int:
    x0, y0, width, height = box
    return sum(
        1 for y in range(y0, y0 + height, step) for x in range(x0, x0 + width, step) if test(image.pixelColor(x, y))
    )


def _avatar_pixels(image: QImage, box: tuple[int, int, int, int]) -> tuple[int, int]:
    """Tama's pink hair and blue sleeves in ``box``."""
    hair = _count(image, box, lambda c: c.red() > 200 and c.green() < 150 and c.blue() > 100)
    sleeves = _count(image, box, lambda c: c.blue() > 200 and c.red() < 120)
    return hair, sleeves


def _window_under_pointer(env: dict[str, str], x: int, y: int) -> int:
    """The top-level window the X server would give a click at (x, y) (input shapes count), 0 for the desktop."""
    run(env, "xdotool", "mousemove", "--sync", str(x), str(y))
    connection = display.Display(env["DISPLAY"])
    try:
        child = connection.screen().root.query_pointer().child
        return int(child.id) if child else 0
    finally:
        connection.close()


def _wait_for(log: Path, text: str, app: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while text not in log.read_text() and app.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert text in log.read_text(), log.read_text()[-3000:]


@contextlib.contextmanager
def _app_showing_tama(
    env: dict[str, str], tmp_path: Path, profile: Path | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """The app with the stage embedded, on the test's X server, once it shows Tama (and its log). Afterwards it is
    stopped as a desktop session would stop it (SIGTERM), and must end cleanly, its stage stopped."""
    log = tmp_path / "app.log"
    with log.open("w") as sink:
        app = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app",
                "-v",
                "--runtime",
                "embedded",
                "--user-data",
                str(profile or tmp_path / "profile"),
            ],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(log, "stage: applied Showing Tama", app, 90)
        yield app, log
    finally:
        app.send_signal(signal.SIGTERM)
        code = app.wait(30)
    assert code == 130 and "stage stopped" in log.read_text()


def test_the_avatar_floats_on_the_desktop_above_other_windows_and_speaks_in_a_bubble(  # noqa: PLR0915
    desktop_env: dict[str, str], web_runtime: Path, tmp_path: Path
) -> None:
    env = desktop_env
    with _app_showing_tama(env, tmp_path) as (app, _log):
        window = run(env, "xdotool", "search", "--onlyvisible", "--name", "^Stage Tamagotchi$").split()[0]
        x, y, width, height = geometry(env, window)
        state = run(env, "xprop", "-id", window, "_NET_WM_STATE", "_NET_WM_DESKTOP")
        assert "_NET_WM_STATE_ABOVE" in state and "4294967295" in state, state  # above others, on every workspace
        # The stage runs in its own host process, whose window is taken into the tamagotchi window; QtWebEngine
        # never loads into the app's process (that is what keeps the app's memory small).
        children = run(env, "xwininfo", "-children", "-id", window)
        assert f'"{STAGE_WINDOW_TITLE}"' in children, children
        assert "WebEngine" not in Path(f"/proc/{app.pid}/maps").read_text()
        time.sleep(1.5)  # a few rendered frames and a click-through shape update
        shot = _screenshot(env, tmp_path / "desktop.png")

        # The avatar: Tama's pink hair and blue sleeves fill a good part of the window.
        hair, sleeves = _avatar_pixels(shot, (x, y, width, height))
        assert hair > 300 and sleeves > 300, (hair, sleeves)
        # Transparent where the stage is empty: the window's top corners show the desktop (as it is far from it).
        desktop = shot.pixelColor(2, 2)
        assert x > 100 and y > 100, "the window starts at the bottom right, away from the sampled desktop"
        for corner in ((x + 4, y + 4), (x + width - 5, y + 4)):
            assert _near(shot.pixelColor(*corner), desktop), (corner, shot.pixelColor(*corner).name(), desktop.name())
        # Click-through: the empty part of the stage lets the mouse through to the desktop, the avatar's body takes it.
        body = _window_under_pointer(env, x + width // 2, y + height // 2)
        assert body != 0 and _window_under_pointer(env, x + 26, y + 106) == 0
        assert _window_under_pointer(env, x + width // 2, y + height // 2) == body

        # The say box (bottom of the window) takes a sentence; the bubble at the top shows it, and the mouth moves
        # with the voice (lip-sync cues on the stage): Tama's dark red mouth grows well past its closed smile.
        def mouth(image: QImage) -> int:
            return _count(
                image, (x, y, width, height), lambda c: c.red() > 150 and c.green() < 80 and c.blue() < 110, 2
            )

        closed = mouth(shot)
        run(env, "xdotool", "mousemove", str(x + width // 3), str(y + height - 22), "click", "1")
        run(env, "xdotool", "type", "--delay", "10", "Hello from the test, I am talking about all sorts of things.")
        run(env, "xdotool", "key", "Return")
        open_counts = []
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            open_counts.append(mouth(_screenshot(env, tmp_path / "talking.png")))
        assert max(open_counts) > 1.8 * closed + 20, (closed, open_counts)
        spoken = _screenshot(env, tmp_path / "bubble.png")
        top = (x, y, width, 80)
        white = _count(spoken, top, lambda c: c.red() > 235 and c.green() > 235 and c.blue() > 235, step=2)
        assert white > 500, white

        # Another window raised over it: the tamagotchi stays above.
        with background(env, "xmessage", "-geometry", f"+{x + 20}+{y + 40}", "another window"):
            deadline = time.monotonic() + 10
            other: list[str] = []
            while not other and time.monotonic() < deadline:
                found = subprocess.run(
                    ["xdotool", "search", "--name", "^xmessage$"], env=env, capture_output=True, text=True, check=False
                )
                other = found.stdout.split()
                time.sleep(0.1)
            assert other, "xmessage did not map"
            run(env, "xdotool", "windowactivate", "--sync", other[0])
            run(env, "xdotool", "windowraise", other[0])
            time.sleep(0.5)
            stacking = run(env, "xprop", "-root", "_NET_CLIENT_LIST_STACKING").split("#", 1)[1]
            order = [int(w.strip(), 16) for w in stacking.split(",")]
            assert order.index(int(window)) > order.index(int(other[0])), order

        # "Always on top" off from the window's menu (a right click on the avatar, the menu's fourth entry): the
        # window manager hears of it, and the stage stays inside, as Qt keeps the same X window (recreating it
        # used to destroy the embedded stage window with it).
        run(env, "xdotool", "mousemove", str(x + width // 2), str(y + height // 2), "click", "3")
        time.sleep(1.0)
        run(env, "xdotool", "key", "--delay", "80", "Down", "Down", "Down", "Down", "Return")
        wait_for(
            lambda: "_NET_WM_STATE_ABOVE" not in run(env, "xprop", "-id", window, "_NET_WM_STATE"), 10, "not above"
        )
        assert f'"{STAGE_WINDOW_TITLE}"' in run(env, "xwininfo", "-children", "-id", window)
        time.sleep(1.0)
        assert min(_avatar_pixels(_screenshot(env, tmp_path / "not-on-top.png"), (x, y, width, height))) > 300


def test_a_glued_stage_window_follows_the_tamagotchi_window_as_it_moves_hides_and_shows(
    desktop_env: dict[str, str], web_runtime: Path, tmp_path: Path
) -> None:
    env = desktop_env
    profile = str(tmp_path / "profile")
    run(env, sys.executable, "-m", "app", "settings", "set", "--user-data", profile, "stage.window", "glued")
    with _app_showing_tama(env, tmp_path, Path(profile)) as (app, log):
        _wait_for(log, "is glued over the tamagotchi window", app, 10)
        window = run(env, "xdotool", "search", "--onlyvisible", "--name", "^Stage Tamagotchi$").split()[0]
        stage = run(env, "xdotool", "search", "--onlyvisible", "--name", f"^{STAGE_WINDOW_TITLE}$").split()[0]
        assert f'"{STAGE_WINDOW_TITLE}"' not in run(env, "xwininfo", "-children", "-id", window)  # its own window

        def over_the_window() -> bool:
            (sx, sy, sw, sh), (x, y, w, h) = geometry(env, stage), geometry(env, window)
            return x <= sx and sx + sw <= x + w and y <= sy and sy + sh <= y + h and sw > w * 0.9 and sh > h * 0.6

        wait_for(over_the_window, 10, "the stage's window over the avatar's place")
        x, y, width, height = geometry(env, window)
        time.sleep(1.0)
        shot = _screenshot(env, tmp_path / "glued.png")
        assert min(_avatar_pixels(shot, (x, y, width, height))) > 300
        desktop = shot.pixelColor(2, 2)
        for corner in ((x + 4, y + 4), (x + width - 5, y + 4)):
            assert _near(shot.pixelColor(*corner), desktop), (corner, shot.pixelColor(*corner).name())
        # The host's window lets clicks through: the avatar's body gives them to the tamagotchi window (dragged by
        # it), the empty stage to the desktop.
        body = _window_under_pointer(env, x + width // 2, y + height // 2)
        assert body not in {0, int(stage)} and _window_under_pointer(env, x + 26, y + 106) == 0

        # The user drags the window elsewhere: the stage comes along, and nothing is left at the old place.
        run(env, "xdotool", "windowmove", "--sync", window, "40", "40")
        wait_for(lambda: geometry(env, window)[:2] == (40, 40), 10, "the window moved")
        wait_for(over_the_window, 10, "the stage's window followed")
        time.sleep(1.0)
        moved = _screenshot(env, tmp_path / "moved.png")
        assert min(_avatar_pixels(moved, (40, 40, width, height))) > 300
        assert max(_avatar_pixels(moved, (x, y, width, height))) == 0

        # Hidden with the shortcut: the stage goes too; shown again: it is back over the window.
        run(env, "xdotool", "key", "ctrl+alt+shift+t")
        wait_for(lambda: not is_viewable(env, stage), 10, "the stage's window hidden with the window")
        hidden = _screenshot(env, tmp_path / "hidden.png")
        assert max(_avatar_pixels(hidden, (40, 40, width, height))) == 0
        run(env, "xdotool", "key", "ctrl+alt+shift+t")
        wait_for(lambda: is_viewable(env, stage), 10, "the stage's window shown with the window")
        wait_for(over_the_window, 10, "the stage's window back over the window")


def _bounds(image: QImage, box: tuple[int, int, int, int], test: Callable[[QColor], bool]) -> tuple[int, int, int, int]:
    """left, top, right, bottom (inclusive) of the pixels in ``box`` that pass ``test``; fails if there are none."""
    x0, y0, width, height = box
    xs, ys = [], []
    for y in range(max(0, y0), min(image.height(), y0 + height), 2):
        for x in range(max(0, x0), min(image.width(), x0 + width), 2):
            if test(image.pixelColor(x, y)):
                xs.append(x)
                ys.append(y)
    assert xs, f"nothing of the avatar in {box}"
    return min(xs), min(ys), max(xs), max(ys)


def _hair(c: QColor) -> bool:
    return c.red() > 200 and c.green() < 150 and c.blue() > 100


def _sleeves(c: QColor) -> bool:
    return c.blue() > 200 and c.red() < 120


def _avatar_fits(image: QImage, stage: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Checks that the avatar (hair with both ears, both sleeves) is whole inside ``stage`` and centred in it; returns
    its bounds."""
    x, y, width, height = stage
    hair = _bounds(image, (x - 40, y - 40, width + 80, height + 80), _hair)
    sleeves = _bounds(image, (x - 40, y - 40, width + 80, height + 80), _sleeves)
    left, top, right, bottom = min(hair[0], sleeves[0]), hair[1], max(hair[2], sleeves[2]), sleeves[3]
    # Nothing touches the stage's sides or top (a cut-off avatar ends exactly there), and the sleeves' ends are
    # in, with room below them for the rest of the body.
    assert x + 3 < left and right < x + width - 4 and y + 3 < top and bottom < y + height - 10, (stage, hair, sleeves)
    centre = (left + right) / 2
    assert abs(centre - (x + width / 2)) < width * 0.06, (stage, hair, sleeves)
    return left, top, right, bottom


def test_the_embedded_stage_follows_a_body_drag_a_grip_resize_and_a_bubble(
    desktop_env: dict[str, str], web_runtime: Path, tmp_path: Path
) -> None:
    """With the real mouse: the avatar's body drags the window, the grip resizes it and the stage (the canvas of the
    web runtime) follows, the whole avatar in the new size; a speech bubble lies over the stage, which stays put."""
    env = desktop_env
    with _app_showing_tama(env, tmp_path) as (_app, _log):
        window = run(env, "xdotool", "search", "--onlyvisible", "--name", "^Stage Tamagotchi$").split()[0]
        stage = run(env, "xdotool", "search", "--name", f"^{STAGE_WINDOW_TITLE}$").split()[0]
        x, y, width, height = geometry(env, window)
        time.sleep(1.5)
        _avatar_fits(_screenshot(env, tmp_path / "start.png"), geometry(env, stage))

        # Dragged by the body with the mouse button held: the window follows the pointer.
        cx, cy = x + width // 2, y + height // 2
        run(env, "xdotool", "mousemove", "--sync", str(cx), str(cy), "mousedown", "1")
        for step in range(1, 11):
            run(env, "xdotool", "mousemove", "--sync", str(cx - 30 * step), str(cy - 10 * step))
            time.sleep(0.05)
        run(env, "xdotool", "mouseup", "1")
        # The window manager starts moving it on the first motion or two, then it follows the pointer.
        time.sleep(0.5)
        moved_x, moved_y = geometry(env, window)[:2]
        assert abs(moved_x - (x - 300)) <= 40 and abs(moved_y - (y - 100)) <= 20, ((x, y), (moved_x, moved_y))
        x, y = moved_x, moved_y

        # Resized from the grip (bottom right) to a smaller window: the stage window inside takes the new room and
        # the web runtime's canvas with it, so the avatar is whole and centred again.
        gx, gy = x + width - 17, y + height - 18
        run(env, "xdotool", "mousemove", "--sync", str(gx), str(gy), "mousedown", "1")
        for step in range(1, 11):
            run(env, "xdotool", "mousemove", "--sync", str(gx - 10 * step), str(gy - 15 * step))
            time.sleep(0.05)
        run(env, "xdotool", "mouseup", "1")
        wait_for(lambda: geometry(env, window)[2:] == (width - 100, height - 150), 10, "the window resized")
        x, y, width, height = geometry(env, window)
        sx, sy, swidth, sheight = geometry(env, stage)
        assert x < sx and sx + swidth < x + width and y < sy and sy + sheight < y + height - 30, (
            geometry(env, stage),
            (x, y, width, height),
        )
        time.sleep(2.0)  # the page's resize reaches the engine, which draws a few frames at the new size
        resized = _screenshot(env, tmp_path / "resized.png")
        _avatar_fits(resized, (sx, sy, swidth, sheight))
        still = _bounds(resized, (sx, sy, swidth, sheight), _sleeves)

        # Speaking: the bubble shows over the stage's top, and the stage (and the avatar in it) does not move.
        run(env, "xdotool", "mousemove", str(x + width // 3), str(y + height - 22), "click", "1")
        run(env, "xdotool", "type", "--delay", "10", "Hello, I stay where I am while I speak.")
        run(env, "xdotool", "key", "Return")
        deadline = time.monotonic() + 10
        white = 0
        while white < 300 and time.monotonic() < deadline:
            spoken = _screenshot(env, tmp_path / "bubble.png")
            white = _count(spoken, (sx, sy, swidth, 80), lambda c: min(c.red(), c.green(), c.blue()) > 235, step=2)
        assert white >= 300, "no bubble over the stage's top"
        assert geometry(env, stage) == (sx, sy, swidth, sheight)
        sleeves = _bounds(spoken, (sx, sy, swidth, sheight), _sleeves)
        assert all(abs(a - b) <= 2 for a, b in zip(sleeves, still, strict=True)), (still, sleeves)


def test_a_killed_stage_comes_back_inside_the_window_at_the_stage_place_below_the_controls(
    desktop_env: dict[str, str], web_runtime: Path, tmp_path: Path
) -> None:
    """The stage host dies (kill -9): the app restarts it and takes its new window in where the old one was, at the
    stage's size, so the say box, Stop and the menu button stay visible and take clicks."""
    env = desktop_env
    with _app_showing_tama(env, tmp_path) as (app, log):
        window = run(env, "xdotool", "search", "--onlyvisible", "--name", "^Stage Tamagotchi$").split()[0]
        x, y, width, height = geometry(env, window)

        def stage_child() -> tuple[str, str] | None:
            """The stage window inside the tamagotchi window: its id and its place in it (WxH+X+Y)."""
            for line in run(env, "xwininfo", "-children", "-id", window).splitlines():
                if f'"{STAGE_WINDOW_TITLE}"' in line:
                    fields = line.split()
                    return fields[0], next(f for f in fields if "x" in f and "+" in f and f[0].isdigit())
            return None

        wait_for(lambda: stage_child() is not None, 10, "the stage taken in")
        first = stage_child()
        assert first is not None
        host_pid = int(run(env, "xprop", "-id", first[0], "_NET_WM_PID").split("=")[1])
        os.kill(host_pid, signal.SIGKILL)
        _wait_for(log, "re-applied Tama (built-in).vrm after the restart", app, 90)

        def new_host_inside() -> bool:
            child = stage_child()
            return child is not None and f"= {host_pid}" not in run(env, "xprop", "-id", child[0], "_NET_WM_PID")

        wait_for(new_host_inside, 30, "the new stage taken in")  # X may give the new window the old one's id
        # Same place and size as before, not the host's own 450x600 (which hid the controls).
        with contextlib.suppress(AssertionError):
            wait_for(lambda: (child := stage_child()) is not None and child[1] == first[1], 15, "the stage's place")
        again = stage_child()
        assert again is not None and again[1] == first[1], (first, again)
        time.sleep(1.0)
        assert geometry(env, window) == (x, y, width, height)
        shot = _screenshot(env, tmp_path / "restarted.png")
        _avatar_fits(shot, geometry(env, again[0]))
        # The controls below the stage are visible and take a click: the say box gets a sentence, which is spoken.
        assert _count(shot, (x, y + height - 40, width, 36), lambda c: c.red() > 230 and c.green() > 230) > 100
        run(env, "xdotool", "mousemove", str(x + width // 3), str(y + height - 22), "click", "1")
        run(env, "xdotool", "type", "--delay", "10", "Back again.")
        run(env, "xdotool", "key", "Return")
        _wait_for(log, "espeak-ng ready", app, 20)
