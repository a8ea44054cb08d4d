"""``python -m app shortcuts probe`` as a user runs it, on a private Xvfb with xdotool."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from Xlib import X

from tests.e2e.shortcuts.conftest import OtherClient, xdotool

ROOT = Path(__file__).resolve().parents[3]
CTRL_ALT = X.ControlMask | X.Mod1Mask


async def start_probe(display: str | None, *args: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if k not in {"DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"}}
    if display:
        env["DISPLAY"] = display
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "shortcuts",
        "probe",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def line_of(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    return (await asyncio.wait_for(process.stdout.readline(), 20)).decode().strip()


@pytest.mark.tier3
async def test_probe_prints_each_trigger_as_json_and_releases_the_grab(
    x_server: str, other_client: OtherClient
) -> None:
    process = await start_probe(x_server, "Ctrl+Alt+K", "--seconds", "3", "--key-ups", "--json")
    registered = json.loads(await line_of(process))
    assert registered == {
        "id": "probe",
        "ok": True,
        "accelerator": "Ctrl+Alt+KeyK",
        "reason": None,
        "message": "registered with x11",
        "backend": "x11",
    }
    assert not other_client.try_grab("k", CTRL_ALT)  # the probe holds it
    await xdotool(x_server, "key", "ctrl+alt+k")
    triggers = [json.loads(await line_of(process)) for _ in range(2)]
    assert [(t["id"], t["phase"]) for t in triggers] == [("probe", "down"), ("probe", "up")]
    assert 0 < triggers[0]["seconds"] <= triggers[1]["seconds"] < 3
    assert await asyncio.wait_for(process.wait(), 20) == 0
    assert other_client.try_grab("k", CTRL_ALT)  # released when the time was up


@pytest.mark.tier3
async def test_probe_stops_on_sigterm_and_releases(x_server: str, other_client: OtherClient) -> None:
    process = await start_probe(x_server, "Ctrl+Alt+K", "--seconds", "60")
    assert (await line_of(process)).startswith("registered Ctrl+Alt+K with x11")
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 20) == 0
    assert other_client.try_grab("k", CTRL_ALT)


@pytest.mark.tier3
async def test_probe_reports_a_conflict_with_another_application(x_server: str, other_client: OtherClient) -> None:
    assert other_client.try_grab("k", CTRL_ALT)
    process = await start_probe(x_server, "Ctrl+Alt+K", "--json")
    result = json.loads(await line_of(process))
    assert (result["ok"], result["reason"]) == (False, "conflict")
    assert await asyncio.wait_for(process.wait(), 20) == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("Ctrl+K+J",), "cannot register Ctrl+K+J: invalid: 'Ctrl+K+J' has two keys (KeyK and KeyJ)"),
        (("Ctrl+Alt+K",), "cannot register Ctrl+Alt+K: unsupported: no graphical session"),
    ],
)
async def test_probe_failures_are_one_line_without_a_traceback(args: tuple[str, ...], expected: str) -> None:
    process = await start_probe(None, *args)
    out, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 1
    assert out.decode().startswith(expected) and out.decode().count("\n") == 1
    assert b"Traceback" not in err


async def test_probe_refuses_a_non_positive_duration() -> None:
    process = await start_probe(None, "Ctrl+Alt+K", "--seconds", "0")
    _, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2 and b"--seconds must be more than 0" in err
