"""What the app does with its stage, without Qt: start it, put the user's chosen VRM on it, report progress.

The window (and the command line) talk only to :class:`StageService`; it owns the order of operations: check the
file is a VRM, store its bytes in the model library (the user-data folder), then hand the stored copy, never the
user's original, to the running stage. A model becomes the selected one only once the stage shows it (or, without a
stage, at once, to be shown when one runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from app.models.library import LibraryEntry, LibraryError, ModelLibrary
from app.models.refusals import ModelRefused
from godot_bridge.protocol.messages import SceneApplied, SceneApply

log = logging.getLogger("app.stage")

Phase = Literal["not-found", "starting", "ready", "applying", "applied", "failed", "stopped"]


STARTING = "Starting the Godot stage..."


@dataclass(frozen=True)
class StageStatus:
    phase: Phase
    message: str
    applied: SceneApplied | None = None
    settings_page: str | None = None
    """The settings page where the user can fix what went wrong, when one can (the stage's, for a stage that is
    missing or does not start); None when the settings cannot help (a refused model)."""


class StageRuntime(Protocol):
    """The running stage as the app sees it (the sidecar manager provides it)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def apply_scene(self, scene: SceneApply) -> SceneApplied: ...

    def scene_for(self, model: LibraryEntry) -> SceneApply: ...


def scene_for_model(model: LibraryEntry, url: str | None) -> SceneApply:
    """The ``scene.apply`` request for a stored model: its path for native stages, ``url`` for web ones."""
    return SceneApply(
        model_id=model.model_id,
        format="vrm",
        name=model.file_name,
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
    def __init__(self, library: ModelLibrary, runtime: StageRuntime | None, missing_reason: str = "") -> None:
        self.library = library
        self._runtime = runtime
        self._listeners: list[Callable[[StageStatus], None]] = []
        self._apply_lock = asyncio.Lock()
        # A stage that exists is started right away by the app: "starting" from the first moment, not "stopped".
        self.status = (
            StageStatus("not-found", missing_reason, settings_page="stage")
            if runtime is None
            else StageStatus("starting", STARTING)
        )
        log.info("stage: %s %s", self.status.phase, self.status.message)

    def subscribe(self, listener: Callable[[StageStatus], None]) -> None:
        self._listeners.append(listener)
        listener(self.status)

    def _set(self, status: StageStatus) -> None:
        self.status = status
        log.info("stage: %s %s", status.phase, status.message)
        for listener in list(self._listeners):
            listener(status)

    def starting_detail(self, text: str) -> None:
        """While the stage starts, what the user should know or do (attach mode: what to run in the editor)."""
        if self.status.phase == "starting":
            self._set(StageStatus("starting", text))

    async def start(self) -> None:
        """Start the stage and show the selected model, if any."""
        if self._runtime is None:
            return
        if self.status.phase != "starting":
            self._set(StageStatus("starting", STARTING))
        try:
            await self._runtime.start()
        except Exception as error:
            self._set(StageStatus("failed", f"The stage did not start: {error}", settings_page="stage"))
            return
        self._set(StageStatus("ready", "The stage is ready. Choose an avatar to show it."))
        selected = self.library.selected
        if selected is not None:
            with contextlib.suppress(ApplyError):  # reported through the status
                await self.show_model(selected.sha256)

    async def replace_runtime(self, runtime: StageRuntime | None, missing_reason: str = "") -> None:
        """Stop the current stage and start ``runtime`` instead (the user changed the stage settings)."""
        await self.stop()
        self._runtime = runtime
        if runtime is None:
            self._set(StageStatus("not-found", missing_reason, settings_page="stage"))
        await self.start()

    async def stop(self) -> None:
        if self._runtime is not None:
            await self._runtime.stop()
            if self.status.phase != "not-found":
                self._set(StageStatus("stopped", "The stage is stopped."))

    async def import_file(self, source: Path) -> LibraryEntry:
        """Check and store a model without showing it. Raises :class:`ApplyError`; the library is unchanged then."""
        try:
            result = await asyncio.to_thread(self.library.import_file, source)
        except ModelRefused as refused:
            self._set(StageStatus("failed", f"{source.name} was refused: {refused.message}"))
            raise ApplyError(refused.code.value, refused.message) from None
        except LibraryError as error:
            self._set(StageStatus("failed", error.message))
            raise ApplyError(error.code, error.message) from None
        return result.entry

    async def apply_file(self, source: Path) -> SceneApplied | None:
        """Check, store and show a model (None when no stage runs: it is selected, to show later)."""
        entry = await self.import_file(source)
        return await self.show_model(entry.sha256)

    async def show_model(self, reference: str) -> SceneApplied | None:
        """Put a library model on the stage and make it the selected one; the previous avatar stays on failure."""
        async with self._apply_lock:
            try:
                entry = self.library.find(reference)
            except LibraryError as error:
                self._set(StageStatus("failed", error.message))
                raise ApplyError(error.code, error.message) from None
            if self._runtime is None:
                await self._select(entry)
                message = f"Selected {entry.name}; it will show once a Godot 4 stage runs. {self.status.message}"
                self._set(StageStatus("not-found", message, settings_page="stage"))
                return None
            self._set(StageStatus("applying", f"Applying {entry.name} (VRM {entry.vrm_version})..."))
            try:
                applied = await self._runtime.apply_scene(self._runtime.scene_for(entry))
            except Exception as error:
                code = getattr(error, "code", "apply-failed")
                message = f"{entry.name} could not be shown: {getattr(error, 'message', None) or error}"
                self._set(StageStatus("failed", message))
                raise ApplyError(str(code), message) from None
            await self._select(entry)
            self._set(
                StageStatus(
                    "applied",
                    f"Showing {entry.name}: VRM {applied.vrm_version}, {len(applied.expressions)} expressions, "
                    f"loaded in {applied.load_ms:.0f} ms.",
                    applied,
                )
            )
            return applied

    async def _select(self, entry: LibraryEntry) -> None:
        try:
            await asyncio.to_thread(self.library.select, entry.sha256)
        except LibraryError as error:
            # The avatar shows; only remembering the choice failed. Say so rather than pretend.
            log.warning("stage: %s", error.message)
