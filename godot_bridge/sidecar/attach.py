"""The ``attach`` launcher: start nothing, and tell the developer how to run the stage from the Godot editor.

With the stage started from the editor, breakpoints, the remote scene tree and the profiler all work. The "process"
here is only a placeholder that stays alive until the app stops it; the bridge decides when the stage is there.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

from godot_bridge.sidecar.launch import TOKEN_ENV, LaunchRequest, LineSink


def attach_instructions(request: LaunchRequest) -> str:
    return (
        "Attach mode: the app does not start Godot. Run the stage yourself:\n"
        f"  1. Open {request.project_dir} in the Godot 4 editor.\n"
        "  2. Project > Project Settings > Editor > Run > Main Run Args (or the command line after `--`):\n"
        f"       --bridge-url={request.bridge_url} --bridge-token={request.token}\n"
        f"     or export {TOKEN_ENV}={request.token} before starting the editor and pass only --bridge-url.\n"
        "  3. Press Run (F5). The stage connects within a second; breakpoints work as usual.\n"
        "The token changes every time the app starts."
    )


class AttachedStage:
    def __init__(self) -> None:
        self._stopped = asyncio.Event()
        self._returncode: int | None = None

    @property
    def pid(self) -> int | None:
        return None

    @property
    def returncode(self) -> int | None:
        return self._returncode

    async def wait(self) -> int:
        await self._stopped.wait()
        assert self._returncode is not None
        return self._returncode

    def terminate(self) -> None:
        self._finish(0)

    def kill(self) -> None:
        self._finish(-9)

    def _finish(self, code: int) -> None:
        if self._returncode is None:
            self._returncode = code
            self._stopped.set()


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class AttachLauncher:
    kind = "attach"

    def __init__(self, announce: Callable[[str], None] = _to_stderr) -> None:
        """``announce`` shows the developer what to run (stderr by default; a window may show it instead)."""
        self.announce = announce
        self.instructions = ""

    def allows_origin(self, origin: str) -> bool:
        return False

    async def launch(self, request: LaunchRequest, on_line: LineSink) -> AttachedStage:
        self.instructions = attach_instructions(request)
        self.announce(self.instructions)
        return AttachedStage()

    async def aclose(self) -> None:
        return None
