"""The small stage window: it shows the service's state and opens models through it (pytest-qt, offscreen)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.stage_service import StageService
from app.ui.stage_window import StageWindow
from tests.integration.test_stage_service import RecordingRuntime, library_at, vrm_file
from tests.waiting import until

pytestmark = pytest.mark.qt


async def test_window_follows_the_service_through_an_apply(qtbot: QtBot, tmp_path: Path) -> None:
    runtime = RecordingRuntime()
    service = StageService(library_at(tmp_path / "profile"), runtime)
    window = StageWindow(service)
    qtbot.addWidget(window)
    window.show()
    await service.start()
    await until(lambda: "Ready" in window.title.text(), 2)
    window.open_model(vrm_file(tmp_path))
    await until(lambda: "Showing the avatar" in window.title.text(), 3)
    assert "VRM 1.0" in window.detail.text()
    assert len(runtime.scenes) == 1


async def test_window_explains_a_missing_godot_and_keeps_working(qtbot: QtBot, tmp_path: Path) -> None:
    service = StageService(library_at(tmp_path), None, "Godot 4 not found: install Godot 4.3+ or set GODOT4.")
    window = StageWindow(service)
    qtbot.addWidget(window)
    await until(lambda: "Godot 4 not found" in window.title.text(), 2)
    assert "set GODOT4" in window.detail.text()
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello")
    window.open_model(bogus)
    await until(lambda: "was refused" in window.detail.text(), 2)
