"""The ``web`` launcher: the stage in the official Godot 4.6 web runtime, inside headless Chromium.

No native Godot 4 can be installed here, so tests (and ``--runtime web``) run the real engine this way. A small HTTP
server on 127.0.0.1 serves the engine, a page of ours and the stage project as a main pack; the page hands every line
the engine prints, and its exit code, back to that server, so the stage looks to the sidecar manager like any other
process: lines on stdout/stderr and an exit code.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from godot_bridge.sidecar.launch import LaunchError, LaunchRequest, LineSink, StreamName
from godot_bridge.sidecar.pack import pack_project
from godot_bridge.sidecar.process_group import child_preexec, signal_group
from godot_bridge.sidecar.web_runtime import FILES as RUNTIME_FILES

log = logging.getLogger("godot_bridge.sidecar.web")

PAGE = (Path(__file__).with_name("web_page") / "index.html").read_text(encoding="utf-8")
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--autoplay-policy=no-user-gesture-required",
    "--window-size=450,600",
)
_MIME = {".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html; charset=utf-8"}


def find_chromium() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class _PageServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        files: dict[str, tuple[bytes | Path, str]],
        on_lines: Callable[[list[Any]], None],
        on_exit: Callable[[int], None],
    ) -> None:
        self.files = files
        self.on_lines = on_lines
        self.on_exit = on_exit
        super().__init__(("127.0.0.1", 0), _PageHandler)
        self.origin = f"http://127.0.0.1:{self.server_address[1]}"


class _PageHandler(BaseHTTPRequestHandler):
    server: _PageServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("page server: " + format, *args)

    def do_GET(self) -> None:
        entry = self.server.files.get(self.path.split("?", 1)[0].lstrip("/") or "index.html")
        if entry is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        body, mime = entry
        data = body.read_bytes() if isinstance(body, Path) else body
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", mime)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        if self.headers.get("Origin") != self.server.origin:
            # Only our own page reports lines and exit codes; another page in a browser cannot fake them.
            self.send_error(HTTPStatus.FORBIDDEN)
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            data = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            data = None
        if self.path == "/log" and isinstance(data, list):
            self.server.on_lines(data)
        elif self.path == "/exit" and isinstance(data, dict) and isinstance(data.get("code"), int):
            self.server.on_exit(data["code"])
        else:
            self.send_error(HTTPStatus.BAD_REQUEST)
            return
        self.send_response(HTTPStatus.NO_CONTENT)
        self.end_headers()


CANVAS_FIXED = 0
CANVAS_ADAPTIVE = 2
"""The Godot web runtime's ``canvasResizePolicy``: 0 keeps the canvas (the engine's window) at its 450x600, 2 resizes it
with the page's window. The embedded stage's window is sized by the tamagotchi window's layout and by the user;
headless Chromium's window has no reason to change, and the stage's reported window size stays the project's."""


async def start_page_server(
    request: LaunchRequest,
    runtime_dir: Path,
    extra_pack_files: dict[str, bytes],
    on_line: LineSink,
    canvas_resize_policy: int = CANVAS_FIXED,
) -> tuple[_PageServer, asyncio.Future[int]]:
    """Serve the engine, our page (with the bridge URL and token as the engine's arguments) and the project pack on
    127.0.0.1; returns the running server and a future that gets the engine's exit code. Any page that loads
    ``server.origin + "/index.html"`` runs the stage: headless Chromium here, a web view in the app's window."""
    loop = asyncio.get_running_loop()
    engine_exit: asyncio.Future[int] = loop.create_future()
    pack = await asyncio.to_thread(pack_project, request.project_dir, extra_pack_files)
    args = ["--", f"--bridge-url={request.bridge_url}", f"--bridge-token={request.token}", *request.extra_user_args]
    page = PAGE.replace(
        "{{CONFIG}}", json.dumps({"args": args, "canvasResizePolicy": canvas_resize_policy}).replace("</", "<\\/")
    )
    files: dict[str, tuple[bytes | Path, str]] = {
        name: (runtime_dir / name, _MIME[Path(name).suffix]) for name in RUNTIME_FILES
    }
    files["index.html"] = (page.encode(), _MIME[".html"])
    files["stage.zip"] = (pack, "application/zip")

    def lines_arrived(entries: list[Any]) -> None:
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("line"), str):
                stream: StreamName = "stderr" if entry.get("stream") == "stderr" else "stdout"
                for line in entry["line"].splitlines() or [""]:
                    loop.call_soon_threadsafe(on_line, stream, line)

    def record_exit(code: int) -> None:
        if not engine_exit.done():
            engine_exit.set_result(code)

    def engine_exited(code: int) -> None:
        loop.call_soon_threadsafe(record_exit, code)

    server = _PageServer(files, lines_arrived, engine_exited)
    threading.Thread(target=server.serve_forever, name="web-stage-page", daemon=True).start()
    return server, engine_exit


class WebStageProcess:
    """The engine running in a page: exits when the engine quits (its code) or when the browser dies."""

    def __init__(
        self,
        browser: asyncio.subprocess.Process,
        server: _PageServer,
        profile: Path | None,
        engine_exit: asyncio.Future[int],
        on_finished: Callable[[], None] | None = None,
        *,
        readers: Sequence[asyncio.Task[None]] = (),
    ) -> None:
        """``browser``: the process showing the page (headless Chromium, or the app's stage host); ``profile``: a
        folder of its own to remove afterwards; ``readers``: tasks passing on what it prints, done when it exits."""
        self._browser = browser
        self._server = server
        self._profile = profile
        self._engine_exit = engine_exit
        self._on_finished = on_finished
        self._readers = readers
        self._returncode: int | None = None
        self._waiter: asyncio.Task[int] | None = None

    @property
    def pid(self) -> int | None:
        return self._browser.pid

    @property
    def returncode(self) -> int | None:
        return self._returncode

    async def wait(self) -> int:
        if self._waiter is None:
            self._waiter = asyncio.ensure_future(self._run_until_exit())
        return await asyncio.shield(self._waiter)

    async def _run_until_exit(self) -> int:
        browser_exit = asyncio.ensure_future(self._browser.wait())
        try:
            done, _ = await asyncio.wait({browser_exit, self._engine_exit}, return_when=asyncio.FIRST_COMPLETED)
            if self._engine_exit in done:
                code = self._engine_exit.result()
                self._kill_group(signal.SIGKILL)
                await browser_exit
            else:
                code = browser_exit.result()
                code = 1 if code == 0 else code  # the browser leaving before the engine did is a crash
        finally:
            self._kill_group(signal.SIGKILL)
            if not browser_exit.done():
                await browser_exit
            await asyncio.gather(*self._readers, return_exceptions=True)
            await asyncio.to_thread(self._server.shutdown)
            self._server.server_close()
            if self._profile is not None:
                shutil.rmtree(self._profile, ignore_errors=True)
            if self._on_finished is not None:
                self._on_finished()
        self._returncode = code
        return code

    def _kill_group(self, sig: signal.Signals) -> None:
        signal_group(self._browser.pid, sig)

    def terminate(self) -> None:
        self._kill_group(signal.SIGTERM)

    def kill(self) -> None:
        self._kill_group(signal.SIGKILL)


class WebLauncher:
    kind = "web"

    def __init__(
        self,
        runtime_dir: Path,
        chromium: str | None = None,
        extra_pack_files: dict[str, bytes] | None = None,
    ) -> None:
        self.runtime_dir = runtime_dir
        self.chromium = chromium or find_chromium()
        self.extra_pack_files = extra_pack_files or {}
        self._origins: set[str] = set()

    def allows_origin(self, origin: str) -> bool:
        return origin in self._origins

    async def launch(self, request: LaunchRequest, on_line: LineSink) -> WebStageProcess:
        if self.chromium is None:
            raise LaunchError("Chromium is needed for the web runtime: apt-get install chromium")
        missing = [name for name in RUNTIME_FILES if not (self.runtime_dir / name).is_file()]
        if missing:
            raise LaunchError(f"the Godot web runtime in {self.runtime_dir} lacks {', '.join(missing)}")
        if request.remote_debug:
            log.warning("--remote-debug is not available in the web runtime; ignoring %s", request.remote_debug)
        server, engine_exit = await start_page_server(request, self.runtime_dir, self.extra_pack_files, on_line)
        origin = server.origin
        self._origins.add(origin)
        profile = Path(tempfile.mkdtemp(prefix="stage-chromium-"))
        try:
            browser = await asyncio.create_subprocess_exec(
                self.chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"{origin}/index.html",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=child_preexec(),
            )
        except OSError as error:
            self._origins.discard(origin)
            server.shutdown()
            server.server_close()
            shutil.rmtree(profile, ignore_errors=True)
            raise LaunchError(f"could not start {self.chromium}: {error}") from error
        # The origin is allowed while this stage runs, and no longer.
        return WebStageProcess(browser, server, profile, engine_exit, lambda: self._origins.discard(origin))

    async def aclose(self) -> None:
        self._origins.clear()
