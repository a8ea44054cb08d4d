"""One companion per data folder: a second start asks the running app to show itself and exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.ui.single_instance import SingleInstance, instance_name
from tests.waiting import until

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.qt
async def test_a_second_claim_asks_the_first_to_show(qtbot: QtBot, tmp_path: Path) -> None:
    first, second = SingleInstance(tmp_path / "data"), SingleInstance(tmp_path / "data")
    shown: list[bool] = []
    first.show_requested.connect(lambda: shown.append(True))
    try:
        assert first.claim()
        assert not second.claim()
        await until(lambda: shown == [True], 3, "the first instance to be asked to show")
        # Another data folder is another companion.
        other = SingleInstance(tmp_path / "other")
        assert other.claim()
        other.release()
    finally:
        first.release()
    # Once the first has gone, the next start runs (even over the socket file a crash would leave).
    again = SingleInstance(tmp_path / "data")
    assert again.claim()
    again.release()
    assert instance_name(tmp_path / "data") != instance_name(tmp_path / "other")


def test_starting_the_app_twice_shows_the_running_one(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"GODOT4", "GODOT"}},
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "QT_QPA_PLATFORM": "offscreen",
    }
    command = [sys.executable, "-m", "app", "-v", "--runtime", "native", "--user-data", str(tmp_path / "data")]
    log = tmp_path / "first.log"
    with log.open("w") as sink:
        first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while "window shown" not in log.read_text() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "window shown" in log.read_text(), log.read_text()
        second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=False)
        assert second.returncode == 0, second.stderr
        assert "already running with this data folder" in second.stdout
        deadline = time.monotonic() + 10
        while "asked this one to show itself" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "asked this one to show itself" in log.read_text()
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(30)
