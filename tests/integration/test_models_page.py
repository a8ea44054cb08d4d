"""The models page, driven offscreen with pytest-qt: listing, importing by drop (several files, one refused),
choosing the avatar (applying, applied, failed), removing with confirmation, and the license details."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from app.models.library import ModelLibrary
from app.stage_service import StageService
from app.ui.models_page import ModelsPage
from tests.integration.test_stage_service import RecordingRuntime, library_at
from tests.vrm_factory import build_vrm, solid_png
from tests.waiting import until

pytestmark = pytest.mark.qt


def vrm(tmp_path: Path, name: str, title: str, thumbnail: bytes | None = None) -> Path:
    path = tmp_path / name
    path.write_bytes(build_vrm("1.0", title=title, thumbnail=thumbnail))
    return path


def texts(page: ModelsPage) -> list[str]:
    return [page.models.item(row).text() for row in range(page.models.count())]


async def make_page(qtbot: QtBot, library: ModelLibrary, runtime: RecordingRuntime | None) -> ModelsPage:
    service = StageService(library, runtime, "" if runtime else "Godot 4 not found: install it or set its path.")
    if runtime is not None:
        await service.start()
    page = ModelsPage(service)
    qtbot.addWidget(page)
    page.show()
    await until(lambda: page.models.count() == len(library.entries()), 3, "the list")
    return page


async def test_the_list_shows_title_author_license_version_and_thumbnail(qtbot: QtBot, tmp_path: Path) -> None:
    library = library_at(tmp_path / "data")
    library.import_file(vrm(tmp_path, "ada.vrm", "Ada", thumbnail=solid_png(8, 8, (255, 0, 0))))
    page = await make_page(qtbot, library, RecordingRuntime())
    [text] = texts(page)
    assert "Ada" in text and "Stage Tamagotchi tests" in text and "VRM 1.0" in text and "VRM Public License" in text
    icon = page.models.item(0).icon().pixmap(64, 64).toImage()
    # The thumbnail (red) is shown, not the grey placeholder.
    assert icon.pixelColor(32, 32).name() == "#ff0000"


async def test_drop_several_files_one_refused(qtbot: QtBot, tmp_path: Path) -> None:
    page = await make_page(qtbot, library_at(tmp_path / "data"), RecordingRuntime())
    bogus = tmp_path / "hiyori.zip"
    bogus.write_bytes(b"PK\x05\x06" + bytes(18))
    mime = QMimeData()
    mime.setUrls(
        [QUrl.fromLocalFile(str(p)) for p in (vrm(tmp_path, "a.vrm", "Ada"), bogus, vrm(tmp_path, "b.vrm", "Bea"))]
    )
    enter = QDragEnterEvent(
        QPointF(5, 5).toPoint(),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    page.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    page.dropEvent(drop)
    await until(lambda: page.models.count() == 2, 5, "two models listed")
    assert "Added <b>Ada</b>" in page.message.text() and "Added <b>Bea</b>" in page.message.text()
    assert "<b>hiyori.zip</b> was not added: This is a zip archive" in page.message.text()


async def test_choosing_applies_and_marks_the_model_in_use(qtbot: QtBot, tmp_path: Path) -> None:
    library = library_at(tmp_path / "data")
    for name in ("Ada", "Bea"):
        library.import_file(vrm(tmp_path, f"{name}.vrm", name))
    runtime = RecordingRuntime()
    page = await make_page(qtbot, library, runtime)
    page.models.setCurrentRow(1)
    page.use_current()
    await until(lambda: "(in use)" in texts(page)[1], 3, "Bea in use")
    assert "Showing Bea" in page.message.text() and [s.name for s in runtime.scenes] == ["Bea.vrm"]
    assert not page.remove_button.isEnabled()  # the avatar in use cannot be removed
    page.models.setCurrentRow(0)
    assert page.remove_button.isEnabled()


async def test_a_stage_failure_is_shown_with_its_reason(qtbot: QtBot, tmp_path: Path) -> None:
    class Failed(Exception):
        code = "import-failed"
        message = "Godot could not import the mesh"

    library = library_at(tmp_path / "data")
    library.import_file(vrm(tmp_path, "ada.vrm", "Ada"))
    page = await make_page(qtbot, library, RecordingRuntime(fail_with=Failed()))
    page.models.setCurrentRow(0)
    page.use_current()
    await until(lambda: "Godot could not import the mesh" in page.message.text(), 3, "the failure")
    assert library.selected is None and "(in use)" not in texts(page)[0]


async def test_remove_asks_first(qtbot: QtBot, tmp_path: Path) -> None:
    library = library_at(tmp_path / "data")
    library.import_file(vrm(tmp_path, "ada.vrm", "Ada"))
    page = await make_page(qtbot, library, None)
    page.models.setCurrentRow(0)
    first = page.confirm_remove()
    assert first is not None and "Remove Ada" in first.text() and "ada.vrm is not touched" in first.text()
    first.button(QMessageBox.StandardButton.Cancel).click()
    await until(lambda: not first.isVisible(), 2, "the dialog to close")
    assert len(library.entries()) == 1
    box = page.confirm_remove()
    assert box is not None
    box.button(QMessageBox.StandardButton.Yes).click()
    await until(lambda: page.models.count() == 0, 3, "the model to go")
    assert library.entries() == [] and "Removed <b>Ada</b>" in page.message.text()


async def test_details_show_the_license_and_the_original_file(qtbot: QtBot, tmp_path: Path) -> None:
    library = library_at(tmp_path / "data")
    library.import_file(vrm(tmp_path, "my-original.vrm", "Ada"))
    page = await make_page(qtbot, library, None)
    page.models.setCurrentRow(0)
    details = page.details.text()
    assert "my-original.vrm" in details and 'href="https://vrm.dev/licenses/1.0/"' in details
    assert "licenseUrl" in details and "Lip sync" in details
