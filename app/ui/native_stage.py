"""A stage in a process of its own shown with the tamagotchi window: once the stage runs, find its top-level window
by the process id (X11: ``_NET_WM_PID``) and put it where the avatar goes (Qt wraps a foreign window in a container),
or, with ``stage.window = "glued"`` or when it cannot be wrapped, glue it over that place (``app/ui/stage_glue.py``).

The stage is a native Godot, or the embedded stage's host (``app/ui/web_stage_host.py``), which the desktop tests
embed and glue for real on Xvfb. The finder here is X11's; Windows' is ``app/ui/win32_window.py``. On macOS and
Wayland (and when no window turns up) the stage keeps its own transparent, borderless, always-on-top window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication, QWindow
from PySide6.QtWidgets import QWidget
from shiboken6 import isValid

from app.ui.stage_glue import StageGlue
from app.ui.tamagotchi_window import (
    FOREIGN_STAGE,
    STAGE_TAKEN_IN,
    STAGE_WINDOW_ID,
    TamagotchiWindow,
    stage_place_in_window,
)

log = logging.getLogger("app.ui.native_stage")


class WindowFinder(Protocol):
    def window_of(self, pid: int) -> int | None:
        """The top-level window of process ``pid``, or None (not mapped yet, or none)."""
        ...


class X11WindowFinder:
    def __init__(self, display_name: str | None = None) -> None:
        self.display_name = display_name

    def window_of(self, pid: int) -> int | None:
        from Xlib import X, display  # noqa: PLC0415 - X11 only
        from Xlib.error import XError  # noqa: PLC0415

        try:
            connection = display.Display(self.display_name)
        except Exception as error:  # no X server
            log.info("cannot look for the stage's window: %s", error)
            return None
        try:
            root = connection.screen().root
            wm_pid = connection.intern_atom("_NET_WM_PID")
            managed = root.get_full_property(connection.intern_atom("_NET_CLIENT_LIST"), X.AnyPropertyType)
            if managed is not None:
                candidates = [connection.create_resource_object("window", wid) for wid in managed.value]
            else:  # no window manager: top-level windows are the root's children
                candidates = list(root.query_tree().children)
            for window in candidates:
                try:
                    owner = window.get_full_property(wm_pid, X.AnyPropertyType)
                except XError:
                    continue  # gone meanwhile
                if owner is not None and len(owner.value) and int(owner.value[0]) == pid:
                    return int(window.id)
            return None
        finally:
            connection.close()


def wrap_foreign_window(window_id: int) -> QWidget | None:
    foreign = QWindow.fromWinId(window_id)
    if foreign is None:
        return None
    container = QWidget.createWindowContainer(foreign)
    container.setObjectName(FOREIGN_STAGE)
    container.setProperty(STAGE_WINDOW_ID, window_id)
    container.setProperty(STAGE_TAKEN_IN, True)
    return container


def fit_foreign_window(container: QWidget, window_id: int) -> None:
    """Put the wrapped window ``window_id`` where its container is, at its size."""
    if not isValid(container) or container.parent() is None:
        return  # replaced meanwhile (the stage ended again)
    x, y, width, height = stage_place_in_window(container)
    for window in QGuiApplication.allWindows():
        if window.type() == Qt.WindowType.ForeignWindow and int(window.winId()) == window_id:
            ratio = container.devicePixelRatioF()
            window.setGeometry(round(x / ratio), round(y / ratio), round(width / ratio), round(height / ratio))


class NativeStageEmbedder:
    """Looks for the running stage's window for up to ``timeout_s`` and puts it in the tamagotchi window (``inside``)
    or, with a ``glue``, glued over it when it is not to be, or cannot be, inside."""

    def __init__(
        self,
        window: TamagotchiWindow,
        finder: WindowFinder,
        wrap: Callable[[int], QWidget | None] = wrap_foreign_window,
        *,
        glue: StageGlue | None = None,
        inside: bool = True,
        timeout_s: float = 30.0,  # a loaded machine may take that long to start a stage and map its window
        interval_ms: int = 200,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window = window
        self._finder = finder
        self._wrap = wrap
        self._glue = glue
        self._inside = inside
        self._timeout_s = timeout_s
        self._clock = clock
        self._pid: int | None = None
        self._deadline = 0.0
        self.embedded: int | None = None
        self._timer = QTimer(window, interval=interval_ms)
        self._timer.timeout.connect(self._look)
        self._pid_of: Callable[[], int | None] = lambda: None
        self._stale: int | None = None
        self._starting = QTimer(window, interval=interval_ms // 2)
        self._starting.timeout.connect(self._started)

    def stage_starting(self, pid_of: Callable[[], int | None]) -> None:
        """Look from the moment the stage's process exists, not only once it is ready: otherwise its window shows on
        its own, elsewhere on the screen, for the seconds the engine takes to start."""
        self._pid_of = pid_of
        self._stale = pid_of()  # a restart: the process that ended, until the new one is launched
        self._starting.start()
        self._started()

    def _started(self) -> None:
        pid = self._pid_of()
        if pid is not None and pid != self._stale:
            self._starting.stop()
            self.stage_running(pid)

    def stage_running(self, pid: int | None) -> None:
        if pid is None or pid == self._pid:
            return
        self._pid = pid
        self._deadline = self._clock() + self._timeout_s
        self._timer.start()
        self._look()

    def stage_gone(self) -> None:
        self._starting.stop()
        self._timer.stop()
        self._pid = None
        if self._glue is not None and self._glue.glued is not None:
            self._glue.detach()
        if self.embedded is not None:
            self.embedded = None
            self._window.set_stage_view(None)

    def _look(self) -> None:
        if self._pid is None:
            self._timer.stop()
            return
        found = self._finder.window_of(self._pid)
        if found is None:
            if self._clock() > self._deadline:
                self._timer.stop()
                log.info("the stage's window did not turn up; it stays a window of its own")
            return
        self._timer.stop()
        container = self._wrap(found) if self._inside else None
        if container is None:
            if self._glue is not None:
                self._glue.attach(found)
            else:
                log.info("window %#x could not be wrapped; the stage stays a window of its own", found)
            return
        self.embedded = found
        self._window.set_stage_view(container)
        # The container passes its size on to the wrapped window when it is resized, but a window taken in while the
        # layout already gave the container its size keeps its own (the host's 450x600, over the controls): once
        # the layout has run, give it the container's size.
        QTimer.singleShot(0, lambda: fit_foreign_window(container, found))
        log.info("the stage's window %#x is shown inside the tamagotchi window", found)
