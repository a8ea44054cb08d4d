"""Follows settings.json while the app runs: a change written by someone else (``python -m app settings set``, a
hand edit) is reloaded through the :class:`~app.config.service.SettingsService`, so it takes effect at once.

Settings are saved by an atomic rename, which replaces the watched file: Qt then stops watching the path, so it is
watched again after every change (and the folder too, for a file that appears after the app started). Changes are
gathered for a moment first: an editor saving in several steps causes one reload, not three.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer

from app.config.service import SettingsService

log = logging.getLogger("app.ui.settings")

SETTLE_MS = 150


class SettingsFileWatcher(QObject):
    def __init__(self, service: SettingsService, path: Path, settle_ms: int = SETTLE_MS) -> None:
        super().__init__()
        self._service = service
        self._path = path
        self.reloads = 0
        self._watcher = QFileSystemWatcher(self)
        self._settle = QTimer(self, singleShot=True, interval=settle_ms)
        self._settle.timeout.connect(self._reload)
        self._watcher.fileChanged.connect(self._changed)
        self._watcher.directoryChanged.connect(self._changed)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._watcher.addPath(str(self._path.parent))
        self._arm()

    def _arm(self) -> None:
        if self._path.exists() and str(self._path) not in self._watcher.files():
            self._watcher.addPath(str(self._path))

    def _changed(self, _path: str) -> None:
        self._arm()  # the rename that saved it replaced the file Qt was watching
        self._settle.start()

    def _reload(self) -> None:
        self._arm()
        self.reloads += 1
        try:
            changed = self._service.reload()
        except Exception:  # a reload must never take the app down; the next change tries again
            log.exception("reloading %s failed", self._path)
            return
        if changed:
            log.info("applied settings changed outside the app: %s", ", ".join(sorted(changed)))

    def stop(self) -> None:
        self._settle.stop()
        paths = self._watcher.files() + self._watcher.directories()
        if paths:
            self._watcher.removePaths(paths)
