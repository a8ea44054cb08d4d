"""Settings page: rebind the app's shortcut actions, with each one's state and any refusal shown inline.

Each row: the action, a field that records a new combination (applied at once; the old one stays if the new one
cannot be had), what happened, Reset (to the default) and Turn off.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.shortcuts.accelerator import Accelerator
from app.shortcuts.service import RegistrationResult, ShortcutService
from app.ui.accelerator_field import AcceleratorField
from app.ui.page_jobs import PageJobs


class ShortcutRow:
    def __init__(self, action_id: str, description: str, platform: str) -> None:
        self.action_id = action_id
        self.label = QLabel(description)
        self.field = AcceleratorField(platform=platform)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.reset = QPushButton("Reset")
        self.turn_off = QPushButton("Turn off")


class ShortcutSettingsPage(QWidget):
    def __init__(self, service: ShortcutService, startup_results: Iterable[RegistrationResult] = ()) -> None:
        super().__init__()
        self._service = service
        self.failure = QLabel("")
        """What went wrong with a change that did not even get a reason (the backend or settings broke)."""
        self.failure.setWordWrap(True)
        self.failure.setStyleSheet("color: #b00020")
        self._jobs = PageJobs(self.failure.setText)
        self.setWindowTitle("Shortcuts")
        self.rows: dict[str, ShortcutRow] = {}
        grid = QGridLayout()
        for index, spec in enumerate(service.catalogue.values()):
            row = ShortcutRow(spec.id, spec.description, sys.platform)
            row.field.captured.connect(lambda accel, id=spec.id: self.rebind(id, accel))
            row.field.refused.connect(row.status.setText)
            row.reset.clicked.connect(lambda _=False, id=spec.id: self._jobs.run(self._reset(id), f"Resetting {id}"))
            row.turn_off.clicked.connect(lambda _=False, id=spec.id: self.rebind(id, None))
            for column, widget in enumerate([row.label, row.field, row.reset, row.turn_off]):
                grid.addWidget(widget, index * 2, column)
            grid.addWidget(row.status, index * 2 + 1, 1, 1, 3)
            self.rows[spec.id] = row
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Global shortcuts work from any application ({service.backend.name})."))
        layout.addLayout(grid)
        layout.addWidget(self.failure)
        layout.addStretch(1)
        for result in startup_results:
            self.show_result(result)
        self.refresh()

    def rebind(self, action_id: str, accelerator: Accelerator | None) -> None:
        self._jobs.run(self._rebind(action_id, accelerator), f"Changing {action_id}")

    async def _rebind(self, action_id: str, accelerator: Accelerator | None) -> None:
        self.show_result(await self._service.rebind(action_id, accelerator))
        self.refresh()

    async def _reset(self, action_id: str) -> None:
        self.show_result(await self._service.reset(action_id))
        self.refresh()

    def refresh(self) -> None:
        """Each field shows what is really bound (after a refusal: the old combination)."""
        for action_id, row in self.rows.items():
            row.field.set_accelerator(self._service.accelerator_of(action_id))

    def show_result(self, result: RegistrationResult) -> None:
        self.failure.clear()
        row = self.rows.get(result.id)
        if row is None:
            return
        if result.ok:
            row.status.setText("Turned off." if result.accelerator is None else "")
            row.status.setStyleSheet("")
        else:
            assert result.reason is not None
            row.status.setText(f"{_REASON_TITLES[result.reason.value]}: {result.message}")
            row.status.setStyleSheet("color: #b00020")


_REASON_TITLES = {
    "invalid": "Not usable",
    "duplicate-id": "Already bound",
    "conflict": "Already in use",
    "denied": "Refused",
    "unsupported": "Not available here",
}
