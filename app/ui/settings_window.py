"""The settings window: a list of pages on the left, the page on the right.

The Window, Stage, Speech, Language model and Lip sync pages are forms generated from the settings model, so every
field is editable, validated by the model (a refusal shows next to the field) and labelled with when it takes
effect. Models, Shortcuts and About are pages of their own.
"""

from __future__ import annotations

import platform
import typing
from collections.abc import Callable
from typing import Any

import annotated_types
from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.config.model import SECTIONS, Settings, applies_when
from app.config.service import Changed, SettingsRejected, SettingsService

PAGE_TITLES = {
    "models": "Models",
    "window": "Window",
    "stage": "Stage",
    "speech": "Speech",
    "language_model": "Language model",
    "lip_sync": "Lip sync",
    "shortcuts": "Shortcuts",
    "about": "About",
}
FORM_PAGES = ("window", "stage", "speech", "language_model", "lip_sync")
HIDDEN_FIELDS = {("window", "geometry")}
APPLIES_NOTE = {"stage": "applies when the stage restarts", "app": "applies at the next start"}
LABELS = {
    "godot_path": "Godot 4 executable",
    "remote_debug_uri": "Remote debug URI",
    "vmc_enabled": "Send VMC (OSC) output",
    "lead_ms": "Mouth lead (ms)",
    "auto_calibrate": "Calibrate new voices automatically",
    "calibration_language": "Calibration language (empty: guessed)",
    "output_latency_ms": "Audio output latency (ms)",
    "base_url": "Base URL",
    "click_through": "Click through empty areas",
    "window": "Stage window (inside or glued)",
}


def _label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " ").capitalize())


def _bounds(metadata: list[Any]) -> tuple[float | None, float | None]:
    """The field's ``ge``/``le`` limits, so a spin box offers exactly the values the model accepts."""
    low: list[Any] = [item.ge for item in metadata if isinstance(item, annotated_types.Ge)]
    high: list[Any] = [item.le for item in metadata if isinstance(item, annotated_types.Le)]
    return (float(low[0]) if low else None), (float(high[0]) if high else None)


class SectionForm(QWidget):
    """One settings section as a form; edits go through :meth:`SettingsService.update`, refusals show inline."""

    def __init__(self, service: SettingsService, section: str) -> None:
        super().__init__()
        self._service = service
        self.section = section
        self.editors: dict[str, QWidget] = {}
        self.errors: dict[str, QLabel] = {}
        self.cells: dict[str, QVBoxLayout] = {}
        """Each field's column (editor, note, error), where a page can add a note of its own under the field."""
        self._loading = False
        form = QFormLayout(self)
        model = SECTIONS[section]
        for name, info in model.model_fields.items():
            if (section, name) in HIDDEN_FIELDS:
                continue
            editor = self._editor(name, info.annotation, _bounds(info.metadata))
            self.editors[name] = editor
            error = QLabel()
            error.setObjectName(f"{name}Error")
            error.setStyleSheet("color: #c0392b;")
            error.hide()
            self.errors[name] = error
            cell = QVBoxLayout()
            cell.addWidget(editor)
            note = APPLIES_NOTE.get(applies_when(section, name))
            if note:
                hint = QLabel(note)
                hint.setStyleSheet("color: gray; font-size: 11px;")
                cell.addWidget(hint)
            cell.addWidget(error)
            self.cells[name] = cell
            form.addRow(_label(name), cell)
        self.load(service.settings)
        service.subscribe(self._changed)

    def _editor(self, name: str, annotation: Any, bounds: tuple[float | None, float | None]) -> QWidget:
        choices = typing.get_args(annotation) if typing.get_origin(annotation) is typing.Literal else ()
        editor: QWidget
        if choices:
            combo = QComboBox()
            combo.addItems([str(c) for c in choices])
            combo.currentTextChanged.connect(lambda text, n=name: self._commit(n, text))
            editor = combo
        elif annotation is bool:
            box = QCheckBox()
            box.toggled.connect(lambda on, n=name: self._commit(n, on))
            editor = box
        elif annotation is int:
            spin = QSpinBox()
            low, high = bounds
            spin.setRange(int(low) if low is not None else -(2**31), int(high) if high is not None else 2**31 - 1)
            spin.valueChanged.connect(lambda value, n=name: self._commit(n, value))
            editor = spin
        elif annotation is float:
            double = QDoubleSpinBox()
            low, high = bounds
            double.setRange(low if low is not None else -1e9, high if high is not None else 1e9)
            double.setSingleStep(0.05)
            double.valueChanged.connect(lambda value, n=name: self._commit(n, value))
            editor = double
        else:
            line = QLineEdit()
            line.editingFinished.connect(lambda n=name, w=line: self._commit(n, w.text() or self._empty(n)))
            editor = line
        editor.setObjectName(name)
        return editor

    def _empty(self, name: str) -> str | None:
        return None if type(None) in typing.get_args(SECTIONS[self.section].model_fields[name].annotation) else ""

    def _commit(self, name: str, value: Any) -> None:
        if self._loading:
            return
        try:
            self._service.update(self.section, **{name: value})
        except SettingsRejected as refused:
            self.errors[name].setText(str(refused))
            self.errors[name].show()
            return
        self.errors[name].hide()

    def _changed(self, settings: Settings, changed: Changed) -> None:
        if any(name.startswith(self.section + ".") for name in changed):
            self.load(settings)

    def load(self, settings: Settings) -> None:
        values = getattr(settings, self.section)
        self._loading = True
        try:
            for name, editor in self.editors.items():
                value = getattr(values, name)
                if isinstance(editor, QComboBox):
                    editor.setCurrentText(str(value))
                elif isinstance(editor, QCheckBox):
                    editor.setChecked(bool(value))
                elif isinstance(editor, QSpinBox | QDoubleSpinBox):
                    editor.setValue(value)
                elif isinstance(editor, QLineEdit):
                    editor.setText("" if value is None else str(value))
        finally:
            self._loading = False


def about_page(versions: dict[str, str]) -> QWidget:
    page = QWidget()
    layout = QFormLayout(page)
    for name, version in versions.items():
        value = QLabel(version)
        value.setObjectName(f"version-{name}")
        value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        value.setWordWrap(True)
        layout.addRow(name, value)
    return page


def base_versions(app_version: str) -> dict[str, str]:
    return {
        "Stage Tamagotchi": app_version,
        "Python": platform.python_version(),
        "Qt": f"{qVersion()} (PySide6 {pyside_version})",
    }


class SettingsWindow(QWidget):
    def __init__(
        self,
        service: SettingsService,
        extra_pages: dict[str, QWidget],
        versions: dict[str, str],
        on_restart_stage: Callable[[], None] | None = None,
        page_extras: dict[str, list[QWidget]] | None = None,
        *,
        field_notes: dict[str, dict[str, QWidget]] | None = None,
    ) -> None:
        """``page_extras``: widgets under a page's form; ``field_notes``: a widget under one field of a form
        (section -> field -> widget)."""
        super().__init__()
        self.setWindowTitle("Settings")  # Qt appends " — Stage Tamagotchi", the display name
        self.resize(760, 560)
        self.pages = QListWidget()
        self.pages.setObjectName("settingsPages")
        self.pages.setFixedWidth(170)
        self.stack = QStackedWidget()
        self.page_names: list[str] = []
        self.forms: dict[str, SectionForm] = {}
        built: dict[str, QWidget] = dict(extra_pages)
        for section in FORM_PAGES:
            form = SectionForm(service, section)
            self.forms[section] = form
            built[section] = form
        built["about"] = about_page(versions)
        for section, notes in (field_notes or {}).items():
            for name, note in notes.items():
                self.forms[section].cells[name].addWidget(note)
        extras = {name: list(widgets) for name, widgets in (page_extras or {}).items()}
        if on_restart_stage is not None:
            restart = QPushButton("Restart the stage now")
            restart.setObjectName("restartStage")
            restart.clicked.connect(lambda _=False: on_restart_stage())
            extras.setdefault("stage", []).append(restart)
        for name, widgets in extras.items():
            wrapper = QWidget()
            column = QVBoxLayout(wrapper)
            column.addWidget(built[name])
            for widget in widgets:
                # A lone button keeps its size; panels take the page's width (their wrapped notes need it).
                alignment = Qt.AlignmentFlag.AlignLeft if isinstance(widget, QPushButton) else Qt.AlignmentFlag(0)
                column.addWidget(widget, 0, alignment)
            column.addStretch(1)
            built[name] = wrapper
        for name, title in PAGE_TITLES.items():
            if name in built:
                self.page_names.append(name)
                self.pages.addItem(title)
                self.stack.addWidget(built[name])
        self.pages.currentRowChanged.connect(self.stack.setCurrentIndex)
        layout = QHBoxLayout(self)
        layout.addWidget(self.pages)
        layout.addWidget(self.stack, 1)
        self.pages.setCurrentRow(0)

    def show_page(self, name: str) -> None:
        if name in self.page_names:
            self.pages.setCurrentRow(self.page_names.index(name))
        self.show()
        self.raise_()
        self.activateWindow()

    def current_page(self) -> str:
        return self.page_names[self.pages.currentRow()]


class GodotDetector(QWidget):
    """ "Detect Godot": which Godot 4 the Stage page's path (or the search) finds, with its version, or why none."""

    def __init__(self, service: SettingsService, find: Callable[[str | None], tuple[bool, str]]) -> None:
        super().__init__()
        self._service = service
        self._find = find
        self.button = QPushButton("Detect Godot")
        self.button.setObjectName("detectGodot")
        self.result = QLabel()
        self.result.setObjectName("godotFound")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.button.clicked.connect(lambda _=False: self.detect())
        row = QVBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.button, 0, Qt.AlignmentFlag.AlignLeft)
        row.addWidget(self.result)

    def detect(self) -> None:
        found, message = self._find(self._service.settings.stage.godot_path)
        self.result.setText(message)
        self.result.setStyleSheet("" if found else "color: #c0392b;")
