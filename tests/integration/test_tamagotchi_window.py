"""The tamagotchi window, its tray menu and the settings window, driven with pytest-qt offscreen."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QContextMenuEvent, QCursor, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLabel,
    QLineEdit,
    QMenu,
    QSpinBox,
    QWidget,
)
from pytestqt.qtbot import QtBot

from app.config.service import SettingsService
from app.config.store import SettingsStore
from app.speech_link import NoSpeech, SpeechEvent, SpeechEvents
from app.stage_service import StageService
from app.ui.placement import Screen, screen_key
from app.ui.settings_window import GodotDetector, SettingsWindow, base_versions
from app.ui.tamagotchi_window import TamagotchiWindow
from app.ui.tray import TrayActions, TrayMenu
from tests.integration.test_stage_service import RecordingRuntime, library_at, vrm_file
from tests.waiting import until

pytestmark = pytest.mark.qt

SCREEN = Screen("fake-1", (0, 0, 1280, 800), (0, 0, 1280, 770))
WIDE = Screen("fake-2", (1280, 0, 1920, 1080), (1280, 0, 1920, 1080))


class RecordingSpeech(SpeechEvents):
    def __init__(self) -> None:
        super().__init__()
        self.said: list[str] = []
        self.stops = 0

    def say(self, text: str) -> None:
        self.said.append(text)

    def stop(self) -> None:
        self.stops += 1


class PaintedStage(QWidget):
    """Stands in for the web view: an opaque disc on a transparent background, as the stage renders the avatar."""

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#f0a"))
        painter.drawEllipse(self.rect().center(), 60, 60)
        painter.end()


def make_window(
    qtbot: QtBot, tmp_path: Path, *, runtime: RecordingRuntime | None = None, stage_view: QWidget | None = None
) -> tuple[TamagotchiWindow, StageService, SettingsService, RecordingSpeech]:
    screens = [SCREEN]
    stage = StageService(library_at(tmp_path / "profile"), runtime, "Godot 4 not found. Install Godot 4.3 or newer.")
    settings = SettingsService(SettingsStore(tmp_path / "profile"))
    speech = RecordingSpeech()
    window = TamagotchiWindow(stage, settings, speech, stage_view, screens=lambda: screens)
    qtbot.addWidget(window)
    return window, stage, settings, speech


async def test_a_missing_godot_is_said_in_plain_words_with_a_way_to_the_stage_settings(
    qtbot: QtBot, tmp_path: Path
) -> None:
    window, _stage, _settings, _speech = make_window(qtbot, tmp_path)
    window.show()
    await until(lambda: "Godot 4 not found: install it or set its path" in window.status_text.text(), 2)
    assert window.fix_button.isVisible()
    with qtbot.waitSignal(window.settings_requested) as asked:
        window.fix_button.click()
    assert asked.args == ["stage"]


async def test_a_stage_that_does_not_start_offers_the_way_to_the_stage_settings(qtbot: QtBot, tmp_path: Path) -> None:
    class NoStart(RecordingRuntime):
        async def start(self) -> None:
            raise RuntimeError("the web runtime needs npm: apt-get install npm")

    window, stage, _settings, _speech = make_window(qtbot, tmp_path, runtime=NoStart())
    window.show()
    await stage.start()
    await until(lambda: "needs npm" in window.status_text.text(), 2)
    assert window.fix_button.isVisible()
    with qtbot.waitSignal(window.settings_requested) as asked:
        window.fix_button.click()
    assert asked.args == ["stage"]


async def test_the_status_follows_the_stage_and_hides_once_the_avatar_shows(qtbot: QtBot, tmp_path: Path) -> None:
    window, stage, _settings, _speech = make_window(qtbot, tmp_path, runtime=RecordingRuntime())
    window.show()
    # Before start() runs (the app calls it at once), the window already says it is starting, not "stopped".
    await until(lambda: window.status_text.text() == "Starting the stage…", 2)
    await stage.start()
    await until(lambda: window.status_text.text() == "Ready", 2)
    await stage.apply_file(vrm_file(tmp_path))
    await until(lambda: not window.status.isVisible(), 3, "the status to give way to the avatar")
    assert stage.status.phase == "applied" and not window.fix_button.isVisible()


async def test_say_box_stop_button_and_the_bubble_talk_to_the_speech_link(qtbot: QtBot, tmp_path: Path) -> None:
    window, _stage, _settings, speech = make_window(qtbot, tmp_path)
    window.show()
    window.say_box.setText("Hello there")
    window.say_box.returnPressed.emit()
    assert speech.said == ["Hello there"] and window.say_box.text() == ""
    window.say_box.returnPressed.emit()  # nothing typed: nothing said
    assert speech.said == ["Hello there"]
    window.stop_button.click()
    assert speech.stops == 1
    speech.emit(SpeechEvent("sentence", "Hello there, I am Tama."))
    await until(lambda: window.bubble.isVisible() and window.bubble.text() == "Hello there, I am Tama.", 2)
    assert window.stop_button.property("speaking") is True
    speech.emit(SpeechEvent("sentence", "Nice to meet you."))
    await until(lambda: window.bubble.text() == "Nice to meet you.", 2)
    speech.emit(SpeechEvent("idle"))
    await until(lambda: window.stop_button.property("speaking") is False, 2)


async def test_without_speech_the_bubble_says_why_nothing_is_heard(qtbot: QtBot, tmp_path: Path) -> None:
    stage = StageService(library_at(tmp_path / "p"), None, "no godot")
    window = TamagotchiWindow(
        stage, SettingsService(SettingsStore(tmp_path / "p")), NoSpeech(), screens=lambda: [SCREEN]
    )
    qtbot.addWidget(window)
    window.show()
    window.say_box.setText("Hi")
    window.say_box.returnPressed.emit()
    await until(lambda: NoSpeech.REASON in window.bubble.text(), 2)


async def test_window_settings_apply_at_once(qtbot: QtBot, tmp_path: Path) -> None:
    window, _stage, settings, _speech = make_window(qtbot, tmp_path)
    window.show()
    flags = window.windowFlags()
    assert flags & Qt.WindowType.FramelessWindowHint and flags & Qt.WindowType.WindowStaysOnTopHint
    assert window.testAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
    settings.update("window", always_on_top=False)
    assert not window.windowFlags() & Qt.WindowType.WindowStaysOnTopHint and window.isVisible()
    settings.update("window", opacity=0.6)
    assert window.windowOpacity() == pytest.approx(0.6, abs=0.01)


async def test_click_through_lets_only_the_avatar_and_the_controls_take_the_mouse(qtbot: QtBot, tmp_path: Path) -> None:
    window, _stage, settings, _speech = make_window(qtbot, tmp_path, stage_view=PaintedStage())
    window.resize(450, 600)
    window.show()
    await until(lambda: not window.mask().isEmpty(), 2, "a click-through shape")
    assert window.stage_view is not None
    centre = window.stage_view.geometry().center()
    corner = window.stage_view.geometry().topLeft()
    assert window.mask().contains(centre)  # the avatar's body
    assert not window.mask().contains(corner)  # empty stage: clicks go through
    assert window.mask().contains(window.controls.geometry().center())
    settings.update("window", click_through=False)
    assert window.mask().isEmpty()  # no shape: the whole window takes the mouse


async def test_the_place_is_remembered_per_monitor_layout(qtbot: QtBot, tmp_path: Path) -> None:
    screens = [SCREEN]
    stage = StageService(library_at(tmp_path / "p"), None, "no godot")
    settings = SettingsService(SettingsStore(tmp_path / "p"))
    window = TamagotchiWindow(stage, settings, RecordingSpeech(), screens=lambda: screens)
    qtbot.addWidget(window)
    window.show()
    window.setGeometry(100, 120, 400, 520)
    await until(lambda: screen_key([SCREEN]) in settings.settings.window.geometry, 3, "the place to be saved")
    saved = settings.settings.window.geometry[screen_key([SCREEN])]
    assert (saved.x, saved.y, saved.width, saved.height) == (100, 120, 400, 520)
    screens.append(WIDE)  # a monitor is plugged in: the window moves there and that layout remembers it
    window.setGeometry(1500, 100, 450, 600)
    await until(lambda: screen_key(screens) in settings.settings.window.geometry, 3)
    screens.remove(WIDE)  # unplugged: back where this layout had it
    window.replace_on_screens()
    assert (window.x(), window.y()) == (100, 120)
    reopened = TamagotchiWindow(
        stage, SettingsService(SettingsStore(tmp_path / "p")), NoSpeech(), screens=lambda: [SCREEN]
    )
    qtbot.addWidget(reopened)
    assert (reopened.x(), reopened.y(), reopened.width(), reopened.height()) == (100, 120, 400, 520)


async def test_align_and_size_bounds(qtbot: QtBot, tmp_path: Path) -> None:
    window, _stage, _settings, _speech = make_window(qtbot, tmp_path)
    window.show()
    window.resize(50, 50)
    await until(lambda: (window.width(), window.height()) == (200, 260), 2, "the minimum size")
    window.align("top-left")
    assert (window.x(), window.y()) == (16, 16)
    window.align("center")
    assert window.geometry().center().x() == pytest.approx(640, abs=2)


async def test_closing_hides_when_a_tray_can_bring_it_back_and_closes_otherwise(qtbot: QtBot, tmp_path: Path) -> None:
    window, _stage, _settings, _speech = make_window(qtbot, tmp_path)
    window.show()
    window.hides_on_close = lambda: True
    window.close()
    assert not window.isVisible()
    window.toggle_visible()
    assert window.isVisible()
    window.allow_close()
    with qtbot.waitSignal(window.closed):
        window.close()


async def test_the_window_opens_the_app_menu_from_its_button_and_a_right_click(qtbot: QtBot, tmp_path: Path) -> None:
    window, _stage, _settings, _speech = make_window(qtbot, tmp_path)
    window.show()
    await until(window.controls.isVisible, 2, "the window laid out")
    # No stage shown: the controls stay at the bottom at their own height, the status above them.
    assert window.height() - window.controls.geometry().bottom() <= 8
    assert window.controls.height() < 80 and window.status.geometry().bottom() < window.controls.y()

    def right_click(widget: QWidget) -> None:
        inside = QPoint(5, 5)
        event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, inside, widget.mapToGlobal(inside))
        QApplication.sendEvent(widget, event)

    right_click(window.status)  # no menu given yet: nothing opens, nothing breaks
    assert window.menu_button.isHidden()
    menu = QMenu()
    menu.addAction("Quit")
    window.set_menu(menu)
    assert window.menu_button.isVisible() and window.menu_button.menu() is menu
    right_click(window.status)  # the status box does not use the click: the window opens the menu where it was
    await until(menu.isVisible, 2, "the menu open")
    assert abs(menu.y() - window.status.mapToGlobal(QPoint(5, 5)).y()) <= 2  # (moved left to stay on the screen)
    menu.close()


async def test_the_tray_menu_has_every_action_and_toggles_settings(qtbot: QtBot, tmp_path: Path) -> None:
    window, _stage, settings, _speech = make_window(qtbot, tmp_path)
    window.show()
    calls: list[str] = []
    menu = TrayMenu(
        TrayActions(
            toggle_window=lambda: calls.append("toggle"),
            align=calls.append,
            stop_speaking=lambda: calls.append("stop"),
            open_settings=lambda: calls.append("settings"),
            open_devtools=lambda: calls.append("devtools"),
            quit=lambda: calls.append("quit"),
        ),
        settings,
        window,
    )
    texts = menu.action_texts()
    for wanted in ("Hide", "Align to", "Click through empty areas", "Always on top", "Stop speaking", "Settings…"):
        assert wanted in texts
    assert "Devtools…" in texts and "Quit" in texts
    assert menu.click_through.isChecked()
    menu.click_through.trigger()
    assert settings.settings.window.click_through is False
    menu.refresh()
    assert not menu.click_through.isChecked()
    by_text = {a.text(): a for a in menu.actions()}
    for text in ("Hide", "Stop speaking", "Settings…", "Devtools…", "Quit"):
        by_text[text].trigger()
    align_menu = by_text["Align to"].menu()
    assert isinstance(align_menu, QMenu)
    next(a for a in align_menu.actions() if a.text() == "Top right").trigger()
    assert calls == ["toggle", "stop", "settings", "devtools", "quit", "top-right"]


async def test_the_settings_window_edits_every_section_and_shows_refusals_inline(qtbot: QtBot, tmp_path: Path) -> None:
    settings = SettingsService(SettingsStore(tmp_path))
    restarts: list[bool] = []
    window = SettingsWindow(
        settings, {"models": QLabel("models page")}, base_versions("1.2.3"), lambda: restarts.append(True)
    )
    qtbot.addWidget(window)
    window.show()
    assert window.page_names == ["models", "window", "stage", "speech", "language_model", "lip_sync", "about"]
    window.show_page("stage")
    assert window.current_page() == "stage"
    stage = window.forms["stage"]
    runtime = stage.editors["runtime"]
    assert isinstance(runtime, QComboBox)
    runtime.setCurrentText("embedded")
    assert settings.settings.stage.runtime == "embedded"
    stage_window = stage.editors["window"]
    assert isinstance(stage_window, QComboBox) and stage_window.currentText() == "inside"
    assert [stage_window.itemText(i) for i in range(stage_window.count())] == ["inside", "glued"]
    stage_window.setCurrentText("glued")
    assert settings.settings.stage.window == "glued"
    uri = stage.editors["remote_debug_uri"]
    assert isinstance(uri, QLineEdit)
    uri.setText("http://nope")
    uri.editingFinished.emit()
    assert not stage.errors["remote_debug_uri"].isHidden()
    assert "tcp://127.0.0.1:6007" in stage.errors["remote_debug_uri"].text()
    assert settings.settings.stage.remote_debug_uri == "tcp://127.0.0.1:6007"
    godot = stage.editors["godot_path"]
    assert isinstance(godot, QLineEdit)
    godot.setText("/opt/godot4")
    godot.editingFinished.emit()
    godot.setText("")
    godot.editingFinished.emit()
    assert settings.settings.stage.godot_path is None
    on_top = window.forms["window"].editors["always_on_top"]
    assert isinstance(on_top, QCheckBox) and on_top.isChecked()
    settings.update("window", always_on_top=False)  # changed elsewhere (the tray): the form follows
    assert not on_top.isChecked()
    restart = window.findChild(QWidget, "restartStage")
    assert restart is not None
    restart.click()  # type: ignore[attr-defined]
    assert restarts == [True]
    version = window.findChild(QLabel, "version-Stage Tamagotchi")
    assert version is not None and version.text() == "1.2.3"


async def test_detect_godot_reports_the_version_or_why_none_is_usable(qtbot: QtBot, tmp_path: Path) -> None:
    settings = SettingsService(SettingsStore(tmp_path))
    asked: list[str | None] = []

    def find(path: str | None) -> tuple[bool, str]:
        asked.append(path)
        return (True, "Godot 4.6 at /opt/godot4") if path else (False, "Godot 4 not found. Install Godot 4.3 or newer.")

    detector = GodotDetector(settings, find)
    window = SettingsWindow(settings, {}, base_versions("1"), page_extras={"stage": [detector]})
    qtbot.addWidget(window)
    detector.button.click()
    assert "not found" in detector.result.text() and "c0392b" in detector.result.styleSheet()
    settings.update("stage", godot_path="/opt/godot4")
    detector.button.click()
    assert detector.result.text() == "Godot 4.6 at /opt/godot4" and asked == [None, "/opt/godot4"]


async def test_a_dropped_vrm_becomes_the_avatar_and_a_bad_file_is_refused_in_plain_words(
    qtbot: QtBot, tmp_path: Path
) -> None:
    runtime = RecordingRuntime()
    window, stage, _settings, _speech = make_window(qtbot, tmp_path, runtime=runtime)
    window.show()
    await stage.start()
    window.open_model(vrm_file(tmp_path))
    await until(lambda: stage.status.phase == "applied" and not window.status.isVisible(), 3)
    assert len(runtime.scenes) == 1
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello")
    window.open_model(bogus)
    await until(lambda: "was refused" in window.status_text.text(), 3)
    assert not window.fix_button.isVisible() and len(runtime.scenes) == 1  # nothing to fix in the settings


async def test_number_fields_offer_exactly_the_range_the_settings_accept(qtbot: QtBot, tmp_path: Path) -> None:
    settings = SettingsService(SettingsStore(tmp_path))
    window = SettingsWindow(settings, {}, base_versions("1.2.3"))
    qtbot.addWidget(window)
    speed = window.forms["speech"].editors["speed"]
    assert isinstance(speed, QDoubleSpinBox)
    assert (speed.minimum(), speed.maximum()) == (0.5, 2.0)
    speed.setValue(1.5)  # faster than 1.0 was out of reach when every float field was clamped to 0..1
    assert settings.settings.speech.speed == 1.5
    port = window.forms["lip_sync"].editors["vmc_port"]
    assert isinstance(port, QSpinBox)
    assert (port.minimum(), port.maximum()) == (1, 65535)
    lead = window.forms["lip_sync"].editors["lead_ms"]
    assert isinstance(lead, QSpinBox) and lead.maximum() == 500
    latency = window.forms["lip_sync"].editors["output_latency_ms"]
    assert isinstance(latency, QSpinBox) and (latency.minimum(), latency.maximum(), latency.value()) == (-500, 500, 0)


async def test_the_bubble_lies_over_the_stage_top_and_the_stage_keeps_its_size(qtbot: QtBot, tmp_path: Path) -> None:
    stage_view = QWidget()
    window, _stage, _settings, speech = make_window(qtbot, tmp_path, stage_view=stage_view)
    window.resize(450, 600)
    window.show()
    await until(lambda: window.status.isVisible() and stage_view.height() > 300, 2, "the stage laid out")
    await asyncio.sleep(0.2)
    before = stage_view.geometry()
    speech.emit(SpeechEvent("sentence", "A sentence long enough to wrap onto a second line in the bubble, surely."))
    await until(window.bubble.isVisible, 2, "the bubble")
    assert stage_view.geometry() == before  # the avatar does not move when a sentence shows
    area, bubble = window.stage_area(), window.bubble_window.geometry()
    assert area.contains(bubble) and bubble.top() - area.top() < 20 and bubble.height() < area.height() // 2
    assert bubble.width() > area.width() - 30 and bubble.height() >= 2 * window.bubble.fontMetrics().height()
    # It moves with the window, and goes when the window hides.
    window.move(window.x() + 40, window.y() + 30)
    await until(lambda: window.bubble_window.geometry() == bubble.translated(40, 30), 2, "the bubble to follow")
    window.hide()
    assert not window.bubble.isVisible()


async def test_the_click_through_shape_is_refreshed_often_only_with_the_pointer_over_the_window(
    qtbot: QtBot, tmp_path: Path
) -> None:
    """Reading a stage that another process draws is costly: with the pointer elsewhere, every 2 s is enough."""
    window, _stage, _settings, _speech = make_window(qtbot, tmp_path)
    window.setGeometry(300, 100, 450, 600)
    window.show()
    refreshed: list[float] = []
    window.mask_updated.connect(lambda: refreshed.append(time.monotonic()))
    QCursor.setPos(10, 10)
    await until(lambda: time.monotonic() > window._settling_until, 3, "the window to settle after showing")
    refreshed.clear()
    await asyncio.sleep(1.2)
    assert len(refreshed) <= 1, refreshed
    QCursor.setPos(500, 400)
    await until(lambda: len(refreshed) >= 5, 3, "refreshes with the pointer over the window")
