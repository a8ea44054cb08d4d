"""The ``native`` launcher: a Godot 4 binary on this machine runs the stage project."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping, Sequence

from godot_bridge.sidecar.launch import TOKEN_ENV, LaunchError, LaunchRequest, LineSink, StreamName
from godot_bridge.sidecar.process_group import child_preexec, signal_group


def stage_command(godot: Sequence[str], request: LaunchRequest) -> list[str]:
    """Engine options first (``--remote-debug`` must come before ``--``), then the stage's user arguments.

    The token is deliberately absent: any local user can read a command line, so it travels in the environment.
    """
    engine = ["--remote-debug", request.remote_debug] if request.remote_debug else []
    return [
        *godot,
        *engine,
        "--path",
        str(request.project_dir),
        "--",
        f"--bridge-url={request.bridge_url}",
        *request.extra_user_args,
    ]


class NativeStageProcess:
    def __init__(self, process: asyncio.subprocess.Process, readers: list[asyncio.Task[None]]) -> None:
        self._process = process
        self._readers = readers

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def wait(self) -> int:
        code = await self._process.wait()
        await asyncio.gather(*self._readers, return_exceptions=True)
        # Anything the engine started in its session goes with it.
        signal_group(self._process.pid, signal.SIGKILL)
        return code

    def terminate(self) -> None:
        signal_group(self._process.pid, signal.SIGTERM)

    def kill(self) -> None:
        signal_group(self._process.pid, signal.SIGKILL)


async def pump_lines(stream: asyncio.StreamReader, name: StreamName, on_line: LineSink) -> None:
    while line := await stream.readline():
        on_line(name, line.decode("utf-8", "replace").rstrip("\r\n"))


class NativeLauncher:
    kind = "native"

    def __init__(self, godot: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        """``godot`` is the executable, or a command prefix that runs one (tests use a stand-in)."""
        self.godot = list(godot)
        self.env = dict(os.environ if env is None else env)

    def allows_origin(self, origin: str) -> bool:
        return False  # a native stage connects without a browser Origin

    async def launch(self, request: LaunchRequest, on_line: LineSink) -> NativeStageProcess:
        env = {**self.env, TOKEN_ENV: request.token}
        try:
            process = await asyncio.create_subprocess_exec(
                *stage_command(self.godot, request),
                cwd=str(request.project_dir),
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                preexec_fn=child_preexec(),
            )
        except OSError as error:
            raise LaunchError(f"could not start {self.godot[0]}: {error.strerror or error}") from error
        assert process.stdout is not None and process.stderr is not None
        readers = [
            asyncio.ensure_future(pump_lines(process.stdout, "stdout", on_line)),
            asyncio.ensure_future(pump_lines(process.stderr, "stderr", on_line)),
        ]
        return NativeStageProcess(process, readers)

    async def aclose(self) -> None:
        return None
