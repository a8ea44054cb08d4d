"""The web launcher's plumbing with a stand-in browser (fast, no Chromium, no engine).

The stand-in fetches what the real page fetches, reports lines and an exit code the way the page does, then stays
alive with a child of its own, as a browser would: the launcher must end the whole group and clean up after it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from godot_bridge.sidecar.launch import LaunchError, LaunchRequest, StreamName
from godot_bridge.sidecar.web import CHROMIUM_FLAGS, WebLauncher
from godot_bridge.sidecar.web_runtime import FILES

PROJECT = Path(__file__).resolve().parents[2] / "engines" / "stage-godot"
STAND_IN = """
import json, os, subprocess, sys, time, urllib.request
report = sys.argv[1]
args = sys.argv[2:]
url = args[-1]
origin = url.rsplit("/", 1)[0]
subprocess.Popen(["sleep", "300"])  # a renderer process of our own
fetched = {}
for name in ("index.html", "index.js", "index.wasm", "stage.zip", "index.audio.worklet.js", "missing.js"):
    try:
        with urllib.request.urlopen(f"{origin}/{name}") as response:
            fetched[name] = [response.status, response.headers["Content-Type"], len(response.read())]
    except urllib.error.HTTPError as error:
        fetched[name] = [error.code, None, 0]
page = urllib.request.urlopen(url).read().decode()
config = json.loads(page.split('type="application/json">', 1)[1].split("</script>", 1)[0])
profile = next(arg.split("=", 1)[1] for arg in args if arg.startswith("--user-data-dir="))
with open(report, "w") as stream:
    json.dump({"args": args, "fetched": fetched, "config": config, "profile": profile, "pid": os.getpid()}, stream)
def post(path, body):
    request = urllib.request.Request(f"{origin}/{path}", data=json.dumps(body).encode(), headers={"Origin": origin})
    urllib.request.urlopen(request).read()
post("log", [{"stream": "stdout", "line": "Godot Engine v4.6.stable"}, {"stream": "stderr", "line": "a\\nb"}])
if os.environ.get("STAND_IN_EXIT"):
    post("exit", {"code": int(os.environ["STAND_IN_EXIT"])})
time.sleep(300)
"""


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    folder = tmp_path / "runtime"
    folder.mkdir()
    for name in FILES:
        (folder / name).write_bytes(b"fake " + name.encode())
    return folder


@pytest.fixture
def stand_in(tmp_path: Path) -> tuple[str, Path]:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    report = tmp_path / "report.json"
    browser = tmp_path / "chromium"
    browser.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "{report}" "$@"\n')
    browser.chmod(0o755)
    return str(browser), report


async def wait_for_file(path: Path) -> dict[str, object]:
    for _ in range(200):
        if path.exists() and path.stat().st_size > 0:
            data: dict[str, object] = json.loads(path.read_text())
            return data
        await asyncio.sleep(0.05)
    raise TimeoutError(path)


def request() -> LaunchRequest:
    return LaunchRequest("ws://127.0.0.1:1234/stage", "secret-token", PROJECT, extra_user_args=("--extra",))


async def test_lines_and_the_engine_exit_code_come_back_and_everything_is_cleaned(
    runtime: Path, stand_in: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    browser, report_path = stand_in
    monkeypatch.setenv("STAND_IN_EXIT", "3")
    launcher = WebLauncher(runtime, chromium=browser)
    lines: list[tuple[StreamName, str]] = []
    process = await launcher.launch(request(), lambda stream, line: lines.append((stream, line)))
    report = await wait_for_file(report_path)
    assert await asyncio.wait_for(process.wait(), 10) == 3 and process.returncode == 3
    assert lines == [("stdout", "Godot Engine v4.6.stable"), ("stderr", "a"), ("stderr", "b")]

    args = report["args"]
    assert isinstance(args, list) and set(CHROMIUM_FLAGS) <= set(args)
    assert "--headless=new" in args and "--window-size=450,600" in args
    assert report["config"] == {
        "args": ["--", "--bridge-url=ws://127.0.0.1:1234/stage", "--bridge-token=secret-token", "--extra"],
        "canvasResizePolicy": 0,  # headless Chromium's canvas stays at the project's 450x600
    }
    fetched = report["fetched"]
    assert isinstance(fetched, dict)
    assert fetched["index.wasm"][:2] == [200, "application/wasm"]
    assert fetched["index.js"][:2] == [200, "text/javascript"]
    assert fetched["stage.zip"][:2] == [200, "application/zip"] and fetched["stage.zip"][2] > 1000
    assert fetched["index.html"][:2] == [200, "text/html; charset=utf-8"]
    assert fetched["index.audio.worklet.js"][0] == 200 and fetched["missing.js"][0] == 404
    assert not Path(str(report["profile"])).exists()  # the fresh profile is removed
    # The autouse no_leftover_processes fixture checks that the stand-in and its child are gone.


async def test_the_origin_is_allowed_only_while_its_stage_runs(runtime: Path, stand_in: tuple[str, Path]) -> None:
    browser, report_path = stand_in
    launcher = WebLauncher(runtime, chromium=browser)
    process = await launcher.launch(request(), lambda _stream, _line: None)
    await wait_for_file(report_path)
    origins = list(launcher._origins)
    assert len(origins) == 1 and origins[0].startswith("http://127.0.0.1:")
    assert launcher.allows_origin(origins[0])
    assert not launcher.allows_origin("http://127.0.0.1:1") and not launcher.allows_origin("null")
    assert not launcher.allows_origin(origins[0] + "/") and not launcher.allows_origin("https://example.com")

    # Another page (any other origin) cannot post lines or an exit code to the launcher.
    forged = urllib.request.Request(
        f"{origins[0]}/exit", data=b'{"code": 0}', headers={"Origin": "http://evil.example"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        await asyncio.to_thread(urllib.request.urlopen, forged)
    assert refused.value.code == 403 and process.returncode is None

    process.terminate()
    assert await asyncio.wait_for(process.wait(), 10) != 0
    assert not launcher.allows_origin(origins[0])
    await launcher.aclose()


async def test_kill_ends_the_browser_group(runtime: Path, stand_in: tuple[str, Path]) -> None:
    browser, report_path = stand_in
    launcher = WebLauncher(runtime, chromium=browser)
    process = await launcher.launch(request(), lambda _stream, _line: None)
    report = await wait_for_file(report_path)
    assert process.pid is not None
    process.kill()
    code = await asyncio.wait_for(process.wait(), 10)
    assert code == -9 and not Path(f"/proc/{report['pid']}").exists()


async def test_launch_errors_are_clear(runtime: Path) -> None:
    (runtime / "index.js").unlink()
    with pytest.raises(LaunchError, match=r"lacks index\.js"):
        await WebLauncher(runtime, chromium="/bin/true").launch(request(), lambda _s, _l: None)
    launcher = WebLauncher(runtime)
    launcher.chromium = None
    with pytest.raises(LaunchError, match="Chromium is needed"):
        await launcher.launch(request(), lambda _s, _l: None)


async def test_remote_debug_is_ignored_with_a_warning(
    runtime: Path, stand_in: tuple[str, Path], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser, report_path = stand_in
    monkeypatch.setenv("STAND_IN_EXIT", "0")
    launcher = WebLauncher(runtime, chromium=browser)
    debug = LaunchRequest("ws://127.0.0.1:1/stage", "t", PROJECT, remote_debug="tcp://127.0.0.1:6007")
    process = await launcher.launch(debug, lambda _s, _l: None)
    assert await asyncio.wait_for(process.wait(), 10) == 0
    report = await wait_for_file(report_path)
    assert "remote-debug" in caplog.text and "--remote-debug" not in json.dumps(report["config"])
