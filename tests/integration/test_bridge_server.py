"""The bridge server with a real WebSocket client over loopback: handshake, refusals, requests, liveness."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from godot_bridge.protocol import FrameTooLarge
from godot_bridge.server import (
    BridgeConfig,
    BridgeEvent,
    BridgeServer,
    RequestTimeout,
    StageConnected,
    StageDisconnected,
    StageError,
    StageLogged,
    StageNotConnected,
)
from tests.integration.stage_client import hello_frame, open_stage, recv_json

FAST = BridgeConfig(hello_timeout_s=0.5, heartbeat_interval_s=0.2, heartbeat_timeout_s=1.0, request_timeout_s=1.0)


@pytest.fixture
async def server() -> AsyncIterator[BridgeServer]:
    bridge = BridgeServer(FAST, origin_allowed=lambda origin: origin == "http://127.0.0.1:9")
    await bridge.start()
    yield bridge
    await bridge.close()


async def closed_with(ws: Any) -> tuple[int | None, str]:
    with pytest.raises(ConnectionClosed):
        while True:
            await ws.recv()
    return ws.close_code, ws.close_reason or ""


async def test_server_listens_on_loopback_with_a_fresh_strong_token() -> None:
    first, second = BridgeServer(), BridgeServer()
    await first.start()
    await second.start()
    try:
        assert first.url.startswith("ws://127.0.0.1:") and first.url.endswith("/stage")
        assert first.port != second.port and first.port > 0
        assert first.token != second.token and len(first.token) >= 43  # 32 random bytes, base64
    finally:
        await first.close()
        await second.close()


async def test_hello_gets_a_welcome_and_a_connected_event(server: BridgeServer) -> None:
    events: list[BridgeEvent] = []
    server.subscribe(events.append)
    ws, welcome = await open_stage(server.url, server.token)
    assert welcome["type"] == "host.welcome" and welcome["re"] == "s-1"
    payload = welcome["payload"]
    assert payload["protocol"] == 1
    assert payload["heartbeatIntervalMs"] == 200 and payload["heartbeatTimeoutMs"] == 1000
    assert payload["maxFrameBytes"] == FAST.max_frame_bytes
    info = await server.wait_connected(1.0)
    assert server.connected and info.hello.pid == 1234 and info.hello.engine.version == "4.6.stable.test"
    assert isinstance(events[0], StageConnected)
    await ws.close()
    await asyncio.wait_for(server.wait_disconnected(), 1.0)
    assert not server.connected and isinstance(events[-1], StageDisconnected)


async def test_silence_instead_of_hello_closes_4001(server: BridgeServer) -> None:
    async with connect(server.url) as ws:
        assert await closed_with(ws) == (4001, "no stage.hello within 0.5 s")
    assert not server.connected


@pytest.mark.parametrize(
    ("first_frame", "close_code", "error_code"),
    [
        (json.dumps({"v": 1, "type": "ping", "id": "p", "payload": {"t0": 1}}), 4002, "hello-expected"),
        ("not json at all", 4002, "hello-expected"),
        (hello_frame("wrong-token"), 4003, "bad-token"),
        (hello_frame("TOKEN", protocols=[2]), 4004, "unsupported-version"),
    ],
)
async def test_bad_first_frames_get_an_error_then_a_close(
    server: BridgeServer, first_frame: str, close_code: int, error_code: str
) -> None:
    async with connect(server.url) as ws:
        await ws.send(first_frame.replace('"TOKEN"', json.dumps(server.token)))
        error = json.loads(await ws.recv())
        assert error["type"] == "error" and error["payload"]["code"] == error_code
        code, _reason = await closed_with(ws)
        assert code == close_code
    assert not server.connected


async def test_browser_origins_are_refused_unless_allowed(server: BridgeServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(server.url, origin="http://evil.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    ws = await connect(server.url, origin="http://127.0.0.1:9")  # type: ignore[arg-type]
    await ws.send(hello_frame(server.token))
    assert json.loads(await ws.recv())["type"] == "host.welcome"
    await ws.close()


async def test_other_paths_are_not_served(server: BridgeServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(server.url.replace("/stage", "/ws"))
    assert refused.value.response.status_code == 404


async def test_a_second_stage_is_refused_and_the_first_keeps_working(server: BridgeServer) -> None:
    first, _ = await open_stage(server.url, server.token)
    async with connect(server.url) as second:
        with contextlib.suppress(ConnectionClosed):  # the host may close before the hello is even sent
            await second.send(hello_frame(server.token))
        assert await closed_with(second) == (4005, "another stage is already connected")
    request = asyncio.create_task(server.request("stage.snapshot", {}))
    incoming = await recv_json(first)
    assert incoming["type"] == "stage.snapshot"
    await first.send(
        json.dumps(
            {
                "v": 1,
                "type": "error",
                "re": incoming["id"],
                "payload": {"code": "not-ready", "message": "no avatar yet"},
            }
        )
    )
    with pytest.raises(StageError) as caught:
        await request
    assert caught.value.code == "not-ready"
    await first.close()


async def test_requests_time_out_and_late_replies_are_dropped(server: BridgeServer) -> None:
    ws, _ = await open_stage(server.url, server.token)
    with pytest.raises(RequestTimeout, match=r"stage\.snapshot within 0\.3 s"):
        await server.request("stage.snapshot", {}, timeout=0.3)
    late = await recv_json(ws)
    await ws.send(json.dumps({"v": 1, "type": "stage.state", "re": late["id"], "payload": {}}))
    # The link survives the late reply: a fresh request still round-trips.
    request = asyncio.create_task(server.request("host.shutdown", {"reason": "test"}))
    incoming = await recv_json(ws)
    await ws.send(json.dumps({"v": 1, "type": "stage.bye", "re": incoming["id"], "payload": {}}))
    assert (await request).type == "stage.bye"
    await ws.close()


async def test_requests_fail_fast_when_no_stage_or_the_stage_leaves(server: BridgeServer) -> None:
    with pytest.raises(StageNotConnected):
        await server.request("stage.snapshot", {})
    ws, _ = await open_stage(server.url, server.token)
    request = asyncio.create_task(server.request("stage.snapshot", {}, timeout=5.0))
    await recv_json(ws)
    await ws.close()
    with pytest.raises(StageNotConnected):
        await request


async def test_a_reply_of_the_wrong_type_or_shape_fails_the_request(server: BridgeServer) -> None:
    ws, _ = await open_stage(server.url, server.token)
    request = asyncio.create_task(server.request("stage.snapshot", {}))
    incoming = await recv_json(ws)
    await ws.send(json.dumps({"v": 1, "type": "scene.applied", "re": incoming["id"], "payload": {}}))
    with pytest.raises(Exception, match=r"cannot answer stage\.snapshot"):
        await request
    await ws.close()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{oops", "invalid-json"),
        (b"\x00binary", "invalid-json"),
        (json.dumps({"v": 1, "type": "dance", "id": "d1", "payload": {}}), "unknown-type"),
        (json.dumps({"v": 1, "type": "speech.cue", "id": "d2", "payload": {}}), "unknown-type"),
        (json.dumps({"v": 1, "type": "scene.apply", "id": "d3", "payload": {}}), "invalid-payload"),
        (json.dumps({"v": 1, "type": "ping", "id": "d4", "payload": {"t0": "now"}}), "invalid-payload"),
        (json.dumps({"v": 3, "type": "ping", "id": "d5", "payload": {"t0": 1}}), "unsupported-version"),
        (json.dumps({"v": 1, "type": "stage.log", "payload": {"level": "loud", "message": "x"}}), "invalid-payload"),
        (json.dumps({"v": 1, "type": "ping", "id": "d6", "payload": {"pad": "x" * (1 << 20)}}), "frame-too-large"),
    ],
)
async def test_malformed_frames_get_an_error_and_the_link_stays_up(
    server: BridgeServer, frame: str | bytes, code: str
) -> None:
    ws, _ = await open_stage(server.url, server.token)
    await ws.send(frame)
    reply = await recv_json(ws)
    assert reply["type"] == "error" and reply["payload"]["code"] == code
    if isinstance(frame, str) and '"id": "d' in frame and code != "frame-too-large":  # too large: never parsed
        assert reply["re"] == json.loads(frame)["id"]
    await ws.send(json.dumps({"v": 1, "type": "ping", "id": "alive", "payload": {"t0": 5.0}}))
    pong = await recv_json(ws)
    assert pong["type"] == "pong" and pong["re"] == "alive" and pong["payload"]["t0"] == 5.0
    assert server.connected
    await ws.close()


async def test_frames_beyond_the_hard_cap_close_1009(server: BridgeServer) -> None:
    ws, _ = await open_stage(server.url, server.token)
    await ws.send("x" * (FAST.max_frame_bytes * 4 + 1))
    assert (await closed_with(ws))[0] == 1009


async def test_host_never_sends_more_than_the_stage_buffer(server: BridgeServer) -> None:
    ws, _ = await open_stage(server.url, server.token, inbound=4096)
    with pytest.raises(FrameTooLarge):
        await server.request("host.shutdown", {"reason": "x" * 5000})
    request = asyncio.create_task(server.request("host.shutdown", {"reason": "short"}))
    incoming = await recv_json(ws)
    assert incoming["payload"] == {"reason": "short"}
    await ws.send(json.dumps({"v": 1, "type": "stage.bye", "re": incoming["id"], "payload": {}}))
    await request
    await ws.close()


async def test_stage_logs_reach_listeners_and_the_log(server: BridgeServer, caplog: pytest.LogCaptureFixture) -> None:
    events: list[BridgeEvent] = []
    server.subscribe(events.append)
    ws, _ = await open_stage(server.url, server.token)
    with caplog.at_level(logging.WARNING, logger="godot_bridge.stage"):
        await ws.send(
            json.dumps(
                {
                    "v": 1,
                    "type": "stage.log",
                    "payload": {"level": "error", "message": "Parse Error: x", "source": "res://a.gd:3"},
                }
            )
        )
        for _ in range(50):
            if any(isinstance(e, StageLogged) for e in events):
                break
            await asyncio.sleep(0.01)
    logged = [e for e in events if isinstance(e, StageLogged)]
    assert logged == [StageLogged("error", "Parse Error: x", "res://a.gd:3")]
    assert "Parse Error: x (res://a.gd:3)" in caplog.text
    await ws.close()


async def test_heartbeat_pings_measure_the_clock_and_silence_closes_4008(server: BridgeServer) -> None:
    ws, _ = await open_stage(server.url, server.token)
    stage_clock_offset_ms = 123_456.0
    for _ in range(3):
        ping = json.loads(await ws.recv())
        assert ping["type"] == "ping"
        t1 = server.now_ms() + stage_clock_offset_ms
        await ws.send(
            json.dumps({"v": 1, "type": "pong", "re": ping["id"], "payload": {"t0": ping["payload"]["t0"], "t1": t1}})
        )
    await asyncio.sleep(0.05)
    assert server.clock.offset_ms == pytest.approx(stage_clock_offset_ms, abs=5.0)
    assert server.clock.best is not None and server.clock.best.rtt_ms < 50
    # Now go silent: no pongs, nothing. The host gives up after heartbeatTimeoutMs.
    started = asyncio.get_running_loop().time()
    code, reason = await closed_with(ws)
    assert code == 4008 and "no frame from the stage" in reason
    assert 0.5 < asyncio.get_running_loop().time() - started < 2.0
    await asyncio.wait_for(server.wait_disconnected(), 1.0)


async def test_closing_the_server_tells_the_stage_it_is_going_away() -> None:
    bridge = BridgeServer(FAST)
    await bridge.start()
    ws, _ = await open_stage(bridge.url, bridge.token)
    await bridge.close()
    assert (await closed_with(ws))[0] == 1001
