"""The stage's side of docs/protocol.md in the real engine, probed frame by frame from a raw host.

The real ``BridgeServer`` never sends a malformed frame, so these tests use ``RawHost``: bad JSON, binary frames,
wrong versions, unknown types and invalid payloads each get an ``error`` reply and the link stays up; heartbeats,
``busy``, downloads of the shared VRM fixtures, a missing welcome and ``host.shutdown``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from app.paths import stage_project_dir
from godot_bridge.sidecar import web
from godot_bridge.sidecar.launch import LaunchRequest
from godot_bridge.sidecar.web import WebLauncher, WebStageProcess
from tests.e2e.raw_host import Frame, RawHost

pytestmark = pytest.mark.tier3
MOUTH = ["aa", "ee", "ih", "oh", "ou"]
STATE_FIELDS = {
    "speech",
    "modelId",
    "vrmVersion",
    "avatarNode",
    "expressions",
    "mouthBinds",
    "fps",
    "window",
    "uptimeMs",
}


@asynccontextmanager
async def raw_stage(runtime: Path, host: RawHost) -> AsyncIterator[tuple[WebStageProcess, list[str]]]:
    await host.start()
    launcher = WebLauncher(runtime)
    lines: list[str] = []
    process = await launcher.launch(
        LaunchRequest(host.url, host.token, stage_project_dir()), lambda _stream, line: lines.append(line)
    )
    try:
        yield process, lines
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await host.close()
        await launcher.aclose()


def scene(host: RawHost, data: bytes, name: str, *, with_url: bool = True) -> dict[str, Any]:
    url, sha = host.model_url(data)
    return {
        "modelId": f"sha256:{sha}",
        "format": "vrm",
        "name": name,
        "path": f"/nowhere/{name}",
        "url": url if with_url else None,
        "size": len(data),
        "sha256": sha,
    }


def error_after(host: RawHost, before: int) -> Callable[[Frame], bool]:
    """Matches an ``error`` frame recorded after the first ``before`` frames."""
    return lambda frame: frame.get("type") == "error" and any(frame is new for new in host.frames[before:])


def error_code(frame: Frame) -> str:
    assert frame["type"] == "error", frame
    assert set(frame["payload"]) == {"code", "message", "details"}
    code: str = frame["payload"]["code"]
    return code


async def test_malformed_frames_get_errors_and_the_link_stays_up(web_runtime: Path) -> None:
    host = RawHost(heartbeat_interval_ms=300, heartbeat_timeout_ms=3000)
    async with raw_stage(web_runtime, host) as (process, _lines):
        hello = await host.wait_welcomed()
        assert hello["v"] == 1 and hello["id"] and "re" not in hello and host.frames[0] is hello
        payload = hello["payload"]
        assert payload["token"] == host.token and payload["protocols"] == [1]
        assert payload["engine"]["name"] == "godot" and payload["engine"]["platform"] == "Web"
        assert payload["engine"]["version"] == "4.6.stable.official.89cea1439"
        assert payload["buffers"] == {"inboundBytes": 1 << 20, "outboundBytes": 1 << 20, "maxQueuedPackets": 4096}
        capabilities = ["scene.url", "stage.snapshot", "stage.capture", "speech.cues"]
        assert payload["capabilities"] == capabilities and payload["pid"] is None

        # Quiet host: the stage pings every heartbeatIntervalMs (300 ms) and we answer.
        await asyncio.sleep(1.6)
        pings = [frame for frame in host.frames if frame.get("type") == "ping"]
        assert 3 <= len(pings) <= 7, len(pings)
        assert all(isinstance(ping["payload"]["t0"], float | int) and ping["id"] for ping in pings)

        cases: list[tuple[str | bytes, str | None, str]] = [
            ("{not json", None, "invalid-json"),
            (b"\x00\x01binary", None, "invalid-json"),
            ("[1, 2]", None, "invalid-json"),
            ('{"v": 2, "type": "ping", "id": "x1", "payload": {"t0": 1}}', "x1", "unsupported-version"),
            ('{"type": "ping", "id": "x2", "payload": {"t0": 1}}', "x2", "invalid-envelope"),
            ('{"v": 1, "type": "Bad Type!", "id": "x3", "payload": {}}', "x3", "invalid-envelope"),
            ('{"v": 1, "type": "ping", "id": "x4", "payload": []}', "x4", "invalid-envelope"),
            ('{"v": 1, "type": "window.dance", "id": "x5", "payload": {}}', "x5", "unknown-type"),
            ('{"v": 1, "type": "speech.say", "id": "x6", "payload": {}}', "x6", "unknown-type"),
            ('{"v": 1, "type": "ping", "id": "x7", "payload": {}}', "x7", "invalid-payload"),
            ('{"v": 1, "type": "scene.apply", "id": "x8", "payload": {"modelId": 5}}', "x8", "invalid-payload"),
            # Malformed lip-sync events get an error event back (no id to answer) and change nothing.
            (
                '{"v": 1, "type": "speech.cues", "payload": {"utterance": "u", "hostTimeMs": 1, "stageTimeMs": null, '
                '"frameRate": 100, "frames": [[0.1, 0.2]]}}',
                None,
                "invalid-payload",
            ),
            (
                '{"v": 1, "type": "speech.cues", "payload": {"utterance": "u", "hostTimeMs": 1, "stageTimeMs": null, '
                '"frameRate": 100, "frames": [[0, 0, 0, 0, 2]]}}',
                None,
                "invalid-payload",
            ),
            ('{"v": 1, "type": "speech.begin", "payload": {"utterance": 3}}', None, "invalid-payload"),
            (
                '{"v": 1, "type": "speech.end", "payload": {"utterance": "u", "hostTimeMs": "soon"}}',
                None,
                "invalid-payload",
            ),
            ('{"v": 1, "type": "speech.cancel", "payload": {"utterance": 7}}', None, "invalid-payload"),
            ('{"v": 1, "type": "speech.sing", "payload": {"utterance": "u", "hostTimeMs": 1}}', None, "unknown-type"),
        ]
        for raw, request_id, expected in cases:
            before = len(host.frames)
            await host.send_raw(raw)
            reply = await host.wait_for(error_after(host, before))
            assert error_code(reply) == expected, (raw, reply)
            assert reply.get("re") == request_id, (raw, reply)

        # A reply to nothing we asked is logged by the stage (a stage.log warning), never answered.
        await host.send("pong", {"t0": 1.0, "t1": 2.0}, re="never-asked")
        unexpected = await host.wait_for(
            lambda frame: frame.get("type") == "stage.log" and "never-asked" in frame["payload"]["message"]
        )
        assert unexpected["payload"]["level"] == "warning" and "re" not in unexpected

        glb = scene(host, b"glTF", "x.glb") | {"format": "glb"}
        assert error_code(await host.request("scene.apply", glb)) == "invalid-payload"

        pong = await host.request("ping", {"t0": 12.5})
        assert pong["type"] == "pong" and pong["payload"]["t0"] == 12.5 and pong["payload"]["t1"] > 0

        state = await host.request("stage.snapshot", {})
        assert state["type"] == "stage.state" and set(state["payload"]) == STATE_FIELDS
        assert state["payload"]["modelId"] is None and state["payload"]["avatarNode"] is None
        speech = state["payload"]["speech"]  # the malformed speech events changed nothing
        assert speech["utterance"] is None and speech["queuedFrames"] == 0 and set(speech["mouth"].values()) == {0.0}
        assert (speech["receivedFrames"], speech["lateFrames"], speech["leastAheadMs"]) == (0, 0, None)
        window = state["payload"]["window"]
        assert set(window) == {"size", "position", "transparent", "alwaysOnTop", "borderless"}
        assert window["size"] == [450, 600], window  # the project's window size, not the browser's
        assert all(isinstance(window[key], bool) for key in ("transparent", "alwaysOnTop", "borderless")), window
        assert process.returncode is None and not host.closed.is_set()


async def test_shared_vrm_fixtures_over_url(web_runtime: Path, vrm_fixture: Callable[[str], Path]) -> None:
    host = RawHost()
    async with raw_stage(web_runtime, host) as (_process, _lines):
        await host.wait_welcomed()
        applied: dict[str, dict[str, Any]] = {}
        for name in (
            "synthetic/synthetic_vrm0.vrm",
            "synthetic/synthetic_vrm1.vrm",
            "Godette_vrm_v4.vrm",
            "debug_robot.vrm",
            "VRMC_vrm_expressions_isBinary_Overrides.vrm",
        ):
            reply = await host.request("scene.apply", scene(host, vrm_fixture(name).read_bytes(), name), 30)
            assert reply["type"] == "scene.applied", reply
            assert reply["payload"]["loadMs"] > 0
            applied[name] = reply["payload"]
            if name == "Godette_vrm_v4.vrm":
                state = (await host.request("stage.snapshot", {}))["payload"]
                assert sorted(bind["expression"] for bind in state["mouthBinds"]) == MOUTH
                assert all(bind["blendShape"].startswith("morph_") for bind in state["mouthBinds"]), state
                assert all(bind["value"] == 0.0 for bind in state["mouthBinds"])

        for version, name in (("0.x", "synthetic/synthetic_vrm0.vrm"), ("1.0", "synthetic/synthetic_vrm1.vrm")):
            result = applied[name]
            assert result["vrmVersion"] == version and result["expressions"] == MOUTH and result["mouthReady"]
            assert result["meshCount"] == 1 and result["blendShapeCount"] == 5
        godette = applied["Godette_vrm_v4.vrm"]
        assert godette["vrmVersion"] == "0.x" and godette["mouthReady"]
        assert set(MOUTH) | {"blink", "happy", "angry", "sad", "relaxed"} <= set(godette["expressions"])
        assert godette["meshCount"] == 2 and godette["blendShapeCount"] == 15
        assert len(godette["expressions"]) == 16, godette
        robot = applied["debug_robot.vrm"]
        assert robot["vrmVersion"] == "1.0" and robot["expressions"] == [] and not robot["mouthReady"]
        assert robot["meshCount"] == 22 and robot["blendShapeCount"] == 0, robot
        assert set(MOUTH) | {"blink", "happy"} <= set(robot["unboundExpressions"])
        assert robot["unboundExpressions"] == sorted(robot["unboundExpressions"])
        binary = applied["VRMC_vrm_expressions_isBinary_Overrides.vrm"]
        assert binary["expressions"] == [] and binary["unboundExpressions"] == ["blink", "happy"]

        good = applied["VRMC_vrm_expressions_isBinary_Overrides.vrm"]
        godette_bytes = vrm_fixture("Godette_vrm_v4.vrm").read_bytes()
        truncated = bytearray(godette_bytes[:4000])
        truncated[12:20] = b"\xff" * 8  # the JSON chunk header now claims a chunk far past the end
        bad_cases = {
            "not-vrm": scene(host, bytes(range(256)) * 4, "random.vrm"),
            "import-failed": scene(host, bytes(truncated), "truncated.vrm"),
            "file-unreadable": scene(host, godette_bytes, "path-only.vrm", with_url=False),
            "size-mismatch": scene(host, godette_bytes, "size.vrm") | {"size": 10},
            "hash-mismatch": scene(host, godette_bytes, "hash.vrm") | {"sha256": "0" * 64},
            "download-failed": scene(host, godette_bytes, "gone.vrm") | {"url": host.url.replace("ws", "http", 1)},
        }
        for code, payload in bad_cases.items():
            reply = await host.request("scene.apply", payload, 30)
            assert reply["type"] == "scene.failed", (code, reply)
            assert reply["payload"]["code"] == code and reply["payload"]["modelId"] == payload["modelId"], reply

        state = (await host.request("stage.snapshot", {}))["payload"]
        assert state["vrmVersion"] == "1.0" and state["avatarNode"] == "/root/Stage/AvatarRoot/Avatar"
        assert state["modelId"] == good["modelId"]
        assert set(state["expressions"]) == {"blink", "happy"} and state["mouthBinds"] == []

        logs = [frame for frame in host.frames if frame.get("type") == "stage.log"]
        assert any("random.vrm" in frame["payload"]["message"] for frame in logs), logs
        infos = [frame["payload"] for frame in logs if frame["payload"]["level"] == "info"]
        assert any(info["message"].startswith("showing Godette_vrm_v4.vrm (VRM 0.x") for info in infos), infos
        assert all("id" not in frame and "re" not in frame for frame in logs)


async def test_a_second_apply_while_one_imports_is_busy(web_runtime: Path, vrm_fixture: Callable[[str], Path]) -> None:
    host = RawHost()
    async with raw_stage(web_runtime, host) as (_process, _lines):
        await host.wait_welcomed()
        data = vrm_fixture("Godette_vrm_v4.vrm").read_bytes()
        first, second = host.new_id(), host.new_id()
        await host.send("scene.apply", scene(host, data, "first.vrm"), id=first)
        await host.send("scene.apply", scene(host, data, "second.vrm"), id=second)
        busy = await host.reply_to(second, 30)
        assert error_code(busy) == "busy"
        assert (await host.reply_to(first, 30))["type"] == "scene.applied"
        again = await host.request("scene.apply", scene(host, data, "third.vrm"), 30)
        assert again["type"] == "scene.applied"


async def test_bridge_arguments_are_also_found_among_the_engine_arguments(
    web_runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The editor's Main Run Args reach the engine without `--`; the stage reads them there too (attach mode)."""
    page = web.PAGE.replace("args: config.args,", 'args: config.args.filter((arg) => arg !== "--"),')
    assert page != web.PAGE
    monkeypatch.setattr(web, "PAGE", page)
    host = RawHost()
    async with raw_stage(web_runtime, host) as (_process, _lines):
        hello = await host.wait_welcomed()
        assert hello["payload"]["token"] == host.token
        assert (await host.request("stage.snapshot", {}))["type"] == "stage.state"


async def test_host_shutdown_gets_bye_and_the_stage_exits(web_runtime: Path) -> None:
    host = RawHost()
    async with raw_stage(web_runtime, host) as (process, _lines):
        await host.wait_welcomed()
        bye = await host.request("host.shutdown", {"reason": "test"})
        assert bye["type"] == "stage.bye" and bye["payload"] == {}
        assert await asyncio.wait_for(process.wait(), 10) == 0


async def test_the_stage_quits_when_never_welcomed(web_runtime: Path) -> None:
    host = RawHost(welcome=False)
    async with raw_stage(web_runtime, host) as (process, lines):
        hello = await host.wait_welcomed()
        started = asyncio.get_running_loop().time()
        # A request before the welcome is refused, not dropped; a ping is still answered.
        assert error_code(await host.request("stage.snapshot", {})) == "not-ready"
        assert (await host.request("ping", {"t0": 1.0}))["type"] == "pong"
        assert await asyncio.wait_for(process.wait(), 20) == 3
        waited = asyncio.get_running_loop().time() - started + (started - hello["_received"])
        assert 8 < waited < 11, waited
        assert any("did not welcome" in line for line in lines), lines
        assert host.closed.is_set()
