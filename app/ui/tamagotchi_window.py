"""The tamagotchi window: the companion's face on the desktop.

Frameless, translucent, above other windows (and on every workspace where the window manager allows), dragged by
its body, resized from the grip within sensible bounds, its place remembered per monitor layout and kept on screen
when monitors come and go. It shows the stage (embedded, or the state of a stage elsewhere in plain words), a speech
bubble with the sentence being played, a box to say something and a stop button.

Click-through: with ``window.click_through`` on (the default), only the avatar's visible pixels and the controls take
the mouse; everything else lets clicks through to the windows below. The window's shape follows the stage's alpha
(read four times a second with the pointer over the window or just after a change, every 2 s otherwise), which also
gives clean edges on desktops without a compositor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QPoint, QRect, Qt, QTimer, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QContextMenuEvent,
    QCursor,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QMouseEvent,
    QRegion,
    QScreen,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSizeGrip,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.config.model import Corner, Settings, WindowGeometry
from app.config.service import Changed, SettingsService
from app.speech_link import SpeechEvent, SpeechLink
from app.stage_service import STARTING, ApplyError, StageService, StageStatus
from app.ui.placement import Rect, Screen, aligned, clamp_size, initial_place, keep_on_screen, screen_key, screen_of
from app.ui.x11_window import X11Link

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("app.ui.tamagotchi_window")

WINDOW_TITLE = "Stage Tamagotchi"
ALPHA_THRESHOLD = 10
"""A stage pixel at least this opaque takes the mouse (AIRI's threshold)."""
MASK_CELL = 4
"""The click-through shape is computed on cells of this many pixels (cheap, and slightly generous at the edges)."""
MASK_INTERVAL_MS = 250
MASK_IDLE_INTERVAL_S = 2.0
"""With the pointer away from the window and nothing changing, its click-through shape is refreshed this seldom."""
MASK_SETTLE_S = 2.0
"""For this long after a change that moves what the stage shows (a resize, a new stage, a model applied, speech), the
shape is refreshed at the full rate whatever the pointer does."""
SAVE_DELAY_MS = 400
BUBBLE_LINGER_MS = 2500
BUBBLE_MARGIN = 8

PHASE_WORDS = {
    "not-found": "Godot 4 not found: install it or set its path",
    "starting": "Starting the stage…",
    "ready": "Ready",
    "applying": "Applying a model…",
    "applied": "",
    "failed": "Something went wrong",
    "stopped": "The stage is stopped",
}

BUBBLE_STYLE = """
#bubble { background: rgba(255, 255, 255, 235); color: #1d1d28; border-radius: 14px; padding: 8px 12px;
          font-size: 13px; }
"""
STYLE = """
#status { background: rgba(20, 20, 32, 200); color: white; border-radius: 10px; padding: 6px 10px; }
#controls { background: rgba(20, 20, 32, 190); border-radius: 14px; }
#controls QLineEdit { background: rgba(255, 255, 255, 230); border: none; border-radius: 9px; padding: 4px 8px; }
#controls QPushButton, #controls QToolButton, #status QPushButton { background: rgba(255, 255, 255, 60);
          color: white; border: none; border-radius: 9px; padding: 4px 10px; }
#controls QPushButton:hover, #controls QToolButton:hover, #status QPushButton:hover {
          background: rgba(255, 255, 255, 110); }
#menuButton::menu-indicator { image: none; width: 0; }
#stopButton[speaking="true"] { background: #d9434f; }
"""


def qt_screens() -> list[Screen]:
    return [_screen(s) for s in QGuiApplication.screens()]


def _rect(r: QRect) -> Rect:
    return r.x(), r.y(), r.width(), r.height()


def _screen(s: QScreen) -> Screen:
    return Screen(s.name(), _rect(s.geometry()), _rect(s.availableGeometry()))


FOREIGN_STAGE = "foreignStage"
"""The object name of a stage view that another process draws in (``app/ui/native_stage.py``)."""
STAGE_WINDOW_ID = "stageWindowId"
"""The property of such a view holding the X11 window it wraps."""
STAGE_TAKEN_IN = "stageTakenIn"
"""The property (true) of such a view that holds the window inside (rather than a place a glued window is kept over)."""


class TamagotchiWindow(QWidget):
    status_changed = Signal(object)
    speech_event = Signal(object)
    """Queued hops: services call back from anywhere; widgets change only on the Qt thread."""
    settings_requested = Signal(str)
    """The user asked for a settings page (its name, e.g. ``stage``)."""
    mask_updated = Signal()
    closed = Signal()
    """The window really closed (not hidden): without a tray, that quits the app."""

    def __init__(
        self,
        stage: StageService,
        settings: SettingsService,
        speech: SpeechLink,
        stage_view: QWidget | None = None,
        screens: Callable[[], list[Screen]] = qt_screens,
    ) -> None:
        super().__init__()
        self._stage = stage
        self._settings = settings
        self._speech = speech
        self._screens = screens
        self._quitting = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._drag_from: QPoint | None = None
        self._menu: QMenu | None = None
        self.hides_on_close: Callable[[], bool] = lambda: False
        """Set by the app: true while a tray icon can bring the window back, so closing hides instead of quitting."""
        self.input_shape: list[tuple[int, int, int, int]] | None = None
        """What of the window takes the mouse when only its input is shaped (X11, a foreign stage), in pixels."""
        self.setWindowTitle(WINDOW_TITLE)
        self.setObjectName("tamagotchi")
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.setAcceptDrops(True)
        self.setStyleSheet(STYLE)

        self._build_bubble()
        self.stage_view = stage_view
        self._build_status()
        self._build_controls()
        self._build_layout(stage_view)

        self._bubble_timer = QTimer(self, singleShot=True, interval=BUBBLE_LINGER_MS)
        self._bubble_timer.timeout.connect(self.bubble_window.hide)
        self._save_timer = QTimer(self, singleShot=True, interval=SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self._remember_place)
        self._mask_timer = QTimer(self, interval=MASK_INTERVAL_MS)
        self._mask_timer.timeout.connect(self._poll_click_through)
        self._shaped_at = 0.0
        self._settling_until = 0.0
        self._x11 = X11Link()
        self.status_changed.connect(self._show_status, Qt.ConnectionType.QueuedConnection)
        self.speech_event.connect(self._show_speech, Qt.ConnectionType.QueuedConnection)
        self._unsubscribe = [settings.subscribe(self._settings_changed), speech.subscribe(self.speech_event.emit)]
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            app.screenAdded.connect(lambda *_: QTimer.singleShot(0, self.replace_on_screens))
            app.screenRemoved.connect(lambda *_: QTimer.singleShot(0, self.replace_on_screens))
        self._apply_window_settings(settings.settings, frozenset({"window.always_on_top", "window.all_workspaces"}))
        self.setGeometry(*self._initial_rect())
        stage.subscribe(self.status_changed.emit)

    def _build_bubble(self) -> None:
        # The bubble lies over the stage's empty top, in a small window of its own kept there: a stage in another
        # process is drawn over anything this window paints (taken in as a native child window, or glued over it),
        # and in the layout the bubble took the stage's room, moving the avatar down with every sentence. It takes
        # no input: clicks go to what is under it.
        self.bubble_window = QWidget(
            self,
            Qt.WindowType.ToolTip
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowTransparentForInput
            | Qt.WindowType.WindowDoesNotAcceptFocus,
        )
        self.bubble_window.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.bubble_window.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.bubble_window.setStyleSheet(BUBBLE_STYLE)  # a window of its own: the window's style sheet stops here
        self.bubble = QLabel(self.bubble_window)
        self.bubble.setObjectName("bubble")
        self.bubble.setWordWrap(True)
        bubble_layout = QVBoxLayout(self.bubble_window)
        bubble_layout.setContentsMargins(0, 0, 0, 0)
        bubble_layout.addWidget(self.bubble)

    def _build_layout(self, stage_view: QWidget | None) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self._stage_slot = QVBoxLayout()
        self._stage_slot.setContentsMargins(0, 0, 0, 0)
        self._stage_slot.addStretch(0)  # holds the room while no stage shows here; a stage view (stretch 1) takes it
        layout.addLayout(self._stage_slot, 1)
        if stage_view is not None:
            stage_view.setParent(self)
            self._stage_slot.addWidget(stage_view, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.controls)
        # The stage slot takes the room; the status and controls keep their own height. The bubble is in no layout:
        # it lies over the stage's empty top (see _place_bubble), so the stage keeps its size and the avatar stays
        # where it is while sentences come and go.
        for widget in (self.status, self.controls):
            widget.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

    def _build_status(self) -> None:
        self.status = QWidget()
        self.status.setObjectName("status")
        self.status.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.status_text = QLabel()
        self.status_text.setWordWrap(True)
        self.status_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # a token, a path
        self.status_text.setStyleSheet("color: white;")
        self.fix_button = QPushButton("Stage settings…")
        self.fix_button.setObjectName("fixButton")
        self._fix_page = "stage"
        self.fix_button.clicked.connect(lambda: self.settings_requested.emit(self._fix_page))
        status_layout = QVBoxLayout(self.status)
        status_layout.addWidget(self.status_text)
        status_layout.addWidget(self.fix_button, 0, Qt.AlignmentFlag.AlignLeft)

    def _build_controls(self) -> None:
        self.controls = QWidget()
        self.controls.setObjectName("controls")
        self.controls.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.say_box = QLineEdit()
        self.say_box.setObjectName("sayBox")
        self.say_box.setPlaceholderText("Say something…")
        self.say_box.returnPressed.connect(self._say)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Stop speaking")
        self.stop_button.clicked.connect(self._speech.stop)
        # The tray's menu, also here: a desktop without a tray (or with its icon hidden) still reaches every action.
        self.menu_button = QToolButton()
        self.menu_button.setObjectName("menuButton")
        self.menu_button.setText("☰")
        self.menu_button.setToolTip(
            "Menu: show/hide, align, click-through, settings, devtools, quit (also right click)"
        )
        self.menu_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu_button.hide()
        self.grip = QSizeGrip(self.controls)
        self.grip.setToolTip("Drag to resize")
        controls_layout = QHBoxLayout(self.controls)
        controls_layout.setContentsMargins(8, 6, 4, 6)
        controls_layout.addWidget(self.say_box, 1)
        controls_layout.addWidget(self.stop_button)
        controls_layout.addWidget(self.menu_button)
        controls_layout.addWidget(self.grip, 0, Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignRight)

    # -- place and size ---------------------------------------------------------------------------------------

    def _initial_rect(self) -> Rect:
        screens = self._screens()
        saved = self._settings.settings.window.geometry.get(screen_key(screens))
        remembered = None if saved is None else (saved.x, saved.y, saved.width, saved.height)
        primary = screens[0] if screens else Screen("none", (0, 0, 1024, 768), (0, 0, 1024, 768))
        return initial_place(remembered, screens, primary)

    def replace_on_screens(self) -> None:
        """Monitors changed: go where this layout remembers, or stay, but always where it can be seen."""
        screens = self._screens()
        saved = self._settings.settings.window.geometry.get(screen_key(screens))
        current = _rect(self.geometry()) if saved is None else (saved.x, saved.y, saved.width, saved.height)
        self.setGeometry(*keep_on_screen(current, screens))

    def align(self, corner: Corner) -> None:
        screens = self._screens()
        screen = screen_of(_rect(self.geometry()), screens)
        self.setGeometry(*aligned(screen, (self.width(), self.height()), corner))

    def moveEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt's name
        self._save_timer.start()
        self._place_bubble()

    def resizeEvent(self, event: QEvent) -> None:  # noqa: N802
        screens = self._screens()
        width, height = clamp_size(self.width(), self.height(), screen_of(_rect(self.geometry()), screens))
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)
        self._save_timer.start()
        self._place_bubble()
        self._stage_may_change()
        self.update_click_through()

    def _place_bubble(self) -> None:
        """Over the top of the stage, as wide as it less a margin, as tall as its text (at most half the stage)."""
        area = self._stage_slot.geometry()
        width = max(1, area.width() - 2 * BUBBLE_MARGIN)
        height = min(self.bubble.heightForWidth(width), max(1, area.height() // 2))
        corner = self.mapToGlobal(area.topLeft()) + QPoint(BUBBLE_MARGIN, BUBBLE_MARGIN)
        self.bubble_window.setGeometry(corner.x(), corner.y(), width, height)

    def _show_bubble(self) -> None:
        self._place_bubble()
        if self.isVisible():
            self.bubble_window.show()

    def hideEvent(self, event: QEvent) -> None:  # noqa: N802
        self.bubble_window.hide()

    def _remember_place(self) -> None:
        key = screen_key(self._screens())
        x, y, width, height = _rect(self.geometry())
        geometry = dict(self._settings.settings.window.geometry)
        geometry[key] = WindowGeometry(x=x, y=y, width=width, height=height)
        self._settings.update("window", geometry=geometry)

    # -- dragged by its body ----------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton:
            return
        handle = self.windowHandle()
        if handle is not None and handle.startSystemMove():
            return  # the window manager moves it (snapping, edges, Wayland)
        self._drag_from = event.globalPosition().toPoint() - self.pos()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag_from is not None:
            self.move(event.globalPosition().toPoint() - self._drag_from)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._drag_from = None

    # -- settings that apply at once ----------------------------------------------------------------------------

    def _settings_changed(self, settings: Settings, changed: Changed) -> None:
        if any(name.startswith("window.") and name != "window.geometry" for name in changed):
            self._apply_window_settings(settings, changed)

    def _apply_window_settings(self, settings: Settings, changed: Changed) -> None:
        window = settings.window
        if changed & {"window.always_on_top", "window.all_workspaces"}:
            flags = Qt.WindowType.FramelessWindowHint | Qt.WindowType.Tool | Qt.WindowType.NoDropShadowWindowHint
            if window.always_on_top:
                flags |= Qt.WindowType.WindowStaysOnTopHint
            handle = self.windowHandle()
            if handle is None:
                self.setWindowFlags(flags)
            else:
                # QWidget.setWindowFlags would destroy the native window and make a new one, and an embedded stage
                # window (a child of it) would go with it: tell the existing window instead.
                self.overrideWindowFlags(flags)
                handle.setFlags(flags)
                if self.isVisible():
                    self._stick_to_all_workspaces(window.all_workspaces)

        self.setWindowOpacity(window.opacity)
        self.bubble_window.setWindowOpacity(window.opacity)
        if not window.show_bubble:
            self.bubble_window.hide()
        if window.click_through:
            self._mask_timer.start()
            self.update_click_through()
        else:
            self._mask_timer.stop()
            self.clearMask()
            self._shape_input(None)
            self.mask_updated.emit()

    def showEvent(self, event: QEvent) -> None:  # noqa: N802
        self._stick_to_all_workspaces(self._settings.settings.window.all_workspaces)

    def _stick_to_all_workspaces(self, everywhere: bool) -> None:
        """X11 (EWMH): desktop 0xFFFFFFFF means every workspace. Elsewhere the platform decides."""
        if QGuiApplication.platformName() != "xcb":
            return
        from app.ui.x11_window import set_on_all_desktops  # noqa: PLC0415 - X11 only

        set_on_all_desktops(int(self.winId()), everywhere)

    def stage_area(self) -> QRect:
        """Where the avatar goes, on the screen (a stage window glued over the window is kept there)."""
        area = self.stage_view.geometry() if self.stage_view is not None else self._stage_slot.geometry()
        return QRect(self.mapToGlobal(area.topLeft()), area.size())

    def set_stage_view(self, view: QWidget | None) -> None:
        """Show ``view`` (a native stage's window, wrapped) where the avatar goes, or nothing."""
        if self.stage_view is not None:
            self._stage_slot.removeWidget(self.stage_view)
            self.stage_view.hide()
            # Deleted, not only unparented: a wrapped stage window's container holds it (a restarted stage's new
            # window may even get the same X id) and would live on as a hidden top-level widget.
            self.stage_view.setParent(None)
            self.stage_view.deleteLater()
        self.stage_view = view
        if view is not None:
            view.setParent(self)
            self._stage_slot.addWidget(view, 1)
            view.show()
        self._place_bubble()
        self._stage_may_change()
        self.update_click_through()

    # -- click-through -----------------------------------------------------------------------------------------

    def stage_alpha(self) -> np.ndarray | None:
        """The stage's rendered alpha channel as it is in the window (``None`` without an embedded stage)."""
        if self.stage_view is None or not self.stage_view.isVisible():
            return None
        view = self.stage_view
        image = QImage(view.size(), QImage.Format.Format_ARGB32)
        if image.isNull():
            return None
        image.fill(Qt.GlobalColor.transparent)
        # Children only, without the window's background: what is left transparent is what the stage left empty.
        view.render(image, QPoint(), QRegion(), QWidget.RenderFlag.DrawChildren)
        import numpy as np  # noqa: PLC0415 - only with an embedded stage; keeps the start fast

        buffer = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes())
        # A copy: the array must not outlive the QImage whose memory it would otherwise point into.
        return buffer.reshape(image.height(), image.bytesPerLine() // 4, 4)[:, : image.width(), 3].copy()

    def _poll_click_through(self) -> None:
        """The timer's refresh: a stage in another process draws without telling this window, but reading its pixels
        back is the costly part, so only as often as it matters (the pointer over the window, or now and then)."""
        now = time.monotonic()
        if (
            now < self._settling_until
            or now - self._shaped_at >= MASK_IDLE_INTERVAL_S
            or self.geometry().contains(QCursor.pos())
        ):
            self.update_click_through()

    def _stage_may_change(self) -> None:
        self._settling_until = time.monotonic() + MASK_SETTLE_S

    def update_click_through(self) -> None:
        if not self._settings.settings.window.click_through or not self.isVisible():
            return
        self._shaped_at = time.monotonic()
        region = QRegion()
        for widget in (self.status, self.controls):
            if widget.isVisible():
                region += QRegion(widget.geometry())
        view = self.stage_view
        taking: QRegion | None = None
        if view is not None and view.isVisible() and view.objectName() == FOREIGN_STAGE:
            # Another process draws there, out of reach of render(). Its pixels are read back from the X server, and
            # only the window's input is shaped by them: a visible shape would clip what the stage has yet to draw.
            taking = QRegion(region)
            region += QRegion(view.geometry())
            window_id = view.property(STAGE_WINDOW_ID)
            read = self._x11.window_alpha_and_place(int(window_id)) if window_id and self._on_x11() else None
            alpha = None if read is None else read[0]
            if read is not None and view.property(STAGE_TAKEN_IN):
                self._keep_fitted(int(window_id), read[1])
            taking += (
                _opaque_region(alpha, view.geometry().topLeft()) if alpha is not None else QRegion(view.geometry())
            )
        elif (alpha := self.stage_alpha()) is not None and view is not None:
            region += _opaque_region(alpha, view.geometry().topLeft())
        if region.isEmpty():
            region = QRegion(0, 0, 1, 1)  # an empty mask means "no mask" to Qt
        if region != self.mask():
            self.setMask(region)
        self._shape_input(taking)
        self.mask_updated.emit()

    def _keep_fitted(self, window_id: int, place: tuple[int, int, int, int]) -> None:
        """A stage window taken in covers its container: the container says so when it is resized, but a stage
        process that sizes its own window afterwards (a restarted host, still starting) stayed larger, over the
        controls."""
        view = self.stage_view
        assert view is not None
        wanted = stage_place_in_window(view)
        if place != wanted:
            log.debug("the stage window is at %s, its place is %s: putting it there", place, wanted)
            self._x11.place(window_id, wanted)

    def _on_x11(self) -> bool:
        return QGuiApplication.platformName() == "xcb"

    def _shape_input(self, region: QRegion | None) -> None:
        """Only ``region`` takes the mouse (X11), or, with None, all the window's visible shape."""
        if not self._on_x11() or (region is None and self.input_shape is None):
            return
        if region is not None:
            ratio = self.devicePixelRatioF()
            rects = [
                (round(r.x() * ratio), round(r.y() * ratio), round(r.width() * ratio), round(r.height() * ratio))
                for r in region  # type: ignore[attr-defined] # PySide6 iterates a QRegion; its stubs do not say so
            ]
        else:
            rects = [(0, 0, 0x7FFF, 0x7FFF)]
        if rects != self.input_shape and self._x11.set_input_shape(int(self.winId()), rects):
            self.input_shape = None if region is None else rects

    # -- a VRM dropped on the companion becomes the avatar ---------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        files = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_model(files[0])

    def open_model(self, path: Path) -> None:
        """Check, store and show a model file; a refusal shows in the status line in plain words."""
        task = asyncio.ensure_future(self._open_model(path))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open_model(self, path: Path) -> None:
        with contextlib.suppress(ApplyError):  # the stage service reports it through its status
            await self._stage.apply_file(path)

    # -- stage state and speech --------------------------------------------------------------------------------

    def _show_status(self, status: StageStatus) -> None:
        words = PHASE_WORDS[status.phase]
        # Details for problems, and for a start that needs the user (attach mode says what to run in the editor).
        attention = status.phase in ("not-found", "failed") or (
            status.phase == "starting" and status.message != STARTING
        )
        detail = status.message if attention else ""
        self.status_text.setText(words + (f"\n{detail}" if detail and detail != words else ""))
        self.status.setVisible(bool(words))
        self.fix_button.setVisible(status.settings_page is not None)
        self._fix_page = status.settings_page or "stage"
        self._stage_may_change()
        self.update_click_through()

    def _say(self) -> None:
        text = self.say_box.text().strip()
        if text:
            self.say_box.clear()
            self._speech.say(text)

    def _show_speech(self, event: SpeechEvent) -> None:
        if event.kind == "sentence":
            self.stop_button.setProperty("speaking", True)
            if self._settings.settings.window.show_bubble:
                self._bubble_timer.stop()
                self.bubble.setText(event.text)
                self._show_bubble()
        elif event.kind == "idle":
            self.stop_button.setProperty("speaking", False)
            self._bubble_timer.start()
        else:
            self.stop_button.setProperty("speaking", False)
            self.bubble.setText(event.text)
            self._show_bubble()
            self._bubble_timer.start()
        self.stop_button.style().polish(self.stop_button)
        self._stage_may_change()
        self.update_click_through()

    # -- the menu ----------------------------------------------------------------------------------------------

    def set_menu(self, menu: QMenu) -> None:
        """The app's menu (the tray's), opened from the menu button and by a right click on the companion."""
        self._menu = menu
        self.menu_button.setMenu(menu)
        self.menu_button.show()

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802
        if self._menu is None:
            event.ignore()
            return
        self._menu.popup(event.globalPos())

    # -- show, hide, close -------------------------------------------------------------------------------------

    def toggle_visible(self) -> None:
        if self.isVisible():
            self.hide()
        else:
            self.show_companion()

    def show_companion(self) -> None:
        """Shown, on top and active (from the tray, a shortcut, or a second start of the app)."""
        self.show()
        self.raise_()
        self.activateWindow()

    def allow_close(self) -> None:
        self._quitting = True

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        # Closing hides the companion (bring it back from the tray or the shortcut); quitting really closes.
        if self._quitting or not self.hides_on_close():
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            self._mask_timer.stop()
            self._x11.close()
            event.accept()
            self.closed.emit()
            return
        event.ignore()
        self.hide()


def stage_place_in_window(view: QWidget) -> tuple[int, int, int, int]:
    """Where a stage window taken in belongs: ``view``'s rectangle in its native parent, in physical pixels."""
    native = view.nativeParentWidget() or view.window()
    origin = view.mapTo(native, QPoint(0, 0))
    ratio = view.devicePixelRatioF()
    return (
        round(origin.x() * ratio),
        round(origin.y() * ratio),
        round(view.width() * ratio),
        round(view.height() * ratio),
    )


def _opaque_region(alpha: np.ndarray, offset: QPoint) -> QRegion:
    """The cells of ``alpha`` holding any pixel at least :data:`ALPHA_THRESHOLD` opaque, as one region."""
    import numpy as np  # noqa: PLC0415

    height, width = alpha.shape
    rows, cols = -(-height // MASK_CELL), -(-width // MASK_CELL)
    padded = np.zeros((rows * MASK_CELL, cols * MASK_CELL), np.uint8)
    padded[:height, :width] = alpha
    cells = padded.reshape(rows, MASK_CELL, cols, MASK_CELL).max(axis=(1, 3)) >= ALPHA_THRESHOLD
    region = QRegion()
    for row in np.flatnonzero(cells.any(axis=1)):
        line = np.concatenate(([False], cells[row], [False]))
        edges = np.flatnonzero(line[1:] != line[:-1])
        for start, end in zip(edges[::2], edges[1::2], strict=True):
            region += QRegion(
                offset.x() + int(start) * MASK_CELL,
                offset.y() + int(row) * MASK_CELL,
                int(end - start) * MASK_CELL,
                MASK_CELL,
            )
    return region
