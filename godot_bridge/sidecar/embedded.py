"""The ``embedded`` launcher: the stage in the Godot 4 web runtime, inside a page the app itself shows.

The same page server as the ``web`` launcher serves the engine, our page and the project pack; instead of starting
headless Chromium, a :class:`PageHost` (the tamagotchi window's web view, see ``app/ui/embedded_stage.py``) loads the
page. To the sidecar manager it is a process like any other: lines on stdout/stderr and an exit code, which comes
from the engine quitting, or from the host losing the page (its renderer crashed, the window was closed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from godot_bridge.sidecar.launch import LaunchError, LaunchRequest, LineSink
from godot_bridge.sidecar.web import start_page_server
from godot_bridge.sidecar.web_runtime import FILES as RUNTIME_FILES
from godot_bridge.sidecar.web_runtime import WebRuntimeError

log = logging.getLogger("godot_bridge.sidecar.embedded")

PAGE_CLOSED = 0
"""The exit code when the app closed the page itself (a stop it asked for)."""


class PageHost(Protocol):
    """Something that shows one web page at a time: a web view in a window."""

    def open_page(self, url: str, on_gone: Callable[[int], None]) -> None:
        """Load ``url``; call ``on_gone`` with an exit code if the page dies by itself (renderer crash: non-zero)."""
        ...

    def close_page(self) -> None:
        """Unload the page (the engine in it stops at once)."""
        ...


class EmbeddedStageProcess:
    def __init__(
        self,
        host: PageHost,
        engine_exit: asyncio.Future[int],
        page_gone: asyncio.Future[int],
        release: Callable[[], None],
    ) -> None:
        self._host = host
        self._engine_exit = engine_exit
        self._page_gone = page_gone
        self._release = release
        self._returncode: int | None = None
        self._waiter: asyncio.Task[int] | None = None

    @property
    def pid(self) -> int | None:
        return None  # the engine runs in the app's own web view process

    @property
    def returncode(self) -> int | None:
        return self._returncode

    async def wait(self) -> int:
        if self._waiter is None:
            self._waiter = asyncio.ensure_future(self._run_until_exit())
        return await asyncio.shield(self._waiter)

    async def _run_until_exit(self) -> int:
        try:
            done, _ = await asyncio.wait({self._engine_exit, self._page_gone}, return_when=asyncio.FIRST_COMPLETED)
            code = (self._engine_exit if self._engine_exit in done else self._page_gone).result()
        finally:
            self._host.close_page()
            await asyncio.to_thread(self._release)
        self._returncode = code
        return code

    def page_gone(self, code: int) -> None:
        if not self._page_gone.done():
            self._page_gone.set_result(code)

    def terminate(self) -> None:
        self._host.close_page()
        self.page_gone(PAGE_CLOSED)

    def kill(self) -> None:
        self.terminate()


class EmbeddedLauncher:
    kind = "embedded"

    def __init__(
        self,
        runtime: Path | Callable[[], Path],
        host: PageHost,
        extra_pack_files: dict[str, bytes] | None = None,
    ) -> None:
        """``runtime``: the runtime's folder, or a function that prepares it (fetching and checking it can take a
        while on the first start, so it runs in a thread when the stage launches, never before the window shows)."""
        self.runtime = runtime
        self.host = host
        self.extra_pack_files = extra_pack_files or {}
        self._origins: set[str] = set()

    def allows_origin(self, origin: str) -> bool:
        return origin in self._origins

    async def launch(self, request: LaunchRequest, on_line: LineSink) -> EmbeddedStageProcess:
        if isinstance(self.runtime, Path):
            runtime_dir = self.runtime
        else:
            try:
                runtime_dir = await asyncio.to_thread(self.runtime)
            except WebRuntimeError as error:
                raise LaunchError(f"the Godot web runtime is unavailable: {error}") from error
        missing = [name for name in RUNTIME_FILES if not (runtime_dir / name).is_file()]
        if missing:
            raise LaunchError(f"the Godot web runtime in {runtime_dir} lacks {', '.join(missing)}")
        if request.remote_debug:
            log.warning("--remote-debug is not available in the web runtime; ignoring %s", request.remote_debug)
        server, engine_exit = await start_page_server(request, runtime_dir, self.extra_pack_files, on_line)
        origin = server.origin
        self._origins.add(origin)
        loop = asyncio.get_running_loop()
        page_gone: asyncio.Future[int] = loop.create_future()

        def release() -> None:
            self._origins.discard(origin)  # the origin is allowed while this stage runs, and no longer
            server.shutdown()
            server.server_close()

        process = EmbeddedStageProcess(self.host, engine_exit, page_gone, release)

        def gone(code: int) -> None:
            loop.call_soon_threadsafe(process.page_gone, code)

        try:
            self.host.open_page(f"{origin}/index.html", gone)
        except Exception as error:
            release()
            raise LaunchError(f"the window could not show the stage: {error}") from error
        return process

    async def aclose(self) -> None:
        self._origins.clear()
