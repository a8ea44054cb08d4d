"""Devtools: the bridge inspector. The live envelope log (time, direction, type, size, round trip), a type filter,
a form to send a hand-written request, the stage's stdout/stderr, the clock offset, the lip-sync cue lead/lag, and
restarting the stage."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.devtools.envelope_log import EnvelopeLog, LoggedFrame
from app.lipsync.timing import RECENT_BATCHES, CueTiming

COLUMNS = ("time", "dir", "type", "id / re", "bytes", "round trip")
MAX_ROWS = 500
CUE_REFRESH_MS = 250

CueTimingSource = Callable[[], tuple[CueTiming | None, float | None]]
"""The stage cue output's timing (None: no stage listens) and the configured lead in ms (None: no lip sync)."""


def describe_cue_timing(timing: CueTiming | None, configured_lead_ms: float | None) -> str:
    """One line: how far ahead of their sound the cue batches leave for the stage, and the lead."""
    lead = "lead: no lip sync" if configured_lead_ms is None else f"lead {configured_lead_ms:.0f} ms"
    if timing is None:
        return f"lip-sync cues: no stage output · {lead}"
    last, least = timing.last_ahead_ms, timing.min_ahead_ms
    if last is None or least is None:
        return f"lip-sync cues: none sent yet · {lead}"
    return (
        f"lip-sync cues: last sent {last:.0f} ms ahead of its sound (least {least:.0f} ms over the last "
        f"{min(timing.batches, RECENT_BATCHES)}) · {lead} · {timing.late} of {timing.batches} late"
    )


class InspectedStage(Protocol):
    """What the inspector needs from the running stage (``ManagedStage`` in the app)."""

    async def request(self, type_: str, payload: dict[str, Any]) -> str: ...

    async def send_event(self, type_: str, payload: dict[str, Any]) -> None: ...

    def output(self) -> list[tuple[str, str]]: ...

    def clock_offset_ms(self) -> float | None: ...


def _failure(error: Exception) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else f"{type(error).__name__} (no details)"


class BridgeInspector(QWidget):
    frame_logged = Signal(object)

    def __init__(
        self,
        log: EnvelopeLog,
        stage: Callable[[], InspectedStage | None],
        restart_stage: Callable[[], None],
        cue_timing: CueTimingSource | None = None,
    ) -> None:
        super().__init__()
        self._log = log
        self._stage = stage
        self._cue_timing = cue_timing
        self._tasks: set[asyncio.Task[Any]] = set()
        self.filter = QLineEdit()
        self.filter.setObjectName("typeFilter")
        self.filter.setPlaceholderText("Filter by type (e.g. scene)")
        self.filter.textChanged.connect(lambda _text: self.reload())
        self.offset = QLabel("clock offset: unknown")
        self.offset.setObjectName("clockOffset")
        restart = QPushButton("Restart the stage")
        restart.setObjectName("restartStage")
        restart.clicked.connect(lambda _=False: restart_stage())
        self.cue_timing = self._build_cue_timing()
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.offset)
        top.addWidget(restart)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("envelopes")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.itemSelectionChanged.connect(self._show_selected)
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setObjectName("frameText")

        lower = self._build_sender()
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.detail)
        split.addWidget(lower)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.cue_timing)
        layout.addWidget(split, 1)

        self.frame_logged.connect(self._append, Qt.ConnectionType.QueuedConnection)
        log.subscribe(self.frame_logged.emit)
        self._following = True
        self._timer = QTimer(self, interval=1000)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        self.reload()
        self.refresh_stage()
        self.refresh_cue_timing()

    def _build_cue_timing(self) -> QLabel:
        label = QLabel()
        label.setObjectName("cueTiming")
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._cue_timer = QTimer(self, interval=CUE_REFRESH_MS)
        self._cue_timer.timeout.connect(self._cue_tick)
        self._cue_timer.start()
        return label

    def _build_sender(self) -> QWidget:
        self.send_type = QLineEdit()
        self.send_type.setObjectName("sendType")
        self.send_type.setPlaceholderText("type, e.g. stage.snapshot")
        self.send_payload = QPlainTextEdit("{}")
        self.send_payload.setObjectName("sendPayload")
        self.send_payload.setMaximumHeight(70)
        send = QPushButton("Send")
        send.setObjectName("sendButton")
        send.clicked.connect(lambda _=False: self.send())
        self.expects_reply = QCheckBox("a request (wait for its reply)")
        self.expects_reply.setObjectName("expectsReply")
        self.expects_reply.setChecked(True)
        self.send_result = QLabel()
        self.send_result.setObjectName("sendResult")
        self.send_result.setWordWrap(True)
        self.send_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setObjectName("stageOutput")

        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        form = QHBoxLayout()
        form.addWidget(self.send_type)
        form.addWidget(self.expects_reply)
        form.addWidget(send)
        lower_layout.addLayout(form)
        lower_layout.addWidget(self.send_payload)
        lower_layout.addWidget(self.send_result)
        lower_layout.addWidget(QLabel("Stage output (stdout and stderr)"))
        lower_layout.addWidget(self.output, 1)
        return lower

    def reload(self) -> None:
        self.table.setRowCount(0)
        for entry in self._log.matching(self.filter.text())[-MAX_ROWS:]:
            self._add_row(entry)

    def _append(self, entry: LoggedFrame) -> None:
        if self._following and self.filter.text().strip().lower() in entry.type.lower():
            self._add_row(entry)
            if self.table.rowCount() > MAX_ROWS:
                self.table.removeRow(0)

    def _add_row(self, entry: LoggedFrame) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        stamp = time.strftime("%H:%M:%S", time.localtime(entry.at)) + f".{int(entry.at * 1000) % 1000:03d}"
        values = (
            stamp,
            "→ stage" if entry.direction == "out" else "← stage",
            entry.type,
            entry.id or (f"re {entry.re}" if entry.re else ""),
            str(entry.size),
            "" if entry.rtt_ms is None else f"{entry.rtt_ms:.1f} ms",
        )
        for column, value in enumerate(values):
            item = QTableWidgetItem(value)
            if column == 0:
                item.setData(Qt.ItemDataRole.UserRole, entry.text)
            self.table.setItem(row, column, item)

    def _show_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            item = self.table.item(rows[0].row(), 0)
            if item is not None:
                self.detail.setPlainText(str(item.data(Qt.ItemDataRole.UserRole)))

    def _tick(self) -> None:
        shown = self.isVisible()
        if shown and not self._following:
            self.reload()  # what was logged while hidden
        self._following = shown
        if shown:
            self.refresh_stage()

    def refresh_stage(self) -> None:
        stage = self._stage()
        offset = None if stage is None else stage.clock_offset_ms()
        self.offset.setText("clock offset: unknown" if offset is None else f"clock offset: {offset:+.1f} ms")
        lines = [] if stage is None else stage.output()
        text = "\n".join(f"[{stream}] {line}" for stream, line in lines[-400:])
        if text != self.output.toPlainText():
            self.output.setPlainText(text)
            self.output.verticalScrollBar().setValue(self.output.verticalScrollBar().maximum())

    def _cue_tick(self) -> None:
        if self.isVisible():
            self.refresh_cue_timing()

    def refresh_cue_timing(self) -> None:
        self.cue_timing.setVisible(self._cue_timing is not None)
        if self._cue_timing is not None:
            self.cue_timing.setText(describe_cue_timing(*self._cue_timing()))

    def send(self) -> None:
        type_ = self.send_type.text().strip()
        try:
            payload = json.loads(self.send_payload.toPlainText() or "{}")
        except ValueError as error:
            self.send_result.setText(f"The payload is not JSON: {error}")
            return
        if not type_ or not isinstance(payload, dict):
            self.send_result.setText("Give a type and a JSON object as the payload.")
            return
        stage = self._stage()
        if stage is None:
            self.send_result.setText("No stage is running.")
            return
        if self.expects_reply.isChecked():
            self.send_result.setText(f"Sent {type_}, waiting for the reply…")
            self._run(self._send(stage, type_, payload))
        else:
            self._run(self._send_event(stage, type_, payload))

    async def _send(self, stage: InspectedStage, type_: str, payload: dict[str, Any]) -> None:
        try:
            reply = await stage.request(type_, payload)
        except Exception as error:  # every failure is the answer to show
            self.send_result.setText(_failure(error))
            return
        self.send_result.setText(f"Reply: {reply[:2000]}")

    async def _send_event(self, stage: InspectedStage, type_: str, payload: dict[str, Any]) -> None:
        try:
            await stage.send_event(type_, payload)
        except Exception as error:  # every failure is the answer to show
            self.send_result.setText(_failure(error))
            return
        self.send_result.setText(f"Sent the event {type_} (no reply is expected).")

    def _run(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def following(self) -> bool:
        """Whether the page refreshes and follows the envelope log: only while it is shown. (The devtools window is
        hidden and shown again, never closed, and overriding hide/show events crashes PySide when the widget is
        destroyed; so the page's own timer notices the change.)"""
        return self._following
