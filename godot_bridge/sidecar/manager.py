"""Keeping one stage alive: start it, know when it is ready, restart it when it dies, stop it for good.

States: stopped, starting, running, stopping, crashed, restarting, failed. Ready means the stage said
``stage.hello`` over the bridge (not merely that a process exists). An unexpected exit, or a bridge that goes
quiet, restarts the stage with backoff (0.5, 1, 2, 4, 8 s) and re-applies the last scene; six crashes within 60 s
mean something is wrong that restarting will not fix, so the manager gives up (``failed``) and says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from godot_bridge.protocol.messages import SceneApplied, SceneApply
from godot_bridge.sidecar.launch import LaunchError, LaunchRequest, StageLauncher, StageProcess, StreamName

log = logging.getLogger("godot_bridge.sidecar")
stage_output = logging.getLogger("godot_bridge.stage.output")


class SidecarState(enum.StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    CRASHED = "crashed"
    RESTARTING = "restarting"
    FAILED = "failed"


class StageBridge(Protocol):
    """What the manager needs from the bridge server (``godot_bridge.server.BridgeServer`` provides it)."""

    @property
    def url(self) -> str: ...

    @property
    def token(self) -> str: ...

    @property
    def connected(self) -> bool: ...

    async def wait_connected(self, timeout: float) -> object: ...

    async def wait_disconnected(self) -> None: ...

    async def apply_scene(self, scene: SceneApply, timeout: float | None = None) -> SceneApplied: ...

    async def shutdown_stage(self, reason: str = ..., timeout: float = ...) -> None: ...


class StageStartError(RuntimeError):
    """The stage did not become ready; the message says why, with the end of its error output."""


@dataclass(frozen=True)
class SidecarSettings:
    project_dir: Path
    remote_debug: str | None = None
    ready_timeout_s: float = 20.0
    shutdown_grace_s: float = 2.0
    backoff_s: Sequence[float] = (0.5, 1.0, 2.0, 4.0, 8.0)
    max_restarts: int = 5
    restart_window_s: float = 60.0
    log_lines: int = 500


StateListener = Callable[[SidecarState, str], None]


class SidecarManager:
    def __init__(
        self,
        launcher: StageLauncher,
        bridge: StageBridge,
        settings: SidecarSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.launcher = launcher
        self.bridge = bridge
        self.settings = settings
        self.state = SidecarState.STOPPED
        self.reason = ""
        self.output: deque[tuple[StreamName, str]] = deque(maxlen=settings.log_lines)
        """The stage's last printed lines, for devtools and failure reasons."""
        self._clock = clock
        self._sleep = sleep
        self._listeners: list[StateListener] = []
        self._process: StageProcess | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._restarts: deque[float] = deque()
        self._last_scene: SceneApply | None = None
        self._lock = asyncio.Lock()
        self._stopping = False

    # -- observation ---------------------------------------------------------------------------------------
    def subscribe(self, listener: StateListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _set(self, state: SidecarState, reason: str = "") -> None:
        self.state, self.reason = state, reason
        log.info("stage %s%s", state.value, f": {reason}" if reason else "")
        for listener in list(self._listeners):
            try:
                listener(state, reason)
            except Exception:
                log.exception("a sidecar state listener failed")

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def _on_line(self, stream: StreamName, line: str) -> None:
        self.output.append((stream, line))
        stage_output.log(logging.WARNING if stream == "stderr" else logging.INFO, "%s", line)

    def _stderr_tail(self, lines: int = 8) -> str:
        tail = [line for stream, line in self.output if stream == "stderr"][-lines:]
        return (" Last errors from the stage: " + " | ".join(tail)) if tail else ""

    # -- lifecycle -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the stage and return once it is ready; raises :class:`StageStartError` otherwise."""
        async with self._lock:
            if self.state is SidecarState.RUNNING:
                return
            self._stopping = False
            self._restarts.clear()
            try:
                await self._start_once()
            except StageStartError as error:
                self._set(SidecarState.FAILED, str(error))
                raise
            self._supervisor = asyncio.ensure_future(self._supervise())

    async def _start_once(self) -> None:
        self._set(SidecarState.STARTING)
        request = LaunchRequest(
            bridge_url=self.bridge.url,
            token=self.bridge.token,
            project_dir=self.settings.project_dir,
            remote_debug=self.settings.remote_debug,
        )
        try:
            process = await self.launcher.launch(request, self._on_line)
        except LaunchError as error:
            raise StageStartError(str(error)) from error
        self._process = process
        timeout = self.settings.ready_timeout_s
        ready = asyncio.ensure_future(self.bridge.wait_connected(timeout))
        exited = asyncio.ensure_future(process.wait())
        try:
            await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (ready, exited):
                task.cancel()
        if ready.done() and not ready.cancelled() and ready.exception() is None:
            self._set(SidecarState.RUNNING)
            await self._reapply_last_scene()
            return
        if exited.done() and not exited.cancelled():
            why = f"the stage exited with code {exited.result()} before it connected to the bridge"
        else:
            why = f"the stage did not connect to the bridge within {timeout:g} s"
        await self._end_process(process, graceful=False)
        raise StageStartError(why + "." + self._stderr_tail())

    async def _reapply_last_scene(self) -> None:
        if self._last_scene is None:
            return
        try:
            await self.bridge.apply_scene(self._last_scene)
            log.info("re-applied %s after the restart", self._last_scene.name)
        except Exception as error:  # the stage is up; a model that no longer loads must not keep it down
            log.warning("could not re-apply %s after the restart: %s", self._last_scene.name, error)

    async def _supervise(self) -> None:
        while not self._stopping:
            reason = await self._wait_for_trouble()
            if self._stopping:
                return
            self._set(SidecarState.CRASHED, reason)
            while True:
                now = self._clock()
                while self._restarts and now - self._restarts[0] > self.settings.restart_window_s:
                    self._restarts.popleft()
                if len(self._restarts) >= self.settings.max_restarts:
                    self._set(
                        SidecarState.FAILED,
                        f"gave up after {self.settings.max_restarts} restarts within "
                        f"{self.settings.restart_window_s:g} s; last problem: {reason}",
                    )
                    return
                backoff = self.settings.backoff_s
                delay = backoff[min(len(self._restarts), len(backoff) - 1)]
                self._restarts.append(now)
                self._set(SidecarState.RESTARTING, f"restarting in {delay:g} s after: {reason}")
                await self._sleep(delay)
                if self._stopping:
                    return
                try:
                    await self._start_once()
                    break
                except StageStartError as error:
                    reason = str(error)
                    self._set(SidecarState.CRASHED, reason)

    async def _wait_for_trouble(self) -> str:
        process = self._process
        assert process is not None
        exited = asyncio.ensure_future(process.wait())
        lost = asyncio.ensure_future(self.bridge.wait_disconnected())
        try:
            await asyncio.wait({exited, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        # A crashing stage closes its socket and exits at nearly the same moment; give the exit a chance to
        # show before calling the stage frozen.
        if not exited.done() and not self._stopping:
            await asyncio.wait({exited}, timeout=self.settings.shutdown_grace_s)
        if exited.done():
            return f"the stage exited unexpectedly with code {exited.result()}.{self._stderr_tail()}"
        exited.cancel()
        if self._stopping:
            return ""
        # The bridge dropped a stage whose process still runs (frozen, or it stopped answering): end it.
        await self._end_process(process, graceful=False)
        return "the stage stopped answering the bridge and was ended." + self._stderr_tail()

    async def stop(self) -> None:
        """Ask the stage to quit, then terminate, then kill; no stage process survives this call."""
        async with self._lock:
            self._stopping = True
            if self._supervisor is not None:
                self._supervisor.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._supervisor
                self._supervisor = None
            process = self._process
            if process is not None and process.returncode is None:
                self._set(SidecarState.STOPPING)
                await self._end_process(process, graceful=True)
            self._process = None
            self._set(SidecarState.STOPPED)

    async def _end_process(self, process: StageProcess, *, graceful: bool) -> None:
        grace = self.settings.shutdown_grace_s
        if graceful and self.bridge.connected:
            await self.bridge.shutdown_stage("the app is stopping the stage", timeout=grace)
            if await self._exited_within(process, grace):
                return
            log.warning("the stage did not quit within %g s of host.shutdown: terminating it", grace)
        if process.returncode is None:
            process.terminate()
            if await self._exited_within(process, grace):
                return
            log.warning("the stage ignored SIGTERM for %g s: killing it", grace)
        process.kill()
        await process.wait()

    @staticmethod
    async def _exited_within(process: StageProcess, seconds: float) -> bool:
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.ensure_future(process.wait())), seconds)
        except TimeoutError:
            return False
        return True

    # -- scenes --------------------------------------------------------------------------------------------
    async def apply_scene(self, scene: SceneApply) -> SceneApplied:
        """Apply a model now, and again after every restart."""
        self._last_scene = scene
        return await self.bridge.apply_scene(scene)
