"""The cue stream over a real bridge socket: speech.* events reach a stage that asked for them, in stage time."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from app.lipsync.cues import CueBatch
from app.lipsync.stage_output import StageCueOutput
from godot_bridge.protocol import PAYLOAD_MODELS, Envelope
from godot_bridge.server.bridge import BridgeConfig, BridgeServer
from tests.integration.stage_client import open_stage, recv_json

QUIET = BridgeConfig(heartbeat_interval_s=30.0, heartbeat_timeout_s=60.0, token="t" * 43)


def batch(utterance: str, host_ms: float, frames: int = 10) -> CueBatch:
    weights = np.tile(np.array([0.5, 0.25, 0.0, 0.0, 0.0], np.float32), (frames, 1))
    return CueBatch(utterance, host_ms, 100.0, weights)


async def test_a_stage_with_the_capability_receives_the_stream_in_its_own_time() -> None:
    async with BridgeServer(QUIET) as bridge:
        ws, _welcome = await open_stage(bridge.url, bridge.token, capabilities=("stage.snapshot", "speech.cues"))
        await bridge.wait_connected(2.0)
        bridge.clock.add(1000.0, 6001.0, 1002.0)  # the stage's clock runs 5 s ahead (2 ms round trip)
        output = StageCueOutput(lambda: bridge)
        output.start()
        try:
            output.begin("u1", 2000.0, 100.0, 30.0)
            output.cues(batch("u1", 1970.0))
            received = [await recv_json(ws) for _ in range(2)]
            bridge.clock.add(1000.0, 7000.0, 1000.0)  # a better estimate (0 ms round trip): 6 s
            output.cues(batch("u1", 2070.0))
            output.end("u1", 2170.0)
            received += [await recv_json(ws) for _ in range(2)]
        finally:
            await output.close()
            await ws.close()
    assert [m["type"] for m in received] == ["speech.begin", "speech.cues", "speech.cues", "speech.end"]
    for message in received:  # every event is valid against the protocol's own models
        assert "id" not in message and "re" not in message
        PAYLOAD_MODELS[message["type"]].model_validate(message["payload"])
    begin, first, second, end = (m["payload"] for m in received)
    assert begin == {"utterance": "u1", "hostTimeMs": 2000.0, "stageTimeMs": 7000.0, "frameRate": 100.0, "leadMs": 30.0}
    assert first["stageTimeMs"] == 6970.0
    assert first["frames"][0] == [0.5, 0.25, 0.0, 0.0, 0.0] and len(first["frames"]) == 10
    assert second["stageTimeMs"] == 8070.0, "re-anchored with the newest best estimate"
    assert end == {"utterance": "u1", "hostTimeMs": 2170.0, "stageTimeMs": 8170.0}


async def test_cancel_overtakes_what_has_not_left_and_a_stage_without_the_capability_gets_nothing() -> None:
    async with BridgeServer(QUIET) as bridge:
        ws, _welcome = await open_stage(bridge.url, bridge.token, capabilities=("speech.cues",))
        await bridge.wait_connected(2.0)
        output = StageCueOutput(lambda: bridge)
        # Queued while the sender is not running yet, then cancelled: only the cancel leaves.
        output.begin("u7", 10.0, 100.0, 30.0)
        output.cues(batch("u7", 10.0))
        output.cancel("u7")
        output.start()
        try:
            message = await recv_json(ws)
            assert message["type"] == "speech.cancel" and message["payload"] == {"utterance": "u7"}
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.2)
        finally:
            await output.close()
            await ws.close()
        await bridge.wait_disconnected()

        plain, _ = await open_stage(bridge.url, bridge.token)
        await bridge.wait_connected(2.0)
        output = StageCueOutput(lambda: bridge)
        output.start()
        try:
            output.begin("u8", 10.0, 100.0, 30.0)
            await asyncio.sleep(0.1)
            assert output.sent == 0
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(plain.recv(), 0.2)
        finally:
            await output.close()
            await plain.close()


def test_the_largest_batch_fits_far_under_the_frame_limit() -> None:
    frames = [[0.123, 0.456, 0.789, 0.111, 0.999]] * 120
    payload = {"utterance": "u" * 64, "hostTimeMs": 1e12, "stageTimeMs": 1e12, "frameRate": 100.0, "frames": frames}
    text = json.dumps(Envelope(type="speech.cues", payload=payload).model_dump())
    assert len(text.encode()) < 8 * 1024
