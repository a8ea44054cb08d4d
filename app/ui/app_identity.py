"""The names the desktop knows the app by.

Without them Qt names every window after ``sys.argv[0]`` (``__main__.py`` under ``python -m app``): the task bar and
the tray host then cannot match the windows to the installed ``.desktop`` file (its ``StartupWMClass``), and the tray
icon's window is titled ``__main__.py``.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QGuiApplication

APP_NAME = "stage-tamagotchi"
"""The X11 ``WM_CLASS`` (both parts), the ``StartupWMClass`` of ``packaging/*.desktop`` and the tray's
StatusNotifierItem ``Id``."""
DISPLAY_NAME = "Stage Tamagotchi"
DESKTOP_FILE = "io.github.stage_tamagotchi.StageTamagotchi"
"""The Wayland app id: the ``.desktop`` file's name without its suffix."""


def qt_argv(argv: list[str]) -> list[str]:
    """``argv`` for QApplication with the program named :data:`APP_NAME` (Qt's X11 resource name comes from it)."""
    return [APP_NAME, *argv[1:]]


def name_the_app() -> None:
    """Call before the QApplication is created, so its first window already carries the names."""
    QCoreApplication.setApplicationName(APP_NAME)
    QGuiApplication.setApplicationDisplayName(DISPLAY_NAME)
    QGuiApplication.setDesktopFileName(DESKTOP_FILE)
