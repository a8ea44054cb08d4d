"""Lip sync as the desktop app wires it: the mouth cues follow the stage through a restart (a new bridge server), and
the output latency set in Settings > Lip sync applies at once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot
from websockets.asyncio.client import ClientConnection

from app.main import AppOptions
from app.ui.desktop import DesktopApp
from godot_bridge.server.bridge import BridgeServer
from tests.integration.stage_client import open_stage
from tests.waiting import until

pytestmark = pytest.mark.qt


def listening(bridge: BridgeServer) -> bool:
    try:
        return bool(bridge.url)
    except RuntimeError:  # not started yet
        return False


class ProtocolStage:
    """A stage connected the way an editor run attaches: answers pings, fails every scene, records the rest."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []
        self.arrived_ms: list[float] = []
        """When each received message arrived, on the host's monotonic clock (the same machine)."""
        self._task = asyncio.ensure_future(self._read())

    @classmethod
    async def attach(cls, url: str, token: str) -> ProtocolStage:
        ws, welcome = await open_stage(url, token, capabilities=("stage.snapshot", "speech.cues"))
        assert welcome["type"] == "host.welcome"
        return cls(ws)

    def types(self) -> list[str]:
        return [m["type"] for m in self.received]

    async def _read(self) -> None:
        async for frame in self.ws:
            message = json.loads(frame)
            if message["type"] == "ping":
                pong = {"t0": message["payload"]["t0"], "t1": 0.0}
                await self.ws.send(json.dumps({"v": 1, "type": "pong", "re": message["id"], "payload": pong}))
            elif message["type"] == "scene.apply":
                error = {"code": "import-failed", "message": "this test stage shows no avatar"}
                await self.ws.send(json.dumps({"v": 1, "type": "error", "re": message["id"], "payload": error}))
            else:
                self.received.append(message)
                self.arrived_ms.append(time.monotonic() * 1000.0)

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(Exception):
            await self._task


def begin_ahead_ms(stage: ProtocolStage, index: int) -> float:
    """How long before the utterance's time zero its ``speech.begin`` arrived (both on the host's clock)."""
    begins = [(m, at) for m, at in zip(stage.received, stage.arrived_ms, strict=True) if m["type"] == "speech.begin"]
    message, arrived_ms = begins[index]
    return float(message["payload"]["hostTimeMs"]) - arrived_ms


async def test_after_a_stage_restart_the_cues_reach_the_new_stage(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GODOT4", "GODOT", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    desktop = await DesktopApp.open(AppOptions(tmp_path, "attach"), asyncio.Event())
    stages: list[ProtocolStage] = []
    jobs: list[asyncio.Future[None]] = []
    try:
        qtbot.addWidget(desktop.window)
        first = desktop.stage
        assert first is not None and first.launcher.kind == "attach"
        jobs.append(asyncio.ensure_future(desktop.stage_service.start()))  # waits for the stage to attach
        await until(lambda: listening(first.bridge), 5, "the first bridge listening")
        stages.append(await ProtocolStage.attach(first.bridge.url, first.bridge.token))
        await until(lambda: desktop.stage_service.status.phase != "starting", 10, "the first stage adopted")

        jobs.append(asyncio.ensure_future(desktop.restart_stage()))  # what Settings > Stage > Restart does
        await until(lambda: desktop.stage is not first, 5, "a new stage runtime")
        second = desktop.stage
        assert second is not None and second.bridge is not first.bridge
        await until(lambda: "host.shutdown" in stages[0].types(), 5, "the first stage told to quit")
        await until(lambda: listening(second.bridge), 5, "the new bridge listening")
        stages.append(await ProtocolStage.attach(second.bridge.url, second.bridge.token))
        await until(lambda: desktop.stage_service.status.phase != "starting", 10, "the new stage adopted")

        desktop.speech.say("Hello again.")
        await until(lambda: "speech.cues" in stages[1].types(), 10, "mouth cues on the restarted stage")
        speech = [m for m in stages[1].received if m["type"].startswith("speech.")]
        assert speech[0]["type"] == "speech.begin"
        assert all(m["payload"]["utterance"] == speech[0]["payload"]["utterance"] for m in speech)
        assert not [t for t in stages[0].types() if t.startswith("speech.")], "nothing went to the old stage"

        # The utterance begins (its first sound) the Speaker's start delay after the cues leave, 130 ms; with an
        # output latency of 200 ms set in Settings > Lip sync, the mouth waits 200 ms more for the sound to be heard.
        await until(lambda: "speech.end" in stages[1].types(), 10, "the first utterance heard")
        assert 90.0 < begin_ahead_ms(stages[1], 0) < 200.0
        desktop.settings.update("lip_sync", output_latency_ms=200)
        assert desktop.lipsync is not None and desktop.lipsync.scheduler.output_latency_s == 0.2
        desktop.speech.say("And again.")
        await until(lambda: stages[1].types().count("speech.begin") == 2, 10, "the second utterance's cues")
        assert 290.0 < begin_ahead_ms(stages[1], 1) < 400.0
    finally:
        for stage in stages:
            await stage.close()
        for job in jobs:
            job.cancel()
            with contextlib.suppress(BaseException):
                await job
        await asyncio.wait_for(desktop.close(), 10)
