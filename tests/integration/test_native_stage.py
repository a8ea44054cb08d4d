"""A stage process's window inside the tamagotchi window, or glued over it. The finder runs against a real X server
(Xvfb) with a stand-in stage window (a Qt window in another process, which sets _NET_WM_PID as Godot does); here the
foreign-window wrapping and the window mover are faked at exactly those platform calls, the real ones run with the
embedded stage's host in ``tests/e2e/test_desktop_on_x11.py``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from app.config.service import SettingsService
from app.config.store import SettingsStore
from app.speech_link import NoSpeech
from app.stage_service import StageService
from app.ui.native_stage import NativeStageEmbedder, X11WindowFinder
from app.ui.placement import Screen
from app.ui.stage_glue import Rect, StageGlue
from app.ui.tamagotchi_window import FOREIGN_STAGE, TamagotchiWindow
from tests.integration.test_stage_service import library_at
from tests.support.xvfb import XvfbUnavailable, running_xvfb
from tests.waiting import until

SCREEN = Screen("fake", (0, 0, 1280, 800), (0, 0, 1280, 800))
STAND_IN = """
import sys
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication(sys.argv)
window = QWidget()
window.setWindowTitle("stand-in stage")
window.resize(200, 200)
window.show()
print("shown", flush=True)
app.exec()
"""


class SteppingFinder:
    def __init__(self, answers: list[int | None]) -> None:
        self.answers = answers
        self.asked: list[int] = []

    def window_of(self, pid: int) -> int | None:
        self.asked.append(pid)
        return self.answers.pop(0) if self.answers else None


class RecordingMover:
    """Records the platform calls; a window it placed is where it was put."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.where: Rect | None = None

    def keep_above(self, window_id: int, owner_id: int) -> None:
        self.calls.append(("keep_above", window_id))

    def place(self, window_id: int, rect: Rect) -> None:
        self.calls.append(("place", rect))
        self.where = rect

    def set_visible(self, window_id: int, visible: bool) -> None:
        self.calls.append(("visible", visible))

    def refresh_input_shape(self, window_id: int) -> None:
        self.calls.append(("refresh_input_shape", window_id))

    def geometry(self, window_id: int) -> Rect | None:
        return self.where

    def close(self) -> None:
        self.calls.append(("close", None))


def tamagotchi(qtbot: QtBot, tmp_path: Path) -> TamagotchiWindow:
    stage = StageService(library_at(tmp_path), None, "native stage")
    window = TamagotchiWindow(stage, SettingsService(SettingsStore(tmp_path)), NoSpeech(), screens=lambda: [SCREEN])
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.mark.qt
async def test_the_stage_window_is_wrapped_once_it_appears_and_removed_when_the_stage_ends(
    qtbot: QtBot, tmp_path: Path
) -> None:
    window = tamagotchi(qtbot, tmp_path)
    wrapped: list[int] = []

    def wrap(window_id: int) -> QWidget:
        wrapped.append(window_id)
        return QWidget()

    finder = SteppingFinder([None, None, 0x2A00007])
    embedder = NativeStageEmbedder(window, finder, wrap, interval_ms=10)
    embedder.stage_running(4242)
    await until(lambda: embedder.embedded == 0x2A00007, 2, "the window wrapped")
    assert finder.asked == [4242, 4242, 4242] and wrapped == [0x2A00007]
    assert window.stage_view is not None and window.stage_view.parent() is window
    embedder.stage_gone()
    assert window.stage_view is None and embedder.embedded is None


@pytest.mark.qt
async def test_a_window_that_never_appears_or_cannot_be_wrapped_leaves_the_stage_on_its_own(
    qtbot: QtBot, tmp_path: Path
) -> None:
    window = tamagotchi(qtbot, tmp_path)
    now = [0.0]
    finder = SteppingFinder([])
    embedder = NativeStageEmbedder(
        window, finder, lambda _id: QWidget(), timeout_s=1.0, interval_ms=10, clock=lambda: now[0]
    )
    embedder.stage_running(7)
    await until(lambda: len(finder.asked) >= 3, 2)
    now[0] = 5.0
    await until(lambda: not embedder._timer.isActive(), 2, "the search to give up")
    assert window.stage_view is None
    unwrappable = NativeStageEmbedder(window, SteppingFinder([99]), lambda _id: None, interval_ms=10)
    unwrappable.stage_running(8)
    assert unwrappable.embedded is None and window.stage_view is None


@pytest.mark.tier3
def test_the_x11_finder_finds_a_processs_top_level_window_by_its_pid() -> None:
    try:
        xvfb = running_xvfb()
        display = xvfb.__enter__()
    except XvfbUnavailable as missing:
        pytest.skip(str(missing))
    env = {k: v for k, v in os.environ.items() if k not in {"QT_QPA_PLATFORM", "WAYLAND_DISPLAY"}}
    env["DISPLAY"] = display
    stand_in = subprocess.Popen([sys.executable, "-c", STAND_IN], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert stand_in.stdout is not None and stand_in.stdout.readline().strip() == "shown"
        finder = X11WindowFinder(display)
        deadline = time.monotonic() + 10
        found = finder.window_of(stand_in.pid)
        while found is None and time.monotonic() < deadline:
            time.sleep(0.05)
            found = finder.window_of(stand_in.pid)
        assert found is not None
        title = subprocess.run(
            ["xprop", "-id", str(found), "WM_NAME"], env=env, capture_output=True, text=True, check=True
        ).stdout
        assert "stand-in stage" in title
        assert finder.window_of(stand_in.pid + 100000) is None
        assert X11WindowFinder(":987").window_of(stand_in.pid) is None  # no X server there: None, no exception
    finally:
        stand_in.terminate()
        stand_in.wait(10)
        xvfb.__exit__(None, None, None)


@pytest.mark.qt
async def test_a_glued_stage_window_is_kept_over_the_avatars_place_as_the_window_moves_hides_and_shows(
    qtbot: QtBot, tmp_path: Path
) -> None:
    window = tamagotchi(qtbot, tmp_path)
    mover = RecordingMover()
    glue = StageGlue(window, mover, interval_ms=20)
    wrapped: list[int] = []

    def wrap(window_id: int) -> QWidget:
        wrapped.append(window_id)
        return QWidget()

    embedder = NativeStageEmbedder(window, SteppingFinder([0x3C00002]), wrap, glue=glue, inside=False)
    embedder.stage_running(4343)
    assert wrapped == [] and embedder.embedded is None and glue.glued == 0x3C00002
    assert mover.calls[:2] == [("keep_above", 0x3C00002), ("visible", True)]
    # The avatar's place is kept free in the window, and it takes the mouse (clicks fall through the stage window).
    assert window.stage_view is not None and window.stage_view.objectName() == FOREIGN_STAGE
    await until(lambda: mover.where == glue.stage_rect(), 2, "the stage window placed")
    first = mover.where
    assert first is not None and first[2] > 100 and first[3] > 100

    window.move(window.x() + 37, window.y() + 11)
    await until(lambda: mover.where is not None and mover.where[:2] == (first[0] + 37, first[1] + 11), 2, "followed")
    mover.where = (0, 0, 5, 5)  # the window manager or the user moved it: put back
    await until(lambda: mover.where == glue.stage_rect(), 2, "put back")

    await until(lambda: ("refresh_input_shape", 0x3C00002) in mover.calls, 2, "the frame shaped like the window")
    window.hide()
    await until(lambda: mover.calls[-1] == ("visible", False), 2, "hidden along")
    window.show()
    await until(lambda: ("visible", True) in mover.calls[-3:], 2, "shown along")

    embedder.stage_gone()
    assert mover.calls[-1] == ("close", None) and glue.glued is None and window.stage_view is None


@pytest.mark.qt
async def test_a_window_that_cannot_be_wrapped_is_glued_instead(qtbot: QtBot, tmp_path: Path) -> None:
    window = tamagotchi(qtbot, tmp_path)
    mover = RecordingMover()
    embedder = NativeStageEmbedder(
        window, SteppingFinder([0x3C00009]), lambda _id: None, glue=StageGlue(window, mover), interval_ms=10
    )
    embedder.stage_running(4444)
    assert embedder.embedded is None and ("keep_above", 0x3C00009) in mover.calls


@pytest.mark.qt
async def test_the_window_is_looked_for_as_soon_as_the_stage_process_exists(qtbot: QtBot, tmp_path: Path) -> None:
    window = tamagotchi(qtbot, tmp_path)
    pids: list[int | None] = [None, 51, 51, 51, 52]  # launching; the previous process, still known; the new one
    finder = SteppingFinder([0x2A00011])
    embedder = NativeStageEmbedder(window, finder, lambda _id: QWidget(), interval_ms=10)
    embedder.stage_starting(lambda: pids.pop(0) if len(pids) > 1 else pids[0])
    await until(lambda: embedder.embedded == 0x2A00011, 2, "the window wrapped while the stage starts")
    assert finder.asked == [51]
    embedder.stage_gone()
    pids[:] = [51, 51, 52]
    finder.answers = [0x2A00012]
    embedder.stage_starting(lambda: pids.pop(0) if len(pids) > 1 else pids[0])
    await until(lambda: embedder.embedded == 0x2A00012, 2, "the restarted stage's window wrapped")
    assert finder.asked == [51, 52]
