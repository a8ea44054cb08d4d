"""The settings pages' provider widgets: an API key field (kept in the OS keyring), pickers filled from the provider,
and buttons that run a check (a test sentence, a test completion, a voice calibration) and say how it went.

Each widget runs its work as a coroutine on the app's loop (network I/O never blocks the GUI thread; keyring calls
and analysis go to worker threads), bounded by a timeout, and shows the outcome in words next to itself. A newer
request supersedes an older one still running (its late answer is dropped).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from app.speech.catalog import CatalogError, Choice
from app.speech.keys import KeyringUnavailable, KeyStatus, forget_key, key_status, store_key

log = logging.getLogger("app.ui.providers")

ERROR_STYLE = "color: #c0392b;"
OK_STYLE = "color: #1e8449;"
MUTED_STYLE = "color: gray;"


def explain(error: BaseException) -> str:
    """A failure in words: our own errors carry their message; anything else names its kind."""
    if isinstance(error, CatalogError | KeyringUnavailable):
        return str(error)
    if isinstance(error, TimeoutError):
        return "no answer in time"
    return f"{type(error).__name__}: {error}"


class _Jobs:
    """At most one coroutine at a time per widget; a new one cancels the old, and its result is dropped."""

    def __init__(self) -> None:
        self.task: asyncio.Task[Any] | None = None

    def start(self, job: Awaitable[Any], done: Callable[[Any, BaseException | None], None]) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
        task: asyncio.Task[Any] = asyncio.ensure_future(job)
        self.task = task

        def finished(finished_task: asyncio.Task[Any]) -> None:
            if finished_task is not self.task:
                return
            self.task = None  # busy until its result is shown: a done task's callbacks run a loop turn later
            if finished_task.cancelled():
                return
            error = finished_task.exception()
            done(None if error is not None else finished_task.result(), error)

        task.add_done_callback(finished)

    def busy(self) -> bool:
        return self.task is not None

    async def cancel(self) -> None:
        task, self.task = self.task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=2.0)  # bounded: quitting never waits on a stuck request


def note_label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class ApiKeyField(QWidget):
    """A masked key field with Save and Remove: the key goes to the OS keyring (never settings.json); the line below
    says where the key in use comes from, or why the keyring cannot keep it (and which variable works instead)."""

    def __init__(
        self,
        owner: Callable[[], tuple[str, str | None] | None],
        on_saved: Callable[[], None] | None = None,
        title: str = "API key",
    ) -> None:
        super().__init__()
        self._owner = owner
        self._on_saved = on_saved
        self._jobs = _Jobs()
        self.edit = QLineEdit()
        self.edit.setObjectName("apiKey")
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setMinimumWidth(260)
        self.save = QPushButton("Save key")
        self.save.setObjectName("saveKey")
        self.remove = QPushButton("Remove")
        self.remove.setObjectName("removeKey")
        self.status = note_label("keyStatus")
        self.save.clicked.connect(lambda _=False: self.store())
        self.edit.returnPressed.connect(self.store)
        self.remove.clicked.connect(lambda _=False: self.forget())
        row = QHBoxLayout()
        row.addWidget(self.edit, 1)
        row.addWidget(self.save)
        row.addWidget(self.remove)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(QLabel(title))
        column.addLayout(row)
        column.addWidget(self.status)
        self.refresh()

    async def aclose(self) -> None:
        await self._jobs.cancel()

    def refresh(self) -> None:
        """Re-reads where the key comes from (the provider may have changed); hidden for providers without keys."""
        owner = self._owner()
        self.setVisible(owner is not None)
        if owner is None:
            return
        user, env_name = owner
        self._show("Looking the key up…", MUTED_STYLE)
        self._jobs.start(asyncio.to_thread(key_status, user, env_name), self._status_read)

    def _status_read(self, status: KeyStatus | None, error: BaseException | None) -> None:
        if error is not None or status is None:
            self._show(f"The key could not be looked up: {explain(error) if error else 'no answer'}", ERROR_STYLE)
            return
        env = status.env_name
        if status.source == "environment":
            self.edit.setPlaceholderText(status.masked)
            self._show(f"Using the key from ${env} ({status.masked}); it wins over a saved one.", OK_STYLE)
        elif status.source == "keyring":
            self.edit.setPlaceholderText(status.masked)
            self._show(f"A key is saved in the OS keyring ({status.masked}; {status.backend}).", OK_STYLE)
        else:
            self.edit.setPlaceholderText("paste the key here")
            if status.keyring_problem:
                self._show(status.keyring_problem, ERROR_STYLE)
            else:
                where = f", or set ${env}" if env else ""
                self._show(f"No key yet: paste one and save it{where}.", MUTED_STYLE)

    def store(self) -> None:
        owner = self._owner()
        key = self.edit.text().strip()
        if owner is None:
            return
        if not key:
            self._show("Paste the key first.", ERROR_STYLE)
            return
        user, env_name = owner
        self._show("Saving the key…", MUTED_STYLE)
        self._jobs.start(asyncio.to_thread(store_key, user, key, env_name), self._stored)

    def _stored(self, _result: None, error: BaseException | None) -> None:
        if error is not None:
            self._show(explain(error), ERROR_STYLE)  # the typed key stays in the field: nothing is lost
            return
        self.edit.clear()
        if self._on_saved is not None:
            self._on_saved()
        self.refresh()

    def forget(self) -> None:
        owner = self._owner()
        if owner is None:
            return
        user, env_name = owner
        self._jobs.start(asyncio.to_thread(forget_key, user, env_name), self._forgotten)

    def _forgotten(self, removed: bool | None, error: BaseException | None) -> None:
        if error is not None:
            self._show(explain(error), ERROR_STYLE)
            return
        if self._on_saved is not None:
            self._on_saved()
        self.refresh()
        if not removed:
            self._show("There was no saved key to remove.", MUTED_STYLE)

    def _show(self, text: str, style: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(style)


class ChoicePicker(QWidget):
    """A list filled from the provider (``fetch``), with Refresh; picking an entry calls ``pick``. While it loads,
    and when it fails (the reason shown below it), the typed value in the form above stays what is used."""

    def __init__(
        self,
        title: str,
        name: str,
        *,
        fetch: Callable[[], Awaitable[list[Choice]]],
        current: Callable[[], str],
        pick: Callable[[str], object],
        timeout_s: float = 10.0,
    ) -> None:
        super().__init__()
        self._fetch = fetch
        self._current = current
        self._pick = pick
        self._timeout_s = timeout_s
        self._jobs = _Jobs()
        self._filling = False
        self.combo = QComboBox()
        self.combo.setObjectName(name)
        self.combo.setMinimumWidth(260)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setObjectName(f"{name}Refresh")
        self.note = note_label(f"{name}Note")
        self.refresh_button.clicked.connect(lambda _=False: self.reload())
        self.combo.currentIndexChanged.connect(self._picked)
        row = QHBoxLayout()
        row.addWidget(self.combo, 1)
        row.addWidget(self.refresh_button)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(QLabel(title))
        column.addLayout(row)
        column.addWidget(self.note)

    def reload(self) -> None:
        self.note.setText("Asking the provider…")
        self.note.setStyleSheet(MUTED_STYLE)
        self.combo.setEnabled(False)
        self._jobs.start(self._fetch_in_time(), self._filled)

    async def _fetch_in_time(self) -> list[Choice]:
        return await asyncio.wait_for(self._fetch(), self._timeout_s)

    def loading(self) -> bool:
        return self._jobs.busy()

    async def aclose(self) -> None:
        await self._jobs.cancel()

    def choices(self) -> list[str]:
        return [str(self.combo.itemData(i)) for i in range(self.combo.count())]

    def _filled(self, choices: list[Choice] | None, error: BaseException | None) -> None:
        self._filling = True
        try:
            self.combo.clear()
            if error is not None:
                self.note.setText(f"Could not list them: {explain(error)}")
                self.note.setStyleSheet(ERROR_STYLE)
                return
            for choice in choices or []:
                self.combo.addItem(choice.label, choice.id)
            self.combo.setEnabled(bool(choices))
            self.note.setText(f"{len(choices or [])} offered." if choices else "The provider offers none to pick.")
            self.note.setStyleSheet(MUTED_STYLE)
            self.select_current()
        finally:
            self._filling = False

    def select_current(self) -> None:
        self._filling, was = True, self._filling
        try:
            self.combo.setCurrentIndex(self.combo.findData(self._current()))
        finally:
            self._filling = was

    def _picked(self, index: int) -> None:
        if not self._filling and index >= 0:
            self._pick(str(self.combo.itemData(index)))


class CheckButton(QWidget):
    """A button that runs a check and says how it went: ``run`` returns the success text or raises the failure;
    ``progress`` (given to ``run``) shows intermediate steps."""

    def __init__(
        self,
        label: str,
        name: str,
        run: Callable[[Callable[[str], None]], Awaitable[str]],
        timeout_s: float = 60.0,
    ) -> None:
        super().__init__()
        self._run = run
        self._timeout_s = timeout_s
        self._jobs = _Jobs()
        self.button = QPushButton(label)
        self.button.setObjectName(name)
        self.result = note_label(f"{name}Result")
        self.button.clicked.connect(lambda _=False: self.start())
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.button, 0, Qt.AlignmentFlag.AlignLeft)
        column.addWidget(self.result)

    def start(self) -> None:
        if self._jobs.busy():
            return
        self.button.setEnabled(False)
        self.progress("Working…")
        self._jobs.start(self._run_in_time(), self._finished)

    async def _run_in_time(self) -> str:
        return await asyncio.wait_for(self._run(self.progress), self._timeout_s)

    def busy(self) -> bool:
        return self._jobs.busy()

    async def aclose(self) -> None:
        await self._jobs.cancel()

    def progress(self, text: str) -> None:
        self.result.setText(text)
        self.result.setStyleSheet(MUTED_STYLE)

    def _finished(self, text: str | None, error: BaseException | None) -> None:
        self.button.setEnabled(True)
        if error is not None:
            self.result.setText(f"Failed: {explain(error)}")
            self.result.setStyleSheet(ERROR_STYLE)
            return
        self.result.setText(text or "Done.")
        self.result.setStyleSheet(OK_STYLE)
