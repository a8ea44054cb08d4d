"""Devtool page: register shortcuts by hand, see why one fails, watch triggers arrive.

A form (id, a field that records the pressed combination, description, receive key-ups), the last result with its
reason, the active bindings with an Unregister button each, and the newest 50 triggers with the time since the
previous trigger (of any id).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.shortcuts.service import RegistrationResult, ShortcutService, Trigger
from app.ui.accelerator_field import AcceleratorField
from app.ui.page_jobs import PageJobs

TRIGGER_LOG_LIMIT = 50


@dataclass(frozen=True)
class LoggedTrigger:
    trigger: Trigger
    wall_time: float
    since_previous_ms: float | None


class ShortcutsDevtool(QWidget):
    triggered = Signal(object)
    """A queued hop: triggers reach the widgets from Qt's event loop, never from inside a backend's reader."""

    def __init__(self, service: ShortcutService) -> None:
        super().__init__()
        self._service = service
        self.log: list[LoggedTrigger] = []
        self._last_at: float | None = None
        self.setWindowTitle("Global shortcuts (devtool)")

        self.id_field = QLineEdit("toggle-window-test")
        self.accelerator_field = AcceleratorField()
        self.description_field = QLineEdit()
        self.key_ups = QCheckBox("Receive key-ups (push-to-talk)")
        self.register_button = QPushButton("Register")
        self.register_button.clicked.connect(self.register_from_form)
        self.result_label = QLabel("")
        self._jobs = PageJobs(self.result_label.setText)
        self.unregister_all_button = QPushButton("Unregister all")
        self.unregister_all_button.clicked.connect(lambda: self._jobs.run(self._unregister_all(), "Unregister all"))
        self.result_label.setObjectName("registerResult")
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.accelerator_field.refused.connect(self.result_label.setText)

        self.bindings = QTableWidget(0, 5)
        self.bindings.setHorizontalHeaderLabels(["Id", "Accelerator", "Key-ups", "Description", ""])
        self.trigger_table = QTableWidget(0, 4)
        self.trigger_table.setHorizontalHeaderLabels(["Time", "Id", "Phase", "Δ ms"])
        clear = QPushButton("Clear log")
        clear.clicked.connect(self.clear_log)

        form = QFormLayout()
        form.addRow("Id", self.id_field)
        form.addRow("Accelerator", self.accelerator_field)
        form.addRow("Description", self.description_field)
        form.addRow("", self.key_ups)
        buttons = QHBoxLayout()
        buttons.addWidget(self.register_button)
        buttons.addWidget(self.unregister_all_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.result_label)
        layout.addWidget(QLabel(f"<b>Active bindings</b> ({service.backend.name})"))
        layout.addWidget(self.bindings)
        layout.addWidget(QLabel(f"<b>Triggers</b> (newest {TRIGGER_LOG_LIMIT})"))
        layout.addWidget(self.trigger_table)
        layout.addWidget(clear)
        self.resize(640, 640)

        self.triggered.connect(self._log_trigger, Qt.ConnectionType.QueuedConnection)
        unsubscribe = service.subscribe(self.triggered.emit)
        self.destroyed.connect(lambda *_: unsubscribe())
        self.refresh_bindings()

    # -- actions -------------------------------------------------------------------------------------------------

    def register_from_form(self) -> None:
        accelerator = self.accelerator_field.accelerator()
        if accelerator is None:
            self.result_label.setText("Press a combination in the Accelerator field first.")
            return
        id = self.id_field.text().strip()
        self._jobs.run(
            self._register(id, accelerator, self.description_field.text(), self.key_ups.isChecked()),
            f"Registering '{id}'",
        )

    async def _register(self, id: str, accelerator: Any, description: str, key_ups: bool) -> None:
        result = await self._service.register(id, accelerator, lambda _: None, key_ups, description)
        self.show_result(result)
        self.refresh_bindings()

    async def _unregister(self, id: str) -> None:
        await self._service.unregister(id)
        self.refresh_bindings()

    async def _unregister_all(self) -> None:
        await self._service.unregister_all()
        self.refresh_bindings()

    def show_result(self, result: RegistrationResult) -> None:
        if result.ok:
            shown = result.accelerator.familiar() if result.accelerator else "nothing"
            self.result_label.setText(f"'{result.id}': registered {shown} ({result.message})")
        else:
            assert result.reason is not None
            self.result_label.setText(f"'{result.id}': {result.reason.value}: {result.message}")

    def refresh_bindings(self) -> None:
        active = self._service.list()
        self.bindings.setRowCount(len(active))
        for row, binding in enumerate(active):
            cells = [binding.id, binding.accelerator.familiar(), "yes" if binding.receive_key_ups else "no"]
            for column, text in enumerate([*cells, binding.description]):
                self.bindings.setItem(row, column, QTableWidgetItem(text))
            button = QPushButton("Unregister")
            button.clicked.connect(
                lambda _=False, id=binding.id: self._jobs.run(self._unregister(id), f"Unregistering '{id}'")
            )
            self.bindings.setCellWidget(row, 4, button)

    # -- trigger log ---------------------------------------------------------------------------------------------

    def _log_trigger(self, trigger: Trigger) -> None:
        previous, self._last_at = self._last_at, trigger.at
        since = (trigger.at - previous) * 1000 if previous is not None else None
        self.log.insert(0, LoggedTrigger(trigger, time.time(), since))
        del self.log[TRIGGER_LOG_LIMIT:]
        self.trigger_table.setRowCount(len(self.log))
        for row, entry in enumerate(self.log):
            cells = [
                time.strftime("%H:%M:%S", time.localtime(entry.wall_time)),
                entry.trigger.id,
                entry.trigger.phase.value,
                "" if entry.since_previous_ms is None else f"{entry.since_previous_ms:.0f}",
            ]
            for column, text in enumerate(cells):
                self.trigger_table.setItem(row, column, QTableWidgetItem(text))

    def clear_log(self) -> None:
        self.log.clear()
        self._last_at = None
        self.trigger_table.setRowCount(0)
