"""A stage process dies with the app, even when the app is killed with SIGKILL (Linux: the parent-death signal)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")

# An "app" with threads running (as Qt's and the executor's are) that starts a long "stage" with the hook.
APP = """
import subprocess, sys, threading, time
from godot_bridge.sidecar.process_group import child_preexec
for _ in range(4):
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
stage = subprocess.Popen(["sleep", "60"], preexec_fn=child_preexec())
print(stage.pid, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_stage_is_killed_when_the_app_is_killed() -> None:
    app = subprocess.Popen([sys.executable, "-c", APP], stdout=subprocess.PIPE, text=True)
    assert app.stdout is not None
    stage = int(app.stdout.readline())
    try:
        assert _alive(stage)
        os.kill(app.pid, signal.SIGKILL)
        app.wait(10)
        deadline = time.monotonic() + 5
        while _alive(stage) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _alive(stage), "the stage outlived the app"
    finally:
        if _alive(stage):
            os.kill(stage, signal.SIGKILL)
