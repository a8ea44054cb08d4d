"""The embedded stage's own process: ``python -m app web-stage-host URL`` shows the Godot web runtime page in a
frameless, transparent window and nothing else.

QtWebEngine's browser side (about 300 MB resident) lives in whichever process shows a web view, so the app keeps it
out of its own: the ``embedded`` launcher starts this host like any stage process (stdout/stderr to the bridge
inspector, its exit is the stage ending), and the tamagotchi window takes the host's window in, as it does with a
native Godot's (``app/ui/native_stage.py``). The window takes no input: clicks fall through to the tamagotchi window
under it, which is dragged by the avatar's body.

Exit codes: 0 when terminated, non-zero with a one-line reason on stderr when the page cannot load or its renderer
dies.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import sys
from urllib.parse import urlsplit

log = logging.getLogger("app.ui.web_stage_host")

# Measured on Xvfb (Mesa llvmpipe): with GPU compositing every frame fails to reach Qt ("dma_buf acquisition
# failure", an empty view); with --disable-gpu WebGL is gone and the engine never starts. Software compositing plus
# WebGL on SwiftShader shows the avatar, and a 450x600 stage needs no more. Set before QtWebEngine starts; a user's
# own QTWEBENGINE_CHROMIUM_FLAGS win.
SOFTWARE_GL_FLAGS = "--disable-gpu-compositing --use-angle=swiftshader --enable-unsafe-swiftshader"
WINDOW_TITLE = "Stage Tamagotchi stage"
HOST_NAME = "stage-tamagotchi-stage"
"""The host's application name: its windows' X11 ``WM_CLASS`` (both parts), QtWebEngine's ``--application-name``
and its cache folder. Left to Qt, all three came from ``sys.argv[0]``: ``__main__.py`` under ``python -m app``."""
PAGE_FAILED = 3
RENDERER_GONE = 4


def host_command() -> list[str]:
    """How the app starts this host: the same program with the ``web-stage-host`` subcommand (a bundle's
    executable is the program itself)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "web-stage-host"]
    return [sys.executable, "-m", "app", "web-stage-host"]


def web_engine_available() -> bool:
    """Whether the host can run, asked without loading QtWebEngine into the caller."""
    return importlib.util.find_spec("PySide6.QtWebEngineWidgets") is not None


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    host = commands.add_parser(
        "web-stage-host", help="(used by the app) show the embedded stage's page in a window of its own process"
    )
    host.add_argument("url", help="the stage page, served by the app on 127.0.0.1")
    host.add_argument("--size", default="450x600", metavar="WxH", help="the window's size (default 450x600)")


def prepare_web_engine() -> None:
    """Before the QApplication exists: QtWebEngine wants its flags and shared GL contexts set first."""
    os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", SOFTWARE_GL_FLAGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Chromium refuses to start its sandbox as root (containers, CI); the page is our own, served on 127.0.0.1.
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    from PySide6.QtCore import QCoreApplication, Qt  # noqa: PLC0415

    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)


LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
MAX_SIDE = 16384


def parse_size(text: str) -> tuple[int, int] | None:
    """``WIDTHxHEIGHT`` with both sides from 1 to :data:`MAX_SIDE` pixels, or None."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        return None
    return (width, height) if 0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE else None


def is_local_page(url: str) -> bool:
    """Whether ``url`` is a plain http page on this machine's loopback: judged on the parsed host, as the web engine
    will load it (``http://127.0.0.1:80@example.com/`` starts like a local URL but is example.com)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return False
    return parts.scheme == "http" and parts.hostname in LOCAL_HOSTS and parts.username is None


def run(args: argparse.Namespace) -> int:
    size = parse_size(args.size)
    if size is None:
        print(
            f"web-stage-host: --size must be WIDTHxHEIGHT, each from 1 to {MAX_SIDE}, not {args.size!r}",
            file=sys.stderr,
        )
        return 2
    width, height = size
    if not is_local_page(args.url):
        print(f"web-stage-host: only the app's own page on 127.0.0.1 is shown, not {args.url!r}", file=sys.stderr)
        return 2
    try:
        prepare_web_engine()
        from PySide6.QtCore import Qt, QTimer, QUrl  # noqa: PLC0415
        from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineSettings  # noqa: PLC0415
        from PySide6.QtWebEngineWidgets import QWebEngineView  # noqa: PLC0415
        from PySide6.QtWidgets import QApplication  # noqa: PLC0415
    except ImportError as error:
        print(f"web-stage-host: QtWebEngine is unavailable: {error}", file=sys.stderr)
        return 2

    QApplication.setApplicationName(HOST_NAME)
    app = QApplication([HOST_NAME])
    # SIGTERM from the app ends the host at once (Python's handler would only run once Qt returns to Python).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    view = QWebEngineView()
    view.setWindowTitle(WINDOW_TITLE)
    view.setWindowFlags(
        Qt.WindowType.FramelessWindowHint
        | Qt.WindowType.Tool  # no taskbar entry: the tamagotchi window is the app
        | Qt.WindowType.WindowStaysOnTopHint
        | Qt.WindowType.WindowTransparentForInput
        | Qt.WindowType.WindowDoesNotAcceptFocus
    )
    view.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
    view.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
    page = view.page()
    page.setBackgroundColor(Qt.GlobalColor.transparent)
    settings = page.settings()
    settings.setAttribute(QWebEngineSettings.WebAttribute.PlaybackRequiresUserGesture, False)
    settings.setAttribute(QWebEngineSettings.WebAttribute.WebGLEnabled, True)
    settings.setAttribute(QWebEngineSettings.WebAttribute.ShowScrollBars, False)
    normal = QWebEnginePage.RenderProcessTerminationStatus.NormalTerminationStatus

    def fail(code: int, reason: str) -> None:
        print(f"web-stage-host: {reason}", file=sys.stderr, flush=True)
        app.exit(code)

    def renderer_gone(status: QWebEnginePage.RenderProcessTerminationStatus, exit_code: int) -> None:
        if status != normal or exit_code:
            fail(RENDERER_GONE, f"the page's renderer ended ({status.name}, code {exit_code})")
        else:
            fail(RENDERER_GONE, "the page's renderer quit")

    def loaded(ok: bool) -> None:
        if not ok:
            fail(PAGE_FAILED, f"the stage page {args.url} did not load")

    page.renderProcessTerminated.connect(renderer_gone)
    page.loadFinished.connect(loaded)
    view.resize(width, height)
    view.load(QUrl(args.url))
    view.show()
    # The window's id, for a platform where the app cannot find it by process id.
    QTimer.singleShot(0, lambda: print(f"stage window {int(view.winId())}", flush=True))
    return app.exec()
