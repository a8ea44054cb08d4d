"""Every stage script compiles in the real Godot 4.6 engine (gdlint only parses; the compiler checks types)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from app.paths import stage_project_dir
from godot_bridge.sidecar.launch import LaunchRequest
from godot_bridge.sidecar.web import WebLauncher

pytestmark = pytest.mark.tier3
CHECK_FILES = ("tests/compile_check.gd", "tests/compile_check.tscn")
BROKEN_SCRIPTS = {
    # Godot 3 syntax, a type error and an unknown identifier: all parse, none compile in Godot 4.
    "scripts/zz_godot3.gd": b"extends Node\nonready var label = $Label\n",
    "scripts/zz_types.gd": b'extends Node\nfunc _ready() -> void:\n\tvar count: int = "three"\n',
    "scripts/zz_unknown.gd": b"extends Node\nfunc _ready() -> void:\n\tprint(no_such_thing)\n",
}


async def run_compile_check(runtime: Path, extra: dict[str, bytes]) -> tuple[int, dict[str, Any]]:
    project = stage_project_dir()
    files = {name: (project / name).read_bytes() for name in CHECK_FILES}
    # The same project, except that its main scene is the check (export templates ignore --script).
    settings = (project / "project.godot").read_text(encoding="utf-8")
    main_scene = 'run/main_scene="res://scenes/stage.tscn"'
    assert main_scene in settings
    files["project.godot"] = settings.replace(main_scene, 'run/main_scene="res://tests/compile_check.tscn"').encode()
    launcher = WebLauncher(runtime, extra_pack_files={**files, **extra})
    lines: list[str] = []
    # The checker never connects; the bridge URL only satisfies the launcher.
    request = LaunchRequest("ws://127.0.0.1:9/stage", "unused", stage_project_dir())
    process = await launcher.launch(request, lambda _stream, line: lines.append(line))
    try:
        code = await asyncio.wait_for(process.wait(), 60)
    finally:
        process.kill()
        await process.wait()
    reports = [line.removeprefix("COMPILE_CHECK ") for line in lines if line.startswith("COMPILE_CHECK ")]
    assert len(reports) == 1, "\n".join(lines)
    return code, json.loads(reports[0])


async def test_every_stage_script_compiles(web_runtime: Path) -> None:
    code, report = await run_compile_check(web_runtime, {})
    expected = sorted(
        f"res://{path.relative_to(stage_project_dir()).as_posix()}"
        for path in (stage_project_dir() / "scripts").rglob("*.gd")
    )
    assert sorted(report["checked"]) == expected and len(expected) >= 7
    assert report["errors"] == [] and code == 0


async def test_the_check_catches_scripts_that_do_not_compile(web_runtime: Path) -> None:
    code, report = await run_compile_check(web_runtime, BROKEN_SCRIPTS)
    assert code == 1
    errors = "\n".join(report["errors"])
    for name in BROKEN_SCRIPTS:
        assert f"res://{name}" in errors, errors
