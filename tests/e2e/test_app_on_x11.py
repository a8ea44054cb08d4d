"""The app itself on a real X server (Xvfb, Qt's xcb platform), with the real engine behind it (web runtime)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.xvfb import running_xvfb

pytestmark = pytest.mark.tier3
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def x_display() -> Iterator[str]:
    if shutil.which("Xvfb") is None or shutil.which("xdotool") is None or shutil.which("xwininfo") is None:
        pytest.skip("Xvfb, xdotool and xwininfo are needed (make test installs xvfb xdotool x11-utils as root)")
    with running_xvfb(screen="1024x768x24") as display:
        yield display


@pytest.mark.parametrize("quit_after", ["Showing Tama", "stage: applying"])
def test_the_window_shows_on_x11_and_the_stage_runs_behind_it(
    x_display: str, web_runtime: Path, tmp_path: Path, quit_after: str
) -> None:
    """The window maps, the built-in avatar shows, and SIGTERM stops the stage, also while it applies a model."""
    env = {k: v for k, v in os.environ.items() if k not in {"QT_QPA_PLATFORM", "WAYLAND_DISPLAY"}}
    env["DISPLAY"] = x_display
    log = tmp_path / "app.log"
    with log.open("w") as sink:
        app = subprocess.Popen(
            [sys.executable, "-m", "app", "-v", "--runtime", "web", "--user-data", str(tmp_path)],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        # A new library shows the built-in avatar as soon as the stage is ready.
        while quit_after not in log.read_text() and app.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "stage: ready" in log.read_text() and quit_after in log.read_text(), log.read_text()
        if quit_after == "stage: applying":
            return  # quit at once, mid-apply (the finally below)
        found = subprocess.run(
            ["xdotool", "search", "--onlyvisible", "--name", "^Stage Tamagotchi$"],  # not Qt's 1x1 leader window
            env=env,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        window = found.stdout.split()[0]
        info = subprocess.run(
            ["xwininfo", "-id", window], env=env, capture_output=True, text=True, timeout=10, check=True
        ).stdout
        assert "Map State: IsViewable" in info  # a mapped X window: Qt runs on xcb, not offscreen
    finally:
        app.send_signal(signal.SIGTERM)
        code = app.wait(30)
        assert code == 130 and "stage stopped" in log.read_text(), log.read_text()
