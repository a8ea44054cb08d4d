"""The models page: the library as a list (thumbnail, title, author, license, VRM version), import by dialog or by
dropping files, choose the avatar the stage shows, remove with confirmation, and every license detail.

All work (reading files, inspecting, copying, talking to the stage) happens in :class:`StageService` and
:class:`ModelLibrary`, off the Qt thread; this page only shows their results. Dialogs are opened without nested
event loops (``open()`` plus a signal), which keeps the asyncio loop that drives everything running.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.models.library import LibraryEntry, LibraryError
from app.models.refusals import ModelRefused
from app.stage_service import ApplyError, StageService, StageStatus

log = logging.getLogger("app.ui.models")
THUMBNAIL_SIZE = QSize(64, 64)
ENTRY_ROLE = Qt.ItemDataRole.UserRole


class ModelsPage(QWidget):
    status_changed = Signal(object)
    """A queued hop for :class:`StageStatus`, so service callbacks never touch widgets directly."""
    refreshed = Signal()
    """Emitted after the list was rebuilt (tests wait for it)."""

    def __init__(self, service: StageService) -> None:
        super().__init__()
        self._service = service
        self._library = service.library
        self._tasks: set[asyncio.Task[Any]] = set()
        self._thumbnails: dict[str, QImage | None] = {}
        """Decoded and scaled once, off the Qt thread (a large PNG takes ~0.1 s to decode)."""
        self.setAcceptDrops(True)
        self.setObjectName("modelsPage")

        self.models = QListWidget()
        self.models.setObjectName("modelList")
        self.models.setIconSize(THUMBNAIL_SIZE)
        self.models.setSpacing(2)
        self.models.currentItemChanged.connect(lambda *_: self._show_details())
        self.models.itemDoubleClicked.connect(lambda _item: self.use_current())
        self.details = QLabel()
        self.details.setObjectName("modelDetails")
        self.details.setWordWrap(True)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.details.setOpenExternalLinks(True)
        self.message = QLabel("Drop .vrm files here, or import them.")
        self.message.setObjectName("modelsMessage")
        self.message.setWordWrap(True)
        self.import_button = QPushButton("Import...")
        self.import_button.clicked.connect(self.choose_files)
        self.use_button = QPushButton("Use this avatar")
        self.use_button.clicked.connect(self.use_current)
        self.remove_button = QPushButton("Remove...")
        self.remove_button.clicked.connect(self.confirm_remove)

        buttons = QHBoxLayout()
        for button in (self.import_button, self.use_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        split = QSplitter()
        split.addWidget(self.models)
        split.addWidget(self.details)
        split.setSizes([320, 280])
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(split, 1)
        layout.addWidget(self.message)
        self.status_changed.connect(self._show_status, Qt.ConnectionType.QueuedConnection)
        service.subscribe(self.status_changed.emit)
        self.refresh()

    # Work off the Qt thread ------------------------------------------------------------------------------------

    def _spawn(self, job: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def refresh(self) -> None:
        self._spawn(self._refresh())

    async def _refresh(self) -> None:
        await asyncio.to_thread(self._library.reload)
        entries = self._library.entries()
        missing = [e for e in entries if e.sha256 not in self._thumbnails]
        for entry, thumbnail in zip(missing, await asyncio.to_thread(self._read_thumbnails, missing), strict=True):
            self._thumbnails[entry.sha256] = thumbnail
        self._fill(entries)

    def _read_thumbnails(self, entries: list[LibraryEntry]) -> list[QImage | None]:
        """Runs in a worker thread: read each thumbnail and scale it to the list's size (QImage is thread-safe)."""
        found: list[QImage | None] = []
        for entry in entries:
            try:
                data = self._library.inspect_entry(entry).thumbnail
            except ModelRefused:
                data = None
            image = QImage()
            if data and image.loadFromData(data):
                found.append(image.scaled(THUMBNAIL_SIZE, Qt.AspectRatioMode.KeepAspectRatio))
            else:
                found.append(None)
        return found

    # The list ----------------------------------------------------------------------------------------------------

    def _fill(self, entries: list[LibraryEntry]) -> None:
        current = self.current_entry()
        selected = self._library.selected
        self.models.clear()
        for entry in entries:
            in_use = selected is not None and selected.sha256 == entry.sha256
            author = ", ".join(entry.authors) or "unknown author"
            text = f"{entry.name}{'   (in use)' if in_use else ''}\n{author} · VRM {entry.vrm_version}\n"
            text += entry.license_summary
            item = QListWidgetItem(self._icon(entry), text)
            item.setData(ENTRY_ROLE, entry.sha256)
            item.setToolTip(f"{entry.file_name}\n{entry.license_summary}")
            if in_use:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.models.addItem(item)
            if (current.sha256 == entry.sha256) if current is not None else in_use:
                self.models.setCurrentItem(item)
        if not entries:
            self.details.setText("The library is empty. Import a VRM avatar (.vrm) to begin.")
        self._update_buttons()
        self.refreshed.emit()

    def _icon(self, entry: LibraryEntry) -> QIcon:
        image = self._thumbnails.get(entry.sha256)
        if image is None:
            pixmap = QPixmap(THUMBNAIL_SIZE)
            pixmap.fill(Qt.GlobalColor.lightGray)
            return QIcon(pixmap)
        return QIcon(QPixmap.fromImage(image))

    def current_entry(self) -> LibraryEntry | None:
        item = self.models.currentItem()
        if item is None:
            return None
        sha256 = item.data(ENTRY_ROLE)
        return next((e for e in self._library.entries() if e.sha256 == sha256), None)

    def select_row(self, sha256: str) -> None:
        for row in range(self.models.count()):
            if self.models.item(row).data(ENTRY_ROLE) == sha256:
                self.models.setCurrentRow(row)

    def _update_buttons(self) -> None:
        entry = self.current_entry()
        selected = self._library.selected
        busy = self._service.status.phase == "applying"
        self.use_button.setEnabled(entry is not None and not busy)
        self.remove_button.setEnabled(
            entry is not None and not busy and (selected is None or selected.sha256 != entry.sha256)
        )
        self.remove_button.setToolTip("" if self.remove_button.isEnabled() else "The avatar in use cannot be removed.")

    def _show_details(self) -> None:
        self._update_buttons()
        entry = self.current_entry()
        if entry is None:
            return
        self.details.setText(describe(entry))

    # Actions -----------------------------------------------------------------------------------------------------

    def choose_files(self) -> None:
        dialog = QFileDialog(self, "Import VRM avatars", "", "VRM avatars (*.vrm);;All files (*)")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dialog.filesSelected.connect(lambda names: self.import_files([Path(name) for name in names]))
        dialog.open()

    def import_files(self, paths: list[Path]) -> asyncio.Task[Any]:
        return self._spawn(self._import(paths))

    async def _import(self, paths: list[Path]) -> None:
        lines: list[str] = []
        for path in paths:
            try:
                result = await asyncio.to_thread(self._library.import_file, path)
            except ModelRefused as refused:
                lines.append(f"<b>{html.escape(path.name)}</b> was not added: {html.escape(refused.message)}")
                continue
            except LibraryError as error:
                lines.append(f"<b>{html.escape(path.name)}</b> was not saved: {html.escape(error.message)}")
                continue
            except Exception as error:  # a defect: say so for this file and go on with the others
                log.exception("models page: importing %s failed", path)
                lines.append(f"<b>{html.escape(path.name)}</b> could not be imported: {html.escape(str(error))}")
                continue
            verb = "Added" if result.added else "Already in the library:"
            lines.append(f"{verb} <b>{html.escape(result.entry.name)}</b>.")
        self.message.setText("<br>".join(lines))
        await self._refresh()

    def use_current(self) -> None:
        entry = self.current_entry()
        if entry is not None:
            self._spawn(self._use(entry))

    async def _use(self, entry: LibraryEntry) -> None:
        with contextlib.suppress(ApplyError):  # the service's status says why, and the page shows it
            await self._service.show_model(entry.sha256)
        await self._refresh()

    def confirm_remove(self) -> QMessageBox | None:
        entry = self.current_entry()
        if entry is None or not self.remove_button.isEnabled():
            return None
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Remove avatar",
            f"Remove {entry.name} from the library? Its copy in the app's data folder is deleted "
            f"(your original file {entry.file_name} is not touched).",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setObjectName("confirmRemove")
        box.finished.connect(lambda result: self._removal_answered(entry, result))
        box.open()
        return box

    def _removal_answered(self, entry: LibraryEntry, result: int) -> None:
        if result == QMessageBox.StandardButton.Yes:
            self._spawn(self._remove(entry))

    async def _remove(self, entry: LibraryEntry) -> None:
        try:
            await asyncio.to_thread(self._library.remove, entry.sha256)
            self.message.setText(f"Removed <b>{html.escape(entry.name)}</b>.")
        except LibraryError as error:
            self.message.setText(html.escape(error.message))
        await self._refresh()

    def _show_status(self, status: StageStatus) -> None:
        if status.phase in {"applying", "applied", "failed", "not-found"} and status.message:
            self.message.setText(html.escape(status.message))
        self._update_buttons()

    # Drag and drop -------------------------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's name
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.import_files(paths)


def describe(entry: LibraryEntry) -> str:
    """The details panel: everything about the model, the license first among equals."""
    info = entry.inspection
    meta = info.get("meta", {})
    license_info = meta.get("license", {})

    def row(label: str, value: Any) -> str:
        if value in (None, "", [], ()):
            return ""
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        return f"<tr><td><i>{html.escape(label)}</i></td><td>{html.escape(text)}</td></tr>"

    url = license_info.get("url")
    license_line = html.escape(str(license_info.get("name", "Unknown license")))
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        license_line = f'<a href="{html.escape(url)}">{license_line}</a>'
    expressions = info.get("expressions", [])
    bound = [e["name"] for e in expressions if e.get("binds")]
    parts = [
        f"<h3>{html.escape(entry.name)}</h3>",
        "<table>",
        row("Authors", meta.get("authors")),
        row("Version", meta.get("version")),
        row("Contact", meta.get("contact")),
        row("Copyright", meta.get("copyright")),
        row("References", meta.get("references")),
        f"<tr><td><i>License</i></td><td>{license_line}</td></tr>",
        row("Summary", license_info.get("summary")),
        *(row(key, value) for key, value in license_info.get("permissions", {}).items()),
        row("VRM", f"{entry.vrm_version} (spec {info.get('spec_version') or '?'})"),
        row("Made with", info.get("exporter") or info.get("generator")),
        row("Expressions", bound),
        row("Lip sync", "ready" if info.get("mouth_ready") else "no full set of mouth visemes"),
        row("Original file", entry.file_name),
        row("Imported", entry.imported_at),
        row("Size", f"{entry.size / 1e6:.1f} MB"),
        row("Id", entry.sha256[:16]),
        "</table>",
    ]
    warnings = info.get("warnings") or []
    if warnings:
        parts.append("<p><i>Warnings:</i><br>" + "<br>".join(html.escape(w) for w in warnings) + "</p>")
    return "".join(parts)
