"""A stage window of its own, glued to the tamagotchi window: kept over the avatar's place as the tamagotchi window
moves, resizes, hides and shows.

This is the other way to show a stage that runs in a process of its own (a native Godot, or the embedded stage's
host), for where its window cannot be taken into the tamagotchi window (``stage.window = "glued"``, or wrapping it
failed). The stage's window is borderless and transparent by itself; the glue only moves it. Moving another
process's window is a platform call: :class:`X11WindowMover` does it on X11 (python-xlib), ``app/ui/win32_window.py``
on Windows; macOS asks for accessibility rights to move another app's window, and Wayland lets no client do it.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from PySide6.QtCore import QEvent, QObject, QRect, QTimer
from PySide6.QtWidgets import QWidget

from app.ui.tamagotchi_window import FOREIGN_STAGE, STAGE_WINDOW_ID, TamagotchiWindow

log = logging.getLogger("app.ui.stage_glue")

Rect = tuple[int, int, int, int]
REFRAMED_MS = (300, 1000)
"""When a window mapped again has surely been framed by the window manager (it takes a few milliseconds)."""
FOLLOW_EVENTS = {
    QEvent.Type.Move,
    QEvent.Type.Resize,
    QEvent.Type.Show,
    QEvent.Type.Hide,
    QEvent.Type.WindowStateChange,
    QEvent.Type.WindowActivate,
    QEvent.Type.LayoutRequest,
}


class WindowMover(Protocol):
    """The platform calls the glue needs on another process's top-level window."""

    def keep_above(self, window_id: int, owner_id: int) -> None:
        """Keep ``window_id`` above ``owner_id`` (a window of ours) in the window manager's stacking order."""
        ...

    def place(self, window_id: int, rect: Rect) -> None:
        """Move and resize to ``rect`` (x, y, width, height in physical pixels) and raise it."""
        ...

    def set_visible(self, window_id: int, visible: bool) -> None: ...

    def refresh_input_shape(self, window_id: int) -> None:
        """Set the window's input shape again, as it is: a window manager that framed the window without looking at
        it (openbox) then shapes the frame, so a stage window that lets clicks through really does."""
        ...

    def geometry(self, window_id: int) -> Rect | None:
        """Where the window is now (the window manager, or the user, may have moved it), or None if it is gone."""
        ...

    def close(self) -> None: ...


class StageGlue(QObject):
    def __init__(self, window: TamagotchiWindow, mover: WindowMover, *, interval_ms: int = 250) -> None:
        super().__init__(window)
        self._window = window
        self._mover = mover
        self.glued: int | None = None
        self.shown: bool | None = None
        # Events say when the window moved; the timer catches what they do not (the status line taking room).
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self.follow)

    def attach(self, window_id: int) -> None:
        self.glued, self.shown = window_id, None
        # The avatar's place stays reserved. Another process draws over it: the tamagotchi window reads that window's
        # pixels for its click-through, so the avatar's body (under a host window that lets clicks through) still
        # drags the window and the empty stage does not catch the mouse.
        placeholder = QWidget()
        placeholder.setObjectName(FOREIGN_STAGE)
        placeholder.setProperty(STAGE_WINDOW_ID, window_id)
        self._window.set_stage_view(placeholder)
        self._mover.keep_above(window_id, int(self._window.winId()))
        self._window.installEventFilter(self)
        self._timer.start()
        self.follow()
        log.info("the stage's window %#x is glued over the tamagotchi window", window_id)

    def detach(self) -> None:
        self._timer.stop()
        self._window.removeEventFilter(self)
        self._window.set_stage_view(None)
        self.glued = None
        self._mover.close()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if watched is self._window and event.type() in FOLLOW_EVENTS:
            QTimer.singleShot(0, self.follow)
        return False

    def _refresh_input_shape(self) -> None:
        if self.glued is not None and self.shown:
            self._mover.refresh_input_shape(self.glued)

    def stage_rect(self) -> Rect:
        """The stage's place on the screen in physical pixels (what the window manager counts in)."""
        area: QRect = self._window.stage_area()
        ratio = self._window.devicePixelRatioF()
        return (
            round(area.x() * ratio),
            round(area.y() * ratio),
            max(1, round(area.width() * ratio)),
            max(1, round(area.height() * ratio)),
        )

    def follow(self) -> None:
        if self.glued is None:
            return
        visible = self._window.isVisible() and not self._window.isMinimized()
        if visible != self.shown:
            self._mover.set_visible(self.glued, visible)
            self.shown = visible
            if visible:  # once the window manager has framed it again
                for delay_ms in REFRAMED_MS:
                    QTimer.singleShot(delay_ms, self._refresh_input_shape)
        if visible and (rect := self.stage_rect()) != self._mover.geometry(self.glued):
            self._mover.place(self.glued, rect)


class X11WindowMover:
    """One X connection for as long as a window is glued; requests to a window that is gone are logged, not raised."""

    def __init__(self, display_name: str | None = None) -> None:
        self._display_name = display_name
        self._connection: Any = None

    def _x(self) -> Any:
        if self._connection is None:
            from Xlib import display  # noqa: PLC0415 - X11 only

            self._connection = display.Display(self._display_name)
            self._connection.set_error_handler(lambda error, *_: log.info("X error while gluing the stage: %s", error))
        return self._connection

    def keep_above(self, window_id: int, owner_id: int) -> None:
        connection = self._x()
        # A transient window stays above its owner, and window managers minimise and move workspaces with it.
        connection.create_resource_object("window", window_id).set_wm_transient_for(
            connection.create_resource_object("window", owner_id)
        )
        connection.flush()

    def place(self, window_id: int, rect: Rect) -> None:
        from Xlib import X  # noqa: PLC0415

        x, y, width, height = rect
        connection = self._x()
        window = connection.create_resource_object("window", window_id)
        window.configure(x=x, y=y, width=width, height=height, stack_mode=X.Above)
        connection.flush()

    def set_visible(self, window_id: int, visible: bool) -> None:
        connection = self._x()
        window = connection.create_resource_object("window", window_id)
        if visible:
            window.map()
        else:
            window.unmap()
        connection.flush()

    def refresh_input_shape(self, window_id: int) -> None:
        from Xlib import X  # noqa: PLC0415
        from Xlib.error import XError  # noqa: PLC0415
        from Xlib.ext import shape  # noqa: PLC0415

        connection = self._x()
        window = connection.create_resource_object("window", window_id)
        try:
            rects = shape.get_rectangles(window, shape.SK.Input).rectangles
        except XError:
            return
        boxes = [(r.x, r.y, r.width, r.height) for r in rects]
        shape.rectangles(window, shape.SO.Set, shape.SK.Input, X.Unsorted, 0, 0, boxes)
        connection.flush()

    def geometry(self, window_id: int) -> Rect | None:
        from Xlib.error import XError  # noqa: PLC0415

        connection = self._x()
        window = connection.create_resource_object("window", window_id)
        try:
            size = window.get_geometry()
            origin = window.translate_coords(connection.screen().root, 0, 0)
        except XError:
            return None
        return (-origin.x, -origin.y, size.width, size.height)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
