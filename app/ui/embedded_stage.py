"""The stage inside the tamagotchi window: a transparent QWebEngineView that runs the Godot web runtime page.

It is the :class:`~godot_bridge.sidecar.embedded.PageHost` of the ``embedded`` launcher, so the sidecar manager,
the bridge and its origin check work exactly as with headless Chromium. The view takes no mouse input: clicks fall
through to the window, which is dragged by the avatar's body.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import QWidget

log = logging.getLogger("app.ui.embedded_stage")

# Measured on Xvfb (Mesa llvmpipe): with GPU compositing every frame fails to reach Qt ("dma_buf acquisition
# failure", an empty view); with --disable-gpu WebGL is gone and the engine never starts. Software compositing plus
# WebGL on SwiftShader shows the avatar, and a 450x600 stage needs no more. Set before QtWebEngine starts; a user's
# own QTWEBENGINE_CHROMIUM_FLAGS win.
SOFTWARE_GL_FLAGS = "--disable-gpu-compositing --use-angle=swiftshader --enable-unsafe-swiftshader"


def prepare_web_engine() -> None:
    """Call before the QApplication exists (QtWebEngine wants shared GL contexts and its flags set first)."""
    os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", SOFTWARE_GL_FLAGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Chromium refuses to start its sandbox as root (containers, CI); the page is our own, served on 127.0.0.1.
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    from PySide6.QtCore import QCoreApplication  # noqa: PLC0415

    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)


class WebStageView(QWidget):
    """Hosts the page; created empty and holding no web engine until a stage is launched into it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineSettings  # noqa: PLC0415 - heavy, load late
        from PySide6.QtWebEngineWidgets import QWebEngineView  # noqa: PLC0415
        from PySide6.QtWidgets import QVBoxLayout  # noqa: PLC0415

        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.view = QWebEngineView(self)
        self.view.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        page = self.view.page()
        page.setBackgroundColor(Qt.GlobalColor.transparent)
        settings = page.settings()
        settings.setAttribute(QWebEngineSettings.WebAttribute.PlaybackRequiresUserGesture, False)
        settings.setAttribute(QWebEngineSettings.WebAttribute.WebGLEnabled, True)
        settings.setAttribute(QWebEngineSettings.WebAttribute.ShowScrollBars, False)
        page.renderProcessTerminated.connect(self._renderer_gone)
        self._termination = QWebEnginePage.RenderProcessTerminationStatus.NormalTerminationStatus
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self._on_gone: Callable[[int], None] | None = None
        self.url: str | None = None

    def open_page(self, url: str, on_gone: Callable[[int], None]) -> None:
        self._on_gone = on_gone
        self.url = url
        log.info("embedded stage: loading %s", url)
        self.view.load(QUrl(url))

    def close_page(self) -> None:
        self._on_gone = None
        if self.url is not None:
            self.url = None
            self.view.setUrl(QUrl("about:blank"))

    def _renderer_gone(self, status: object, exit_code: int) -> None:
        on_gone, self._on_gone = self._on_gone, None
        log.warning("embedded stage: the page's renderer ended (%s, code %s)", status, exit_code)
        if on_gone is not None:
            on_gone(exit_code or (0 if status == self._termination else 1))
