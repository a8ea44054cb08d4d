"""The devtool page, the settings page and the capture field (pytest-qt, offscreen) over a fake backend."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QPushButton, QTableWidget
from pytestqt.qtbot import QtBot

from app.shortcuts.accelerator import Accelerator, Modifier, parse_accelerator
from app.shortcuts.actions import DEFAULT_ACTIONS, NEXT_AVATAR, STOP_SPEAKING, TOGGLE_WINDOW
from app.shortcuts.backend import FailureReason, Phase
from app.shortcuts.service import ShortcutService, Trigger
from app.shortcuts.settings import MemoryBindingSettings
from app.ui.accelerator_field import AcceleratorField
from app.ui.shortcut_settings import ShortcutSettingsPage
from app.ui.shortcuts_devtool import TRIGGER_LOG_LIMIT, ShortcutsDevtool
from tests.unit.shortcuts.fake_backend import FakeBackend
from tests.waiting import until

pytestmark = pytest.mark.qt
CTRL, ALT, SHIFT = (
    Qt.KeyboardModifier.ControlModifier,
    Qt.KeyboardModifier.AltModifier,
    Qt.KeyboardModifier.ShiftModifier,
)
CTRL_ALT_K = parse_accelerator("Ctrl+Alt+K")


def cell(table: QTableWidget, row: int, column: int) -> str:
    item = table.item(row, column)
    assert item is not None, f"no item at {row}, {column}"
    return item.text()


def press(field: AcceleratorField, key: Qt.Key, modifiers: Qt.KeyboardModifier) -> None:
    QTest.keyClick(field, key, modifiers)


async def test_the_field_records_the_pressed_combination(qtbot: QtBot) -> None:
    field = AcceleratorField(platform="linux")
    qtbot.addWidget(field)
    captured: list[Accelerator] = []
    refused: list[str] = []
    field.captured.connect(captured.append)
    field.refused.connect(refused.append)
    press(field, Qt.Key.Key_Control, CTRL)  # a modifier alone records nothing
    press(field, Qt.Key.Key_K, CTRL | ALT)
    assert captured == [CTRL_ALT_K] and field.text() == "Ctrl+Alt+K"
    press(field, Qt.Key.Key_Exclam, CTRL | SHIFT)  # Shift+1 arrives as '!' and is still Digit1
    assert captured[-1] == Accelerator.of("Digit1", Modifier.CTRL, Modifier.SHIFT)
    press(field, Qt.Key.Key_K, SHIFT)
    assert "needs Ctrl, Alt" in refused[-1] and len(captured) == 2
    press(field, Qt.Key.Key_F5, Qt.KeyboardModifier.NoModifier)  # function keys may stand alone
    assert captured[-1] == Accelerator.of("F5")
    press(field, Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier)  # cancel: keep what was there
    assert field.accelerator() == Accelerator.of("F5") and len(captured) == 3


async def test_devtool_registers_shows_reasons_lists_bindings_and_logs_triggers(qtbot: QtBot) -> None:
    backend = FakeBackend()
    backend.refuse[parse_accelerator("Ctrl+Alt+J")] = (FailureReason.CONFLICT, "taken by another application")
    service = ShortcutService(backend)
    page = ShortcutsDevtool(service)
    qtbot.addWidget(page)
    page.id_field.setText("talk")
    press(page.accelerator_field, Qt.Key.Key_K, CTRL | ALT)
    page.key_ups.setChecked(True)
    page.register_button.click()
    await until(lambda: "registered" in page.result_label.text(), what="the register result")
    assert page.bindings.rowCount() == 1 and cell(page.bindings, 0, 1) == "Ctrl+Alt+K"
    assert cell(page.bindings, 0, 2) == "yes"

    page.register_button.click()
    await until(lambda: "duplicate-id" in page.result_label.text(), what="the duplicate id")
    page.id_field.setText("other")
    press(page.accelerator_field, Qt.Key.Key_J, CTRL | ALT)
    page.register_button.click()
    await until(lambda: "conflict: taken by another application" in page.result_label.text(), what="the conflict")
    assert page.bindings.rowCount() == 1

    for _ in range(TRIGGER_LOG_LIMIT // 2 + 5):
        backend.press(CTRL_ALT_K, Phase.DOWN)
        backend.press(CTRL_ALT_K, Phase.UP)
    await until(lambda: len(page.log) == TRIGGER_LOG_LIMIT, what="a full trigger log")
    assert page.trigger_table.rowCount() == TRIGGER_LOG_LIMIT
    newest: Trigger = page.log[0].trigger
    assert (newest.id, newest.phase) == ("talk", Phase.UP)
    assert page.log[0].since_previous_ms is not None and cell(page.trigger_table, 0, 3) != ""

    unregister = page.bindings.cellWidget(0, 4)
    assert isinstance(unregister, QPushButton)
    unregister.click()
    await until(lambda: page.bindings.rowCount() == 0, what="the binding to go")
    assert backend.held() == set()
    page.clear_log()
    assert page.trigger_table.rowCount() == 0


async def test_settings_page_shows_a_failed_default_and_rebinds_with_conflicts_inline(qtbot: QtBot) -> None:
    backend = FakeBackend()
    stop_default = parse_accelerator(next(a.default for a in DEFAULT_ACTIONS if a.id == STOP_SPEAKING))
    backend.refuse[stop_default] = (FailureReason.CONFLICT, "held by another application")
    service = ShortcutService(backend, MemoryBindingSettings())
    results = await service.bind_actions({spec.id: lambda _: None for spec in DEFAULT_ACTIONS})
    page = ShortcutSettingsPage(service, results)
    qtbot.addWidget(page)
    stop = page.rows[STOP_SPEAKING]
    assert stop.status.text() == "Already in use: held by another application" and stop.field.text() == ""
    assert page.rows[TOGGLE_WINDOW].field.accelerator() == parse_accelerator(DEFAULT_ACTIONS[0].default)

    press(stop.field, Qt.Key.Key_Escape, CTRL | ALT)
    await until(lambda: stop.status.text() == "", what="the rebinding")
    assert stop.field.accelerator() == parse_accelerator("Ctrl+Alt+Escape")
    assert service.settings.load()[STOP_SPEAKING] == "Ctrl+Alt+Escape"

    toggle = page.rows[TOGGLE_WINDOW]
    before = toggle.field.accelerator()
    press(toggle.field, Qt.Key.Key_Escape, CTRL | ALT)  # what stop-speaking now uses
    await until(lambda: "Already in use" in toggle.status.text(), what="the inline conflict")
    assert f"'{STOP_SPEAKING}'" in toggle.status.text() and toggle.field.accelerator() == before

    page.rows[NEXT_AVATAR].turn_off.click()
    await until(lambda: page.rows[NEXT_AVATAR].status.text() == "Turned off.", what="turning off")
    assert page.rows[NEXT_AVATAR].field.text() == "" and service.settings.load()[NEXT_AVATAR] is None
    page.rows[NEXT_AVATAR].reset.click()
    await until(lambda: page.rows[NEXT_AVATAR].field.text() != "", what="the reset")
    assert page.rows[NEXT_AVATAR].field.accelerator() == parse_accelerator(DEFAULT_ACTIONS[3].default)


class UnreadableSettings(MemoryBindingSettings):
    def load(self) -> dict[str, str | None]:
        raise PermissionError(13, "Permission denied", "shortcuts.json")


async def test_a_change_that_breaks_is_shown_on_the_page_not_lost(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    service = ShortcutService(FakeBackend(), MemoryBindingSettings())
    await service.bind_actions({spec.id: lambda _: None for spec in DEFAULT_ACTIONS})
    service.settings = UnreadableSettings()
    settings_page = ShortcutSettingsPage(service)
    qtbot.addWidget(settings_page)
    settings_page.rows[NEXT_AVATAR].turn_off.click()
    await until(lambda: settings_page.failure.text() != "", what="the failure on the settings page")
    assert settings_page.failure.text() == (
        f"Changing {NEXT_AVATAR} failed: PermissionError: [Errno 13] Permission denied: 'shortcuts.json'"
    )

    async def broken() -> None:
        raise RuntimeError("the backend is gone")

    devtool = ShortcutsDevtool(service)
    qtbot.addWidget(devtool)
    monkeypatch.setattr(service, "unregister_all", broken)
    devtool.unregister_all_button.click()
    await until(lambda: "failed" in devtool.result_label.text(), what="the failure on the devtool page")
    assert devtool.result_label.text() == "Unregister all failed: RuntimeError: the backend is gone"
    assert "never retrieved" not in caplog.text


async def test_the_trigger_log_times_each_trigger_from_the_previous_one_of_any_id(qtbot: QtBot) -> None:
    backend = FakeBackend()
    times = iter([10.0, 10.5, 11.25, 11.5])
    service = ShortcutService(backend, clock=lambda: next(times))
    await service.register("talk", "Ctrl+Alt+K", lambda _: None)
    await service.register("next", "Ctrl+Alt+J", lambda _: None)
    page = ShortcutsDevtool(service)
    qtbot.addWidget(page)
    for accelerator in (CTRL_ALT_K, parse_accelerator("Ctrl+Alt+J"), CTRL_ALT_K):
        backend.press(accelerator, Phase.DOWN)
        backend.press(accelerator, Phase.UP)
    await until(lambda: len(page.log) == 3, what="three triggers")
    assert [(e.trigger.id, e.since_previous_ms) for e in reversed(page.log)] == [
        ("talk", None),
        ("next", 500.0),
        ("talk", 750.0),
    ]
    assert [cell(page.trigger_table, row, 3) for row in range(3)] == ["750", "500", ""]
    page.clear_log()
    backend.press(CTRL_ALT_K, Phase.DOWN)
    await until(lambda: len(page.log) == 1, what="a trigger after clearing")
    assert page.log[0].since_previous_ms is None
