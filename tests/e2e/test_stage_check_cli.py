"""``python -m app stage-check --runtime web --json`` from the command line, in the real Godot 4.6 engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.vrm_factory import build_vrm, rebuilt

pytestmark = pytest.mark.tier3
ROOT = Path(__file__).resolve().parents[2]


def stage_check(model: Path, user_data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "stage-check",
            "--runtime",
            "web",
            "--model",
            str(model),
            "--user-data",
            str(user_data),
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_stage_check_in_the_web_runtime_reports_the_avatar(web_runtime: Path, tmp_path: Path) -> None:
    model = tmp_path / "Ada.vrm"
    model.write_bytes(build_vrm("0.x"))
    done = stage_check(model, tmp_path / "ud")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is True and result["runtime"] == "web"
    assert result["engine"] == "godot 4.6.stable.official.89cea1439 (Web)"
    assert result["vrmVersion"] == "0.x" and set(result["expressions"]) == {"aa", "ih", "ou", "ee", "oh", "blink"}
    assert result["mouthReady"] is True and result["loadMs"] > 0 and result["modelId"].startswith("sha256:")


def test_stage_check_reports_a_model_the_engine_cannot_import(web_runtime: Path, tmp_path: Path) -> None:
    # Every reference is in range, so the Python gate passes it, but an accessor has a component type glTF does not
    # define (5130, double): only the engine's importer tells.
    model = tmp_path / "broken.vrm"
    model.write_bytes(rebuilt("1.0", lambda document: document["accessors"][0].update(componentType=5130)))
    done = stage_check(model, tmp_path / "ud")
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result == {"ok": False, "code": "import-failed", "message": "GLTFDocument could not parse it: Parse error"}
