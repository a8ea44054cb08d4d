"""What the app does with its stage, without Qt: start it, put the user's chosen VRM on it, report progress.

The window (and the command line) talk only to :class:`StageService`; it owns the order of operations: check the
file is a VRM, store its bytes in the user-data folder, then hand the stored copy to the running stage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from app.models.store import ModelStore, StoredModel
from app.models.vrm_check import NotVrmError, check_vrm
from godot_bridge.protocol.messages import SceneApplied, SceneApply

log = logging.getLogger("app.stage")

Phase = Literal["not-found", "starting", "ready", "applying", "applied", "failed", "stopped"]


@dataclass(frozen=True)
class StageStatus:
    phase: Phase
    message: str
    applied: SceneApplied | None = None


class StageRuntime(Protocol):
    """The running stage as the app sees it (the sidecar manager provides it)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def apply_scene(self, scene: SceneApply) -> SceneApplied: ...

    def scene_for(self, model: StoredModel) -> SceneApply: ...


def scene_for_model(model: StoredModel, url: str | None) -> SceneApply:
    """The ``scene.apply`` request for a stored model: its path for native stages, ``url`` for web ones."""
    return SceneApply(
        model_id=model.model_id,
        format="vrm",
        name=model.name,
        path=str(model.path),
        url=url,
        size=model.size,
        sha256=model.sha256,
    )


class ApplyError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StageService:
    def __init__(self, store: ModelStore, runtime: StageRuntime | None, missing_reason: str = "") -> None:
        self._store = store
        self._runtime = runtime
        self._listeners: list[Callable[[StageStatus], None]] = []
        self._apply_lock = asyncio.Lock()
        self.status = StageStatus("not-found", missing_reason) if runtime is None else StageStatus("stopped", "")
        log.info("stage: %s %s", self.status.phase, self.status.message)

    def subscribe(self, listener: Callable[[StageStatus], None]) -> None:
        self._listeners.append(listener)
        listener(self.status)

    def _set(self, status: StageStatus) -> None:
        self.status = status
        log.info("stage: %s %s", status.phase, status.message)
        for listener in list(self._listeners):
            listener(status)

    async def start(self) -> None:
        if self._runtime is None:
            return
        self._set(StageStatus("starting", "Starting the Godot stage..."))
        try:
            await self._runtime.start()
        except Exception as error:
            self._set(StageStatus("failed", f"The stage did not start: {error}"))
            return
        self._set(StageStatus("ready", "The stage is ready. Open a VRM model to show it."))

    async def stop(self) -> None:
        if self._runtime is not None:
            await self._runtime.stop()
            if self.status.phase != "not-found":
                self._set(StageStatus("stopped", "The stage is stopped."))

    async def apply_file(self, source: Path) -> SceneApplied:
        """Check, store and show a model. Raises :class:`ApplyError`; the previous avatar stays on failure."""
        async with self._apply_lock:
            try:
                summary = await asyncio.to_thread(check_vrm, source)
            except NotVrmError as refused:
                self._set(StageStatus("failed", f"{source.name} was refused: {refused.message}"))
                raise ApplyError(refused.code, refused.message) from None
            try:
                stored = await asyncio.to_thread(self._store.put, source)
            except OSError as error:
                message = f"{source.name} could not be saved in the user-data folder: {error.strerror or error}."
                self._set(StageStatus("failed", message))
                raise ApplyError("store-failed", message) from None
            if self._runtime is None:
                message = f"Saved {source.name}; it will show once a Godot 4 stage runs. {self.status.message}"
                self._set(StageStatus("not-found", message))
                raise ApplyError("no-stage", message)
            self._set(StageStatus("applying", f"Applying {source.name} (VRM {summary.version})..."))
            try:
                applied = await self._runtime.apply_scene(self._runtime.scene_for(stored))
            except Exception as error:
                code = getattr(error, "code", "apply-failed")
                message = f"{source.name} could not be shown: {getattr(error, 'message', None) or error}"
                self._set(StageStatus("failed", message))
                raise ApplyError(str(code), message) from None
            self._set(
                StageStatus(
                    "applied",
                    f"Showing {source.name}: VRM {applied.vrm_version}, {len(applied.expressions)} expressions, "
                    f"loaded in {applied.load_ms:.0f} ms.",
                    applied,
                )
            )
            return applied
