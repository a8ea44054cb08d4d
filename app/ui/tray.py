"""The tray icon: show/hide, align, click-through, stop speaking, settings, devtools, quit.

A left click shows or hides the window; a right click opens the menu. The tamagotchi window offers the same menu
(its menu button and a right click), so a desktop without a tray reaches every action. Every item is also a method of
:class:`TrayMenu`'s owner, so the menu is built and tested offscreen where no system tray exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon, QWidget

from app.config.model import Corner
from app.config.service import SettingsService

CORNERS: tuple[tuple[Corner, str], ...] = (
    ("center", "Center"),
    ("top-left", "Top left"),
    ("top-right", "Top right"),
    ("bottom-left", "Bottom left"),
    ("bottom-right", "Bottom right"),
)


@dataclass(frozen=True)
class TrayActions:
    toggle_window: Callable[[], None]
    align: Callable[[Corner], None]
    stop_speaking: Callable[[], None]
    open_settings: Callable[[], None]
    open_devtools: Callable[[], None]
    quit: Callable[[], None]


class TrayMenu(QMenu):
    def __init__(self, actions: TrayActions, settings: SettingsService, window: QWidget) -> None:
        super().__init__()
        self._settings = settings
        self._window = window
        self.show_action = self._add("Hide", actions.toggle_window)
        align = self.addMenu("Align to")
        for corner, label in CORNERS:
            align.addAction(label).triggered.connect(lambda _=False, c=corner: actions.align(c))
        self.click_through = self._add("Click through empty areas", self._toggle_click_through)
        self.click_through.setCheckable(True)
        self.on_top = self._add("Always on top", self._toggle_on_top)
        self.on_top.setCheckable(True)
        self.addSeparator()
        self._add("Stop speaking", actions.stop_speaking)
        self.addSeparator()
        self._add("Settings…", actions.open_settings)
        self._add("Devtools…", actions.open_devtools)
        self.addSeparator()
        self._add("Quit", actions.quit)
        self.aboutToShow.connect(self.refresh)
        self.refresh()

    def _add(self, text: str, slot: Callable[[], None]) -> QAction:
        action = self.addAction(text)
        action.triggered.connect(lambda _=False: slot())
        return action

    def refresh(self) -> None:
        window = self._settings.settings.window
        self.show_action.setText("Hide" if self._window.isVisible() else "Show")
        self.click_through.setChecked(window.click_through)
        self.on_top.setChecked(window.always_on_top)

    def _toggle_click_through(self) -> None:
        self._settings.update("window", click_through=not self._settings.settings.window.click_through)

    def _toggle_on_top(self) -> None:
        self._settings.update("window", always_on_top=not self._settings.settings.window.always_on_top)

    def action_texts(self) -> list[str]:
        return [a.text() for a in self.actions() if not a.isSeparator()]


def make_tray(menu: TrayMenu, icon: QIcon, toggle_window: Callable[[], None]) -> QSystemTrayIcon:
    """The icon in the system tray. Shown even while the desktop has no tray: Qt docks it when one appears (a panel
    that starts after the app, or restarts), and :func:`tray_available` tells whether it is docked now."""
    tray = QSystemTrayIcon(icon)
    tray.setToolTip("Stage Tamagotchi")
    tray.setContextMenu(menu)

    def activated(reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            toggle_window()

    tray.activated.connect(activated)
    tray.show()
    return tray


def tray_available() -> bool:
    """A system tray exists now (an XEmbed tray host, or a StatusNotifierWatcher on the session bus)."""
    return QSystemTrayIcon.isSystemTrayAvailable()
