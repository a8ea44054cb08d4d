"""The composition root: the one place that builds the services and wires them together."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.models.default_avatar import NAME, build_default_avatar
from app.models.library import LibraryEntry, ModelLibrary
from app.paths import resolve_user_data_dir, stage_project_dir
from app.stage_service import StageService, scene_for_model
from godot_bridge.protocol.messages import SceneApplied, SceneApply
from godot_bridge.server import BridgeConfig, BridgeServer
from godot_bridge.sidecar.attach import AttachLauncher
from godot_bridge.sidecar.discovery import GodotFinder
from godot_bridge.sidecar.launch import StageLauncher
from godot_bridge.sidecar.manager import SidecarManager, SidecarSettings
from godot_bridge.sidecar.native import NativeLauncher
from godot_bridge.sidecar.web import WebLauncher, find_chromium
from godot_bridge.sidecar.web_runtime import WebRuntimeError, default_runtime_dir, ensure_web_runtime

log = logging.getLogger("app")

Runtime = Literal["native", "web", "attach"]
ATTACH_READY_TIMEOUT_S = 600.0
"""A developer starting the stage from the editor needs more than the 20 s a launched stage gets."""


@dataclass(frozen=True)
class AppOptions:
    user_data: Path
    runtime: Runtime = "native"
    godot: str | None = None
    remote_debug: str | None = None

    @classmethod
    def create(
        cls,
        user_data: str | None,
        runtime: Runtime = "native",
        godot: str | None = None,
        remote_debug: str | None = None,
    ) -> AppOptions:
        return cls(resolve_user_data_dir(user_data), runtime, godot, remote_debug)


class LauncherUnavailable(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def build_launcher(options: AppOptions) -> StageLauncher:
    """The launcher for the chosen runtime; raises :class:`LauncherUnavailable` saying what is missing."""
    if options.runtime == "attach":
        return AttachLauncher()
    if options.runtime == "web":
        if find_chromium() is None:
            raise LauncherUnavailable("chromium-not-found", "The web runtime needs Chromium: apt-get install chromium.")
        try:
            return WebLauncher(ensure_web_runtime(default_runtime_dir()))
        except WebRuntimeError as error:
            raise LauncherUnavailable(
                "web-runtime-unavailable", f"The Godot web runtime is unavailable: {error}."
            ) from error
    discovery = GodotFinder().find(options.godot)
    if discovery.found is None:
        raise LauncherUnavailable("godot-not-found", discovery.reason)
    log.info("using Godot %s at %s (%s)", discovery.found.version, discovery.found.path, discovery.found.source)
    return NativeLauncher([str(discovery.found.path)])


class ManagedStage:
    """The stage as the app's services see it: a sidecar manager plus the bridge that serves its models."""

    def __init__(self, launcher: StageLauncher, library: ModelLibrary, options: AppOptions) -> None:
        self.launcher = launcher
        self.bridge = BridgeServer(
            BridgeConfig(), resolve_model=library.path_for, origin_allowed=launcher.allows_origin
        )
        ready_timeout = ATTACH_READY_TIMEOUT_S if launcher.kind == "attach" else 20.0
        settings = SidecarSettings(stage_project_dir(), options.remote_debug, ready_timeout_s=ready_timeout)
        self.manager = SidecarManager(launcher, self.bridge, settings)

    async def start(self) -> None:
        await self.bridge.start()
        await self.manager.start()

    async def stop(self) -> None:
        try:
            await self.manager.stop()
        finally:
            await self.bridge.close()
            await self.launcher.aclose()

    async def apply_scene(self, scene: SceneApply) -> SceneApplied:
        return await self.manager.apply_scene(scene)

    def scene_for(self, model: LibraryEntry) -> SceneApply:
        return scene_for_model(model, self.bridge.model_url(model.sha256))


def builtin_avatar() -> tuple[str, bytes]:
    """Tama, generated in code: the avatar a new library starts with, so the app shows someone from the first run."""
    return f"{NAME} (built-in).vrm", build_default_avatar("1.0")


def open_library(options: AppOptions) -> ModelLibrary:
    """The user's model library, repaired if an earlier run was cut short; a new one starts with Tama selected."""
    library = ModelLibrary(options.user_data, builtin_avatar=builtin_avatar)
    library.open()
    return library


def build_stage_service(options: AppOptions) -> tuple[StageService, ManagedStage | None]:
    library = open_library(options)
    try:
        launcher = build_launcher(options)
    except LauncherUnavailable as missing:
        return StageService(library, None, missing.message), None
    stage = ManagedStage(launcher, library, options)
    return StageService(library, stage), stage


async def run_gui(options: AppOptions, quit_requested: asyncio.Event) -> int:
    """Show the stage window until the user closes it (Qt is imported here, at the edge, and nowhere else)."""
    from app.ui.stage_window import StageWindow  # noqa: PLC0415 - keeps the command line free of Qt

    service, _stage = build_stage_service(options)
    window = StageWindow(service)
    window.show()
    try:
        # Inside the try: a quit while the stage starts or shows the first avatar still stops the stage.
        await service.start()
        await quit_requested.wait()
    finally:
        await service.stop()
    return 0
