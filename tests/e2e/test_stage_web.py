"""The web launcher and the real ``BridgeServer`` together: refusals end the stage, the heartbeat measures the clock,
engine errors arrive as ``stage.log``, and ``host.shutdown`` ends the engine with code 0."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from app.paths import stage_project_dir
from godot_bridge.server import BridgeConfig, BridgeServer, SceneApplyFailed, StageDisconnected, StageLogged
from godot_bridge.sidecar.launch import LaunchRequest
from godot_bridge.sidecar.web import WebLauncher
from tests.e2e.conftest import web_stage

pytestmark = pytest.mark.tier3
EXIT_HOST_LOST = 3


async def run_refused_stage(runtime: Path, *, allow_origin: bool, token: str | None) -> tuple[int, list[str]]:
    """Start a stage the server refuses; returns its exit code and output. The server must never see it connected."""
    launcher = WebLauncher(runtime)
    allowed = launcher.allows_origin if allow_origin else (lambda _origin: False)
    server = BridgeServer(BridgeConfig(), origin_allowed=allowed)
    await server.start()
    lines: list[str] = []
    request = LaunchRequest(server.url, token or server.token, stage_project_dir())
    process = await launcher.launch(request, lambda _stream, line: lines.append(line))
    try:
        code = await asyncio.wait_for(process.wait(), 30)
        assert not server.connected
        return code, lines
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await server.close()
        await launcher.aclose()


async def test_a_stage_from_an_origin_the_host_does_not_allow_quits(web_runtime: Path) -> None:
    code, lines = await run_refused_stage(web_runtime, allow_origin=False, token=None)
    assert code == EXIT_HOST_LOST
    assert any("the bridge is gone" in line for line in lines), lines


async def test_a_stage_with_a_wrong_token_is_told_why_and_quits(web_runtime: Path) -> None:
    code, lines = await run_refused_stage(web_runtime, allow_origin=True, token="wrong-token")
    assert code == EXIT_HOST_LOST
    output = "\n".join(lines)
    assert "bad-token" in output and "4003" in output, output


async def test_heartbeat_clock_logs_and_shutdown(
    web_runtime: Path, vrm_fixture: Callable[[str], Path], tmp_path: Path
) -> None:
    config = BridgeConfig(heartbeat_interval_s=0.25, heartbeat_timeout_s=3.0)
    events: list[object] = []
    async with web_stage(web_runtime, config) as stage:
        stage.server.subscribe(events.append)
        await stage.server.wait_connected(30)
        await asyncio.sleep(2.0)  # both sides ping a quiet link every 250 ms
        best = stage.server.clock.best
        assert best is not None and 0 <= best.rtt_ms < 250, best

        # A truncated model makes the engine itself report errors (GLTFDocument); they arrive as stage.log.
        broken = tmp_path / "broken.vrm"
        broken.write_bytes(vrm_fixture("Godette_vrm_v4.vrm").read_bytes()[:20000])
        with pytest.raises(SceneApplyFailed) as failed:
            await stage.server.apply_scene(stage.scene_for(broken))
        assert failed.value.code == "import-failed"
        await asyncio.sleep(0.5)
        logs = [event for event in events if isinstance(event, StageLogged)]
        assert any(log.level == "error" and log.source for log in logs), logs
        assert any(log.level == "info" and log.message.startswith("connected to the host") for log in logs), logs

        await stage.server.shutdown_stage("test")
        assert await asyncio.wait_for(stage.process.wait(), 10) == 0
    disconnects = [event for event in events if isinstance(event, StageDisconnected)]
    assert len(disconnects) == 1 and disconnects[0].code == 1000, disconnects
