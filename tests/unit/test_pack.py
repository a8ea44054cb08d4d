"""The stage project as a main pack: what goes in, what stays out, and the same bytes every time."""

from __future__ import annotations

import io
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from app.paths import stage_project_dir
from godot_bridge.sidecar.pack import pack_project

CLASS_CACHE = ".godot/global_script_class_cache.cfg"


def names_in(pack: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(pack)) as archive:
        assert archive.testzip() is None
        return archive.namelist()


def read(pack: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(pack)) as archive:
        return archive.read(name)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the real stage project with the clutter an editor and a developer leave behind."""
    copy = tmp_path / "stage-godot"
    shutil.copytree(stage_project_dir(), copy, ignore=shutil.ignore_patterns(".godot"))
    (copy / ".godot" / "imported").mkdir(parents=True)
    (copy / ".godot" / "imported" / "x.ctex").write_bytes(b"cache")
    (copy / ".godot" / "editor").mkdir()
    (copy / ".godot" / "editor" / "state.cfg").write_text("[state]\n")
    (copy / "scripts" / "stage" / "stage.gd.uid").write_text("uid://abc\n")
    (copy / "scripts" / "notes.txt").write_text("scratch")
    (copy / "docs" / "draft.tres").write_text("[gd_resource]\n")
    return copy


def test_the_pack_holds_the_project_and_nothing_else(project: Path) -> None:
    names = names_in(pack_project(project))
    scripts = sorted(path.relative_to(project).as_posix() for path in (project / "scripts").rglob("*.gd"))
    assert names == sorted([CLASS_CACHE, "project.godot", "scenes/stage.tscn", *scripts])
    assert len(scripts) >= 7
    assert not any(name.startswith(("docs/", "tests/", ".godot/imported", ".godot/editor")) for name in names)


def test_the_pack_is_deterministic(project: Path) -> None:
    first = pack_project(project)
    for path in project.rglob("*"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
    assert pack_project(project) == first
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2020, 1, 1, 0, 0, 0)}


def test_files_are_stored_unchanged(project: Path) -> None:
    pack = pack_project(project)
    for name in names_in(pack):
        if name != CLASS_CACHE:
            assert read(pack, name) == (project / name).read_bytes(), name


def test_extra_files_are_added_or_replace_project_files(project: Path) -> None:
    pack = pack_project(project, {"tests/check.gd": b"extends Node\n", "project.godot": b"; replaced\n"})
    assert "tests/check.gd" in names_in(pack)
    assert read(pack, "project.godot") == b"; replaced\n"


def test_a_folder_without_project_godot_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a Godot project"):
        pack_project(tmp_path)


def test_the_real_pack_is_self_contained() -> None:
    """Every res:// path a packed scene or script refers to is in the pack, and no script needs the class cache."""
    pack = pack_project(stage_project_dir())
    names = set(names_in(pack))
    settings = read(pack, "project.godot").decode()
    main_scene = re.search(r'run/main_scene="res://([^"]+)"', settings)
    assert main_scene is not None and main_scene[1] in names
    for name in names:
        if name.endswith((".gd", ".tscn")):
            text = read(pack, name).decode()
            for referenced in re.findall(r'res://([^"\s)]+)', text):
                assert referenced in names, f"{name} refers to res://{referenced}, which is not packed"
            # The packed class cache is empty: a class_name would not resolve in an exported runtime.
            assert re.search(r"^class_name\s", text, re.MULTILINE) is None, name
    assert read(pack, CLASS_CACHE) == b"list=[]\n"


def test_the_project_settings_are_the_stage_window() -> None:
    settings = (stage_project_dir() / "project.godot").read_text()
    for line in (
        'renderer/rendering_method="gl_compatibility"',
        'renderer/rendering_method.mobile="gl_compatibility"',
        "viewport/transparent_background=true",
        "window/size/transparent=true",
        "window/size/borderless=true",
        "window/size/always_on_top=true",
        "window/per_pixel_transparency/allowed=true",
        "window/size/viewport_width=450",
        "window/size/viewport_height=600",
    ):
        assert line in settings.splitlines(), line
