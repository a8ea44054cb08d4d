"""The embedded launcher with a page host that does what the window's web view does: load the page from the real
page server, post the engine's lines and exit code back, or lose the page (no Qt, no engine: fast)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from godot_bridge.sidecar.embedded import PAGE_CLOSED, EmbeddedLauncher
from godot_bridge.sidecar.launch import LaunchError, LaunchRequest, StreamName
from godot_bridge.sidecar.web_runtime import FILES, WebRuntimeError

PROJECT = Path(__file__).resolve().parents[2] / "engines" / "stage-godot"


class RecordingHost:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.opened: list[str] = []
        self.closed = 0
        self.on_gone: Callable[[int], None] | None = None

    def open_page(self, url: str, on_gone: Callable[[int], None]) -> None:
        if self.fail:
            raise RuntimeError("no web view")
        self.opened.append(url)
        self.on_gone = on_gone

    def close_page(self) -> None:
        self.closed += 1


def fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode(errors="replace")


def post(origin: str, path: str, body: object) -> None:
    request = urllib.request.Request(f"{origin}/{path}", data=json.dumps(body).encode(), headers={"Origin": origin})
    urllib.request.urlopen(request, timeout=5).read()


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    folder = tmp_path / "runtime"
    folder.mkdir()
    for name in FILES:
        (folder / name).write_bytes(b"fake " + name.encode())
    return folder


REQUEST = LaunchRequest("ws://127.0.0.1:1/stage", "secret-token", PROJECT)


async def test_the_page_runs_the_stage_with_the_bridge_arguments_and_reports_lines_and_exit(runtime: Path) -> None:
    host = RecordingHost()
    launcher = EmbeddedLauncher(runtime, host)
    lines: list[tuple[StreamName, str]] = []
    process = await launcher.launch(REQUEST, lambda stream, line: lines.append((stream, line)))
    assert process.pid is None and process.returncode is None
    [url] = host.opened
    origin = url.rsplit("/", 1)[0]
    assert url.startswith("http://127.0.0.1:") and launcher.allows_origin(origin)
    assert not launcher.allows_origin("http://127.0.0.1:1") and not launcher.allows_origin("null")
    status, page = await asyncio.to_thread(fetch, url)
    assert status == 200 and "--bridge-token=secret-token" in page and "ws://127.0.0.1:1/stage" in page
    await asyncio.to_thread(post, origin, "log", [{"stream": "stderr", "line": "one\ntwo"}])
    await asyncio.to_thread(post, origin, "exit", {"code": 3})
    assert await asyncio.wait_for(process.wait(), 5) == 3
    assert lines == [("stderr", "one"), ("stderr", "two")]
    assert host.closed >= 1 and not launcher.allows_origin(origin)  # the page is unloaded, its origin refused
    with pytest.raises(OSError):
        await asyncio.to_thread(fetch, url)  # the page server is gone


async def test_a_crashed_page_ends_the_stage_with_its_code(runtime: Path) -> None:
    host = RecordingHost()
    process = await EmbeddedLauncher(runtime, host).launch(REQUEST, lambda *_: None)
    assert host.on_gone is not None
    host.on_gone(139)
    assert await asyncio.wait_for(process.wait(), 5) == 139


async def test_terminate_closes_the_page_and_the_process_ends(runtime: Path) -> None:
    host = RecordingHost()
    process = await EmbeddedLauncher(runtime, host).launch(REQUEST, lambda *_: None)
    process.terminate()
    assert await asyncio.wait_for(process.wait(), 5) == PAGE_CLOSED
    assert process.returncode == PAGE_CLOSED and host.closed >= 1


async def test_a_missing_runtime_or_a_host_that_cannot_show_pages_is_a_launch_error(runtime: Path) -> None:
    with pytest.raises(LaunchError, match="lacks"):
        await EmbeddedLauncher(runtime / "nowhere", RecordingHost()).launch(REQUEST, lambda *_: None)
    launcher = EmbeddedLauncher(runtime, RecordingHost(fail=True))
    with pytest.raises(LaunchError, match="could not show the stage: no web view"):
        await launcher.launch(REQUEST, lambda *_: None)
    assert launcher._origins == set()


async def test_the_runtime_is_prepared_when_the_stage_launches_and_its_failure_is_a_launch_error(
    runtime: Path,
) -> None:
    prepared: list[bool] = []

    def prepare() -> Path:
        prepared.append(True)
        return runtime

    host = RecordingHost()
    launcher = EmbeddedLauncher(prepare, host)
    assert prepared == []  # nothing fetched or checked before the stage starts
    process = await launcher.launch(REQUEST, lambda *_: None)
    assert prepared == [True] and len(host.opened) == 1
    process.terminate()
    await asyncio.wait_for(process.wait(), 5)

    def unavailable() -> Path:
        raise WebRuntimeError("npm is needed to fetch the Godot web runtime")

    with pytest.raises(LaunchError, match="the Godot web runtime is unavailable: npm is needed"):
        await EmbeddedLauncher(unavailable, RecordingHost()).launch(REQUEST, lambda *_: None)
