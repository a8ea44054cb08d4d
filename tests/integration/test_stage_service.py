"""StageService ordering and failure reporting, with a stage runtime that records what it is asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.models.library import LibraryEntry, ModelLibrary
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

    def scene_for(self, model: LibraryEntry) -> SceneApply:
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


def vrm_file(tmp_path: Path, name: str = "Ada.vrm", title: str = "Ada") -> Path:
    path = tmp_path / name
    path.write_bytes(build_vrm("1.0", title=title))
    return path


def library_at(folder: Path) -> ModelLibrary:
    library = ModelLibrary(folder)
    library.open()
    return library


async def test_a_vrm_is_stored_then_applied_and_reported(tmp_path: Path) -> None:
    runtime = RecordingRuntime()
    library = library_at(tmp_path / "profile")
    service = StageService(library, runtime)
    seen: list[StageStatus] = []
    service.subscribe(seen.append)
    await service.start()
    applied = await service.apply_file(vrm_file(tmp_path))
    assert applied is not None and applied.expressions == ["aa", "ee"]
    [scene] = runtime.scenes
    # The stage gets the user-data copy, never the file the user picked.
    assert scene.path is not None and Path(scene.path).parent == library.files.root
    assert Path(scene.path).read_bytes() == build_vrm("1.0", title="Ada") and scene.name == "Ada.vrm"
    assert [s.phase for s in seen] == ["starting", "ready", "applying", "applied"]
    assert "Showing Ada: VRM 1.0, 2 expressions" in seen[-1].message
    assert library.selected is not None and library.selected.name == "Ada"


async def test_the_selected_model_is_shown_when_the_stage_starts(tmp_path: Path) -> None:
    library = library_at(tmp_path)
    entry = library.import_file(vrm_file(tmp_path)).entry
    library.select(entry.sha256)
    runtime = RecordingRuntime()
    service = StageService(library, runtime)
    await service.start()
    assert [scene.sha256 for scene in runtime.scenes] == [entry.sha256]
    assert service.status.phase == "applied"


async def test_a_non_vrm_is_refused_before_it_is_stored(tmp_path: Path) -> None:
    runtime = RecordingRuntime()
    library = library_at(tmp_path / "profile")
    service = StageService(library, runtime)
    bogus = tmp_path / "model.pmx"
    bogus.write_bytes(b"PMX \x00\x00\x00\x40")
    with pytest.raises(ApplyError) as refused:
        await service.apply_file(bogus)
    assert refused.value.code == "wrong_format"
    assert service.status.phase == "failed" and "model.pmx was refused: This is an MMD model" in service.status.message
    assert runtime.scenes == [] and library.entries() == []


async def test_a_stage_failure_keeps_the_previous_selection_and_the_file(tmp_path: Path) -> None:
    class Failed(Exception):
        code = "import-failed"
        message = "GLTFDocument could not parse it"

    library = library_at(tmp_path / "profile")
    earlier = library.import_file(vrm_file(tmp_path, "Bea.vrm", "Bea")).entry
    library.select(earlier.sha256)
    service = StageService(library, RecordingRuntime(fail_with=Failed()))
    with pytest.raises(ApplyError) as failed:
        await service.apply_file(vrm_file(tmp_path))
    assert failed.value.code == "import-failed"
    assert service.status.phase == "failed" and "GLTFDocument could not parse it" in service.status.message
    assert len(library.entries()) == 2 and library.selected is not None
    assert library.selected.sha256 == earlier.sha256


async def test_without_godot_the_model_is_selected_and_the_reason_shown(tmp_path: Path) -> None:
    library = library_at(tmp_path / "profile")
    service = StageService(library, None, "Godot 4 not found: install it or set its path.")
    assert service.status.phase == "not-found"
    await service.start()
    assert await service.apply_file(vrm_file(tmp_path)) is None
    assert service.status.phase == "not-found" and "Godot 4 not found" in service.status.message
    assert library.selected is not None and library.selected.name == "Ada"
