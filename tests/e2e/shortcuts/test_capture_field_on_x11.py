"""The capture field in a real Qt window on Xvfb: keys are named by their physical position (the X11 key code)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.e2e.shortcuts.conftest import xdotool

pytestmark = pytest.mark.tier3
ROOT = Path(__file__).resolve().parents[3]


async def test_the_field_records_physical_keys_pressed_on_a_real_keyboard(x_server: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"WAYLAND_DISPLAY"}}
    env.update({"DISPLAY": x_server, "QT_QPA_PLATFORM": "xcb"})
    window = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.capture_window", cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE
    )
    assert window.stdout is not None
    try:
        ready = (await asyncio.wait_for(window.stdout.readline(), 30)).decode().split()
        assert ready[0] == "ready" and ready[2] == "xcb", ready
        await xdotool(x_server, "windowfocus", "--sync", ready[1])
        lines = []
        for keys in ("ctrl+alt+k", "ctrl+shift+1", "super+F5", "shift+k", "ctrl+alt+KP_4", "alt+slash"):
            await xdotool(x_server, "key", keys)
            lines.append((await asyncio.wait_for(window.stdout.readline(), 10)).decode().strip())
        assert lines[:3] == ["captured Ctrl+Alt+KeyK", "captured Ctrl+Shift+Digit1", "captured Super+F5"]
        assert lines[3].startswith("refused Shift+K needs Ctrl, Alt")
        assert lines[4:] == ["captured Ctrl+Alt+Numpad4", "captured Alt+Slash"]
    finally:
        window.terminate()
        await window.wait()
