"""The stage in the real Godot 4.6 engine, driven through the real bridge: models, failures, snapshots, logs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytest

from godot_bridge.server import SceneApplyFailed, StageError, StageLogged
from tests.e2e.conftest import web_stage
from tests.vrm_factory import build_vrm
from tests.waiting import until

pytestmark = pytest.mark.tier3
MOUTH = {"aa", "ih", "ou", "ee", "oh"}


async def test_generated_vrms_apply_with_mouth_and_blink(
    web_runtime: Path, write_file: Callable[[str, bytes], Path]
) -> None:
    async with web_stage(web_runtime) as stage:
        info = await stage.server.wait_connected(30)
        assert info.hello.engine.version.startswith("4.6.stable")
        assert info.hello.engine.platform == "Web" and "scene.url" in info.hello.capabilities
        assert info.hello.buffers.inbound_bytes >= 1 << 20
        versions: tuple[Literal["0.x"], Literal["1.0"]] = ("0.x", "1.0")
        for version in versions:
            path = write_file(f"generated-{version}.vrm", build_vrm(version))
            applied = await stage.server.apply_scene(stage.scene_for(path))
            assert applied.vrm_version == version
            assert set(applied.expressions) == MOUTH | {"blink"} and applied.mouth_ready
            assert applied.mesh_count == 1 and applied.blend_shape_count == 6 and applied.load_ms > 0
            state = await stage.server.snapshot()
            assert state.model_id == applied.model_id and state.vrm_version == version
            assert {bind.expression for bind in state.mouth_binds} == MOUTH
            assert all(bind.mesh == "Face" and bind.value == 0.0 for bind in state.mouth_binds)
            assert {bind.blend_shape for bind in state.mouth_binds} == {f"Face.{name}" for name in MOUTH}
            assert state.avatar_node == "/root/Stage/AvatarRoot/Avatar"
            assert state.expressions["aa"] == 0.0 and state.fps >= 0 and state.uptime_ms > 0


async def test_shared_vrms_apply_and_report_their_expressions(
    web_runtime: Path, vrm_fixture: Callable[[str], Path]
) -> None:
    async with web_stage(web_runtime) as stage:
        await stage.server.wait_connected(30)
        godette = await stage.server.apply_scene(stage.scene_for(vrm_fixture("Godette_vrm_v4.vrm")))
        assert godette.vrm_version == "0.x" and godette.mouth_ready
        assert MOUTH | {"blink", "happy", "sad"} <= set(godette.expressions)
        assert godette.mesh_count == 2 and godette.blend_shape_count == 15

        robot = await stage.server.apply_scene(stage.scene_for(vrm_fixture("debug_robot.vrm")))
        assert robot.vrm_version == "1.0" and not robot.mouth_ready
        assert robot.expressions == [] and MOUTH | {"blink"} <= set(robot.unbound_expressions)

        binary = await stage.server.apply_scene(
            stage.scene_for(vrm_fixture("VRMC_vrm_expressions_isBinary_Overrides.vrm"))
        )
        assert binary.vrm_version == "1.0" and binary.expressions == []
        assert binary.unbound_expressions == ["blink", "happy"]  # texture-transform binds only

        state = await stage.server.snapshot()
        assert state.model_id == binary.model_id and state.mouth_binds == []


async def test_bad_models_fail_and_the_previous_avatar_stays(
    web_runtime: Path, write_file: Callable[[str, bytes], Path]
) -> None:
    events: list[StageLogged] = []
    async with web_stage(web_runtime) as stage:
        stage.server.subscribe(lambda event: events.append(event) if isinstance(event, StageLogged) else None)
        await stage.server.wait_connected(30)
        good = await stage.server.apply_scene(stage.scene_for(write_file("good.vrm", build_vrm("1.0"))))
        corrupt = build_vrm("0.x")
        cases = {
            "not-vrm": write_file("random.vrm", bytes(range(256)) * 8),
            "import-failed": write_file("truncated.vrm", corrupt[:20] + b"{" + corrupt[21:600]),
        }
        for code, path in cases.items():
            with pytest.raises(SceneApplyFailed) as failed:
                await stage.server.apply_scene(stage.scene_for(path))
            assert failed.value.code == code, failed.value.message
        lying = stage.scene_for(write_file("other.vrm", build_vrm("0.x", title="Other")))
        with pytest.raises(SceneApplyFailed) as mismatch:
            await stage.server.apply_scene(lying.model_copy(update={"sha256": "0" * 64}))
        assert mismatch.value.code == "hash-mismatch"
        state = await stage.server.snapshot()
        assert state.model_id == good.model_id and state.vrm_version == "1.0"
        await until(lambda: any("random.vrm failed" in event.message for event in events), 5, "stage.log")


async def test_the_stage_answers_malformed_requests_and_stays_up(web_runtime: Path) -> None:
    async with web_stage(web_runtime) as stage:
        await stage.server.wait_connected(30)
        with pytest.raises(StageError) as unknown:
            await stage.server.request("window.dance", {})
        assert unknown.value.code == "unknown-type"
        with pytest.raises(StageError) as invalid:
            await stage.server.request("scene.apply", {"modelId": 5})
        assert invalid.value.code == "invalid-payload"
        state = await stage.server.snapshot()
        assert state.model_id is None and state.window.size[0] > 0
