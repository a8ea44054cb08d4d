"""The contract between the sidecar manager and the ways a stage can be started.

A launcher turns a :class:`LaunchRequest` into a running :class:`StageProcess`. The manager does not care whether
that is a native Godot binary, the Godot web build in a headless browser, or nothing at all (attach mode, where a
developer starts the stage from the Godot editor).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

StreamName = Literal["stdout", "stderr"]
LineSink = Callable[[StreamName, str], None]
"""Receives every line the stage prints, without its line ending, as soon as it is printed."""

TOKEN_ENV = "STAGE_TAMAGOTCHI_TOKEN"
"""Environment variable that carries the launch token to a native stage (never the command line)."""


@dataclass(frozen=True)
class LaunchRequest:
    bridge_url: str
    token: str
    project_dir: Path
    remote_debug: str | None = None
    extra_user_args: tuple[str, ...] = field(default=())


class StageProcess(Protocol):
    """A started stage. Mirrors the parts of :class:`asyncio.subprocess.Process` the manager needs."""

    @property
    def pid(self) -> int | None: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


class StageLauncher(Protocol):
    kind: str
    """``native``, ``web`` or ``attach``."""

    def allows_origin(self, origin: str) -> bool:
        """Whether a WebSocket handshake carrying this browser ``Origin`` comes from this launcher's stage."""
        ...

    async def launch(self, request: LaunchRequest, on_line: LineSink) -> StageProcess: ...

    async def aclose(self) -> None:
        """Release what the launcher holds beyond one process (an HTTP server, a browser profile)."""
        ...


class LaunchError(Exception):
    """The stage could not be started; the message is for a person."""
