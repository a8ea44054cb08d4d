"""``python -m app`` as a user runs it: real processes, a stand-in Godot where a native one cannot exist here."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.vrm_factory import build_vrm

ROOT = Path(__file__).resolve().parents[2]
STAND_IN = ROOT / "tests" / "support" / "stand_in_godot.py"


def fake_godot(folder: Path, version: str = "4.6.stable.official.89cea1439") -> Path:
    """An executable file that behaves like Godot (the stand-in), as discovery and the native launcher expect."""
    wrapper = folder / "godot4"
    wrapper.write_text(f'#!/bin/sh\nexport STAND_IN_VERSION="{version}"\nexec "{sys.executable}" "{STAND_IN}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def run_app(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"GODOT4", "GODOT"}}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean, "PATH": "/usr/bin:/bin", **(env or {})},
        check=False,
    )


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "Ada.vrm"
    path.write_bytes(build_vrm("1.0"))
    return path


def test_stage_check_with_a_native_godot_succeeds_and_stores_the_model(tmp_path: Path, model: Path) -> None:
    godot = fake_godot(tmp_path)
    done = run_app(
        "stage-check", "--model", str(model), "--godot", str(godot), "--user-data", str(tmp_path / "ud"), "--json"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] and result["runtime"] == "native" and result["engine"].startswith("godot 4.6.stable.stand-in")
    assert result["modelId"].startswith("sha256:") and result["vrmVersion"] == "1.0"
    stored = tmp_path / "ud" / "models" / f"{result['modelId'].removeprefix('sha256:')}.vrm"
    assert stored.read_bytes() == model.read_bytes()


def test_user_data_comes_from_the_environment_too(tmp_path: Path, model: Path) -> None:
    godot = fake_godot(tmp_path)
    done = run_app(
        "stage-check",
        "--model",
        str(model),
        "--godot",
        str(godot),
        "--json",
        env={"STAGE_TAMAGOTCHI_USER_DATA": str(tmp_path / "from-env")},
    )
    assert done.returncode == 0, done.stderr
    stored = tmp_path / "from-env" / "models" / f"{hashlib.sha256(model.read_bytes()).hexdigest()}.vrm"
    assert stored.is_file()  # beside the built-in avatar a new library starts with


@pytest.mark.parametrize(("content", "code"), [("not a model", "not_glb"), (None, "unreadable")])
def test_stage_check_refuses_bad_models_with_one_line(tmp_path: Path, content: str | None, code: str) -> None:
    target = tmp_path / "bad.vrm"
    if content is not None:
        target.write_text(content)
    done = run_app("stage-check", "--model", str(target), "--user-data", str(tmp_path), "--json")
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result == {"ok": False, "code": code, "message": result["message"]} and result["message"]
    human = run_app("stage-check", "--model", str(target), "--user-data", str(tmp_path))
    assert human.returncode == 1 and human.stdout.startswith("stage-check failed: ") and human.stdout.count("\n") == 1


def test_without_godot_stage_check_says_how_to_get_it(tmp_path: Path, model: Path) -> None:
    done = run_app(
        "stage-check", "--model", str(model), "--user-data", str(tmp_path), "--json", env={"HOME": str(tmp_path)}
    )
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["code"] == "godot-not-found" and "Install Godot 4.3 or newer" in result["message"]


def test_godot_info_reports_the_found_godot_and_refuses_godot_3(tmp_path: Path) -> None:
    good = fake_godot(tmp_path)
    done = run_app("godot-info", "--json", env={"GODOT4": str(good), "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert (
        info["path"] == str(good) and info["version"] == "4.6.stable.official.89cea1439" and info["source"] == "$GODOT4"
    )
    old_dir = tmp_path / "old"
    old_dir.mkdir()
    old = fake_godot(old_dir, "3.5.3.stable.official.6c814135b")
    refused = run_app("godot-info", "--godot", str(old))
    assert refused.returncode == 1 and "Godot 3" in refused.stdout and "too old" in refused.stdout


def test_the_app_runs_its_window_and_stops_the_stage_on_sigterm(tmp_path: Path) -> None:
    godot = fake_godot(tmp_path)
    record = tmp_path / "record.jsonl"
    log = tmp_path / "app.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "-v", "--godot", str(godot), "--user-data", str(tmp_path / "ud")],
            cwd=ROOT,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "STAND_IN_RECORD": str(record)},
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    deadline = time.monotonic() + 30
    while "stage: ready" not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 130, log.read_text()
    err = log.read_text()
    assert "stage: ready" in err and "stage running" in err and "stage stopped" in err
    assert json.loads(record.read_text().splitlines()[0])["event"] == "launch"


def test_the_app_keeps_running_without_godot_and_says_why(tmp_path: Path) -> None:
    # --runtime native: the default (auto) would run the stage embedded in the window instead.
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "-v", "--runtime", "native", "--user-data", str(tmp_path)],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k not in {"GODOT4", "GODOT"}},
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "QT_QPA_PLATFORM": "offscreen",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3.0)
    assert process.poll() is None, "the app exited instead of showing why Godot is missing"
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "stage: not-found Godot 4 not found" in err


def test_the_app_explains_a_missing_display_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}}
    done = subprocess.run(
        [sys.executable, "-m", "app", "--user-data", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().startswith("stage-tamagotchi: no display:") and done.stderr.count("\n") == 1
