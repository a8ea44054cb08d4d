"""StageService ordering and failure reporting, with a stage runtime that records what it is asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.models.store import ModelStore, StoredModel
from app.stage_service import ApplyError, StageService, StageStatus, scene_for_model
from godot_bridge.protocol.messages import SceneApplied, SceneApply
from tests.vrm_factory import build_vrm


class RecordingRuntime:
    """Stands in for the sidecar manager: the service's own logic is what is under test here."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.scenes: list[SceneApply] = []
        self.fail_with = fail_with
        self.started = self.stopped = 0

    async def start(self) -> None:
        self.started += 1

    async def stop(self) -> None:
        self.stopped += 1

    def scene_for(self, model: StoredModel) -> SceneApply:
        return scene_for_model(model, url=None)

    async def apply_scene(self, scene: SceneApply) -> SceneApplied:
        self.scenes.append(scene)
        if self.fail_with:
            raise self.fail_with
        return SceneApplied(
            model_id=scene.model_id,
            vrm_version="1.0",
            expressions=["aa", "ee"],
            unbound_expressions=[],
            mouth_ready=False,
            mesh_count=1,
            blend_shape_count=2,
            load_ms=12.0,
        )


def vrm_file(tmp_path: Path, name: str = "Ada.vrm") -> Path:
    path = tmp_path / name
    path.write_bytes(build_vrm("1.0"))
    return path


async def test_a_vrm_is_stored_then_applied_and_reported(tmp_path: Path) -> None:
    runtime = RecordingRuntime()
    store = ModelStore(tmp_path / "profile")
    service = StageService(store, runtime)
    seen: list[StageStatus] = []
    service.subscribe(seen.append)
    await service.start()
    applied = await service.apply_file(vrm_file(tmp_path))
    assert applied.expressions == ["aa", "ee"]
    [scene] = runtime.scenes
    assert scene.path is not None and Path(scene.path).parent == store.root
    assert Path(scene.path).read_bytes() == build_vrm("1.0")
    assert [s.phase for s in seen] == ["stopped", "starting", "ready", "applying", "applied"]
    assert "VRM 1.0, 2 expressions" in seen[-1].message


async def test_a_non_vrm_is_refused_before_it_is_stored(tmp_path: Path) -> None:
    runtime = RecordingRuntime()
    store = ModelStore(tmp_path / "profile")
    service = StageService(store, runtime)
    bogus = tmp_path / "model.pmx"
    bogus.write_bytes(b"Pmx \x00\x00\x00\x40")
    with pytest.raises(ApplyError) as refused:
        await service.apply_file(bogus)
    assert refused.value.code == "not_glb"
    assert service.status.phase == "failed" and "model.pmx was refused" in service.status.message
    assert runtime.scenes == [] and not store.root.exists()


async def test_a_stage_failure_is_reported_and_the_file_stays_saved(tmp_path: Path) -> None:
    class Failed(Exception):
        code = "import-failed"
        message = "GLTFDocument could not parse it"

    service = StageService(ModelStore(tmp_path / "profile"), RecordingRuntime(fail_with=Failed()))
    with pytest.raises(ApplyError) as failed:
        await service.apply_file(vrm_file(tmp_path))
    assert failed.value.code == "import-failed"
    assert service.status.phase == "failed" and "GLTFDocument could not parse it" in service.status.message
    assert len(list((tmp_path / "profile" / "models").glob("*.vrm"))) == 1


async def test_without_godot_the_model_is_kept_and_the_reason_shown(tmp_path: Path) -> None:
    service = StageService(ModelStore(tmp_path / "profile"), None, "Godot 4 not found: install it or set its path.")
    assert service.status.phase == "not-found"
    await service.start()
    with pytest.raises(ApplyError) as failed:
        await service.apply_file(vrm_file(tmp_path))
    assert failed.value.code == "no-stage" and "Godot 4 not found" in failed.value.message
    assert len(list((tmp_path / "profile" / "models").glob("*.vrm"))) == 1
