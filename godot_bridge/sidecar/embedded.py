"""The ``embedded`` launcher: the stage in the Godot 4 web runtime, in a page host process the app shows in its window.

The same page server as the ``web`` launcher serves the engine, our page and the project pack; instead of headless
Chromium, a *host command* given by the app shows the page (``python -m app web-stage-host URL``: a transparent,
frameless window with a web view, which the tamagotchi window then takes in). This module knows nothing of Qt: the
host is a process like a native Godot, with its lines on stdout/stderr passed on and its exit the stage ending.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from godot_bridge.sidecar.launch import LaunchError, LaunchRequest, LineSink
from godot_bridge.sidecar.native import pump_lines
from godot_bridge.sidecar.process_group import child_preexec
from godot_bridge.sidecar.web import CANVAS_ADAPTIVE, WebStageProcess, start_page_server
from godot_bridge.sidecar.web_runtime import FILES as RUNTIME_FILES
from godot_bridge.sidecar.web_runtime import WebRuntimeError

log = logging.getLogger("godot_bridge.sidecar.embedded")


class EmbeddedLauncher:
    kind = "embedded"

    def __init__(
        self,
        runtime: Path | Callable[[], Path],
        host_command: Sequence[str],
        extra_pack_files: dict[str, bytes] | None = None,
    ) -> None:
        """``runtime``: the runtime's folder, or a function that prepares it (fetching and checking it can take a
        while on the first start, so it runs in a thread when the stage launches, never before the window shows).
        ``host_command``: the command that shows a page, given its URL as the last argument."""
        self.runtime = runtime
        self.host_command = list(host_command)
        self.extra_pack_files = extra_pack_files or {}
        self._origins: set[str] = set()

    def allows_origin(self, origin: str) -> bool:
        return origin in self._origins

    async def launch(self, request: LaunchRequest, on_line: LineSink) -> WebStageProcess:
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
        server, engine_exit = await start_page_server(
            request, runtime_dir, self.extra_pack_files, on_line, canvas_resize_policy=CANVAS_ADAPTIVE
        )
        origin = server.origin
        self._origins.add(origin)
        try:
            host = await asyncio.create_subprocess_exec(
                *self.host_command,
                f"{origin}/index.html",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # the host and its web engine processes end together
                preexec_fn=child_preexec(),
            )
        except OSError as error:
            self._origins.discard(origin)
            server.shutdown()
            server.server_close()
            raise LaunchError(f"could not start the stage host {self.host_command[0]}: {error}") from error
        assert host.stdout is not None and host.stderr is not None
        readers = [
            asyncio.ensure_future(pump_lines(host.stdout, "stdout", on_line)),
            asyncio.ensure_future(pump_lines(host.stderr, "stderr", on_line)),
        ]
        # The origin is allowed while this stage runs, and no longer.
        return WebStageProcess(host, server, None, engine_exit, lambda: self._origins.discard(origin), readers=readers)

    async def aclose(self) -> None:
        self._origins.clear()
