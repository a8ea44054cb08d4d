"""``make package`` for real: PyInstaller builds the one-folder bundle (about 50 s and 670 MB on a 2-core machine),
then the bundle answers ``--version``, shows Tama in the real engine with ``stage-check --runtime web --json``, and
its ``web-stage-host`` (how the app starts the embedded stage's host from a bundle) shows a page on Xvfb."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.models.default_avatar import build_default_avatar
from tests.e2e.test_web_stage_host import ended, page_server, x_env

pytestmark = [pytest.mark.tier3, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
APP_ID = "io.github.stage_tamagotchi.StageTamagotchi"


def test_the_bundle_runs_its_version_and_a_stage_check_in_the_web_runtime(web_runtime: Path, tmp_path: Path) -> None:
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.skip("PyInstaller is not installed (make setup-test installs it)")
    dist, work = tmp_path / "dist", tmp_path / "work"
    try:
        subprocess.run(
            [sys.executable, str(ROOT / "packaging" / "build.py"), f"--dist={dist}", f"--work={work}"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=550,
        )
        bundle = dist / "stage-tamagotchi"
        executable = bundle / "stage-tamagotchi"
        version = subprocess.run(
            [str(executable), "--version"], check=False, capture_output=True, text=True, timeout=60
        )
        assert version.returncode == 0 and version.stdout.strip().startswith("stage-tamagotchi 0."), version
        for entry in (
            f"share/applications/{APP_ID}.desktop",
            f"share/metainfo/{APP_ID}.metainfo.xml",
            f"share/icons/hicolor/256x256/apps/{APP_ID}.png",
        ):
            assert (bundle / entry).is_file(), entry
        assert any(bundle.rglob("espeak-ng-data")), "espeak's voice data is in the bundle"
        model = tmp_path / "tama.vrm"
        model.write_bytes(build_default_avatar("1.0"))
        profile = str(tmp_path / "profile")
        check = subprocess.run(
            [
                str(executable),
                "stage-check",
                "--runtime",
                "web",
                "--json",
                "--user-data",
                profile,
                "--model",
                str(model),
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        result = json.loads(check.stdout)
        assert check.returncode == 0 and result["ok"] is True, (check.stdout, check.stderr[-2000:])
        assert result["vrmVersion"] == "1.0" and "aa" in result["expressions"]
        # The embedded stage's host is the same executable: it shows a page with the bundle's own QtWebEngine.
        with x_env() as env, page_server() as url:
            shown = subprocess.Popen(
                [str(executable), "web-stage-host", url],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            assert shown.stdout is not None
            line = shown.stdout.readline()
            os.killpg(shown.pid, signal.SIGTERM)
            code, stderr = ended(shown)
        assert line.startswith("stage window ") and code == -signal.SIGTERM, (line, stderr[-2000:])
    finally:
        shutil.rmtree(dist, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
