"""One companion per user-data folder: starting the app again shows the running one instead of a second copy that
would fight it for the library, the global shortcuts and the stage.

The first instance listens on a local socket named after its data folder (a Unix socket, a named pipe on Windows);
a later start connects, asks it to show itself and exits. A crash leaves a stale socket file, which the next start
removes before it listens.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger("app.ui.instance")

SHOW = b"show\n"
CONNECT_TIMEOUT_MS = 500


def instance_name(user_data: Path) -> str:
    digest = hashlib.sha256(str(user_data.resolve()).encode()).hexdigest()[:16]
    return f"stage-tamagotchi-{digest}"


class SingleInstance(QObject):
    show_requested = Signal()
    """Another start of the app asked this one to show its window."""

    def __init__(self, user_data: Path) -> None:
        super().__init__()
        self.name = instance_name(user_data)
        self._server: QLocalServer | None = None

    def claim(self) -> bool:
        """True when this process is the one to run; False when another runs (it has been asked to show itself)."""
        other = QLocalSocket()
        other.connectToServer(self.name)
        if other.waitForConnected(CONNECT_TIMEOUT_MS):
            other.write(SHOW)
            other.flush()
            other.waitForBytesWritten(CONNECT_TIMEOUT_MS)
            other.disconnectFromServer()
            return False
        QLocalServer.removeServer(self.name)  # a socket file a crashed instance left behind
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            # Not fatal: the app runs, a second start just cannot find it.
            log.warning("cannot listen for other starts of the app: %s", server.errorString())
            return True
        server.newConnection.connect(self._accept)
        self._server = server
        return True

    def _accept(self) -> None:
        assert self._server is not None
        while (connection := self._server.nextPendingConnection()) is not None:
            connection.readyRead.connect(lambda c=connection: self._read(c))
            connection.disconnected.connect(connection.deleteLater)

    def _read(self, connection: QLocalSocket) -> None:
        if bytes(connection.readAll().data()).startswith(SHOW.strip()):
            log.info("another start of the app asked this one to show itself")
            self.show_requested.emit()

    def release(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
