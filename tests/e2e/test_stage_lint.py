"""Every GDScript file of the stage passes gdlint and ``gdformat --check`` (gdtoolkit 4, the official style guide).

gdtoolkit only parses; ``test_gdscript_compiles`` checks the same files with the real compiler.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.paths import stage_project_dir


def tool(name: str) -> str:
    found = Path(sys.executable).with_name(name)
    path = str(found) if found.is_file() else shutil.which(name)
    if path is None:
        message = f"{name} (gdtoolkit 4) is not installed: pip install 'gdtoolkit>=4,<5'"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def gd_files() -> list[Path]:
    files = sorted(stage_project_dir().rglob("*.gd"))
    return [path for path in files if ".godot" not in path.relative_to(stage_project_dir()).parts]


def run(name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool(name), *map(str, args)], capture_output=True, text=True, timeout=120, check=False)


def test_there_are_scripts_to_check() -> None:
    names = {path.name for path in gd_files()}
    assert {"stage.gd", "bridge_client.gd", "envelope.gd", "avatar_loader.gd", "vrm_expressions.gd"} <= names


def test_gdlint_finds_nothing() -> None:
    result = run("gdlint", *gd_files())
    assert result.returncode == 0, result.stdout + result.stderr


def test_gdformat_would_change_nothing() -> None:
    result = run("gdformat", "--check", *gd_files())
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_tools_do_catch_problems(tmp_path: Path) -> None:
    """A negative control: the same commands fail on a script that breaks the style guide."""
    bad = tmp_path / "bad.gd"
    bad.write_text("extends Node\nvar BadName = 1\nfunc _ready():\n    print( BadName )\n")
    assert run("gdlint", bad).returncode != 0
    assert run("gdformat", "--check", bad).returncode != 0
