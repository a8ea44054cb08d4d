"""No orphan Godot: the stage quits by itself when its host dies or goes silent (real engine, real host process)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from app.paths import stage_project_dir
from godot_bridge.sidecar.launch import LaunchRequest
from godot_bridge.sidecar.web import WebLauncher, WebStageProcess

pytestmark = pytest.mark.tier3
ROOT = Path(__file__).resolve().parents[2]
EXIT_HOST_LOST = 3


@asynccontextmanager
async def stage_with_host_process(
    runtime: Path,
) -> AsyncIterator[tuple[asyncio.subprocess.Process, WebStageProcess, list[str]]]:
    host = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.e2e.host_process", "2.0", cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    assert host.stdout is not None
    url, token = (await asyncio.wait_for(host.stdout.readline(), 20)).decode().split()
    launcher = WebLauncher(runtime)
    lines: list[str] = []
    stage = await launcher.launch(LaunchRequest(url, token, stage_project_dir()), lambda _s, line: lines.append(line))
    try:
        yield host, stage, lines
    finally:
        if host.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # already dead, not yet noticed by asyncio
                os.kill(host.pid, signal.SIGKILL)
            await host.wait()
        if stage.returncode is None:
            stage.kill()
            await stage.wait()


async def wait_until_connected(host: asyncio.subprocess.Process) -> None:
    assert host.stdout is not None
    assert (await asyncio.wait_for(host.stdout.readline(), 30)).strip() == b"connected"


async def test_the_stage_quits_when_its_host_is_killed(web_runtime: Path) -> None:
    async with stage_with_host_process(web_runtime) as (host, stage, lines):
        await wait_until_connected(host)
        os.kill(host.pid, signal.SIGKILL)
        await host.wait()
        assert await asyncio.wait_for(stage.wait(), 10) == EXIT_HOST_LOST
        assert any("the bridge is gone" in line and "closed" in line for line in lines), lines


async def test_the_stage_quits_when_its_host_goes_silent(web_runtime: Path) -> None:
    async with stage_with_host_process(web_runtime) as (host, stage, lines):
        await wait_until_connected(host)
        os.kill(host.pid, signal.SIGSTOP)  # the socket stays open; only the heartbeat can tell
        started = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(stage.wait(), 15) == EXIT_HOST_LOST
        assert asyncio.get_running_loop().time() - started >= 1.5  # not before the 2 s heartbeat timeout
        assert any("silent" in line for line in lines), lines
        os.kill(host.pid, signal.SIGKILL)
        await host.wait()
