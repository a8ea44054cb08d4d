"""End-to-end plumbing: the real Godot 4.6 engine (the official web build in headless Chromium).

When Chromium or the pinned runtime is missing the tests skip with the reason; under ``CI=true`` the root conftest
turns those skips into failures, because CI must run the real engine.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.paths import stage_project_dir
from godot_bridge.protocol.messages import SceneApply
from godot_bridge.server import BridgeConfig, BridgeServer
from godot_bridge.sidecar.launch import LaunchRequest, StreamName
from godot_bridge.sidecar.web import WebLauncher, WebStageProcess, find_chromium
from godot_bridge.sidecar.web_runtime import WebRuntimeError, default_runtime_dir, ensure_web_runtime

pytestmark = pytest.mark.tier3


@pytest.fixture(scope="session")
def web_runtime() -> Path:
    if find_chromium() is None:
        pytest.skip("Chromium is not installed (make test installs it when run as root)")
    try:
        return ensure_web_runtime(default_runtime_dir())
    except WebRuntimeError as error:
        pytest.skip(f"the Godot web runtime is not available: {error}")


@dataclass
class RunningStage:
    server: BridgeServer
    process: WebStageProcess
    lines: list[tuple[StreamName, str]]
    models: dict[str, Path] = field(default_factory=dict)

    def scene_for(self, path: Path, name: str | None = None) -> SceneApply:
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        self.models[sha] = path
        return SceneApply(
            model_id=f"sha256:{sha}",
            format="vrm",
            name=name or path.name,
            path=str(path),
            url=self.server.model_url(sha),
            size=len(data),
            sha256=sha,
        )

    def output(self) -> str:
        return "\n".join(line for _stream, line in self.lines)


@asynccontextmanager
async def web_stage(
    runtime: Path, config: BridgeConfig | None = None, launcher: WebLauncher | None = None
) -> AsyncIterator[RunningStage]:
    """A bridge server and a real web stage connected to it; everything is stopped and reaped on exit."""
    models: dict[str, Path] = {}
    launcher = launcher or WebLauncher(runtime)
    server = BridgeServer(config, resolve_model=models.get, origin_allowed=launcher.allows_origin)
    await server.start()
    lines: list[tuple[StreamName, str]] = []
    process = await launcher.launch(
        LaunchRequest(server.url, server.token, stage_project_dir()), lambda stream, line: lines.append((stream, line))
    )
    stage = RunningStage(server, process, lines, models)
    try:
        yield stage
    finally:
        await server.shutdown_stage("test finished")
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()
        await server.close()
        await launcher.aclose()


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, bytes], Path]:
    def write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return write
