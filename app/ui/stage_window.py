"""The app's main window for now: the stage's state in plain words above the models page (the desktop-app issue
builds the tamagotchi window, tray and settings around the same pieces)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.stage_service import ApplyError, StageService, StageStatus
from app.ui.models_page import ModelsPage

PHASE_TITLES = {
    "not-found": "Godot 4 not found",
    "starting": "Starting",
    "ready": "Ready",
    "applying": "Applying a model",
    "applied": "Showing the avatar",
    "failed": "Something went wrong",
    "stopped": "Stopped",
}


class StageWindow(QWidget):
    status_changed = Signal(object)
    """Emitted with every :class:`StageStatus`; a queued hop so service callbacks never touch widgets directly."""

    def __init__(self, service: StageService) -> None:
        super().__init__()
        self._service = service
        self._tasks: set[asyncio.Task[None]] = set()
        self.setWindowTitle("Stage Tamagotchi")
        self.title = QLabel()
        self.title.setObjectName("stageTitle")
        self.detail = QLabel()
        self.detail.setObjectName("stageDetail")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.models = ModelsPage(service)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.detail)
        layout.addWidget(self.models, 1)
        self.resize(640, 480)
        self.status_changed.connect(self._show_status, Qt.ConnectionType.QueuedConnection)
        service.subscribe(self.status_changed.emit)

    def _show_status(self, status: StageStatus) -> None:
        self.title.setText(f"<b>{PHASE_TITLES[status.phase]}</b>")
        self.detail.setText(status.message)

    def open_model(self, path: Path) -> None:
        """Import a file and show it at once (what opening a .vrm with the app does)."""
        task = asyncio.ensure_future(self._apply(path))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _apply(self, path: Path) -> None:
        with contextlib.suppress(ApplyError):  # the service already reported it through its status
            await self._service.apply_file(path)
        self.models.refresh()
