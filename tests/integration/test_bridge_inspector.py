"""The devtools' bridge inspector on a real bridge server with a protocol-speaking stage client (pytest-qt)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from app.devtools.envelope_log import EnvelopeLog
from app.lipsync.cues import CueBatch
from app.lipsync.stage_output import StageCueOutput
from app.ui.bridge_inspector import BridgeInspector, describe_cue_timing
from godot_bridge.server import BridgeConfig, BridgeServer
from tests.integration.stage_client import open_stage, recv_json
from tests.waiting import until

pytestmark = pytest.mark.qt


class BridgeStage:
    """The inspector's view of a stage, over a real bridge (what ManagedStage provides in the app)."""

    def __init__(self, bridge: BridgeServer) -> None:
        self.bridge = bridge
        self.lines = [("stdout", "Godot Engine v4.6.stable"), ("stderr", "a warning")]

    async def request(self, type_: str, payload: dict[str, Any]) -> str:
        reply = await self.bridge.request(type_, payload, timeout=2)
        return json.dumps(reply.model_dump(exclude_none=True))

    async def send_event(self, type_: str, payload: dict[str, Any]) -> None:
        await self.bridge.send_event(type_, payload)

    def output(self) -> list[tuple[str, str]]:
        return self.lines

    def clock_offset_ms(self) -> float | None:
        return 12.5


def cells(inspector: BridgeInspector, column: int) -> list[str]:
    return [inspector.table.item(row, column).text() for row in range(inspector.table.rowCount())]  # type: ignore[union-attr]


async def test_the_log_shows_both_directions_filters_and_sends_a_hand_written_request(qtbot: QtBot) -> None:
    log = EnvelopeLog()
    restarts: list[bool] = []
    async with BridgeServer(BridgeConfig()) as bridge:
        bridge.observe_frames(log.observe)
        stage = BridgeStage(bridge)
        inspector = BridgeInspector(log, lambda: stage, lambda: restarts.append(True))
        qtbot.addWidget(inspector)
        inspector.show()
        ws, _welcome = await open_stage(bridge.url, bridge.token)
        try:
            await until(lambda: "host.welcome" in cells(inspector, 2), 3, "hello and welcome in the log")
            assert cells(inspector, 1)[:2] == ["← stage", "→ stage"]
            assert cells(inspector, 2)[:2] == ["stage.hello", "host.welcome"]
            assert int(cells(inspector, 4)[0]) > 100  # bytes of the hello frame
            assert cells(inspector, 5)[1].endswith(" ms")  # the welcome answers the hello: a round trip

            inspector.send_type.setText("stage.snapshot")
            inspector.send_payload.setPlainText("{}")
            inspector.send()
            request = await asyncio.wait_for(recv_json(ws), 3)
            assert request["type"] == "stage.snapshot"
            await ws.send(
                json.dumps(
                    {"v": 1, "type": "error", "re": request["id"], "payload": {"code": "busy", "message": "not now"}}
                )
            )
            await until(lambda: "not now" in inspector.send_result.text(), 3, "the reply shown")
            await until(lambda: "stage.snapshot" in cells(inspector, 2), 2)

            inspector.filter.setText("snapshot")
            assert cells(inspector, 2) == ["stage.snapshot"]
            inspector.filter.setText("")
            assert len(cells(inspector, 2)) >= 4

            inspector.send_payload.setPlainText("{not json")
            inspector.send()
            assert "not JSON" in inspector.send_result.text()
            inspector.refresh_stage()
            assert inspector.offset.text() == "clock offset: +12.5 ms"
            assert "[stderr] a warning" in inspector.output.toPlainText()
            restart = inspector.findChild(QPushButton, "restartStage")
            assert isinstance(restart, QPushButton)
            restart.click()
            assert restarts == [True]
        finally:
            await ws.close()


async def test_an_event_is_sent_without_an_id_and_a_hidden_page_rests_then_catches_up(qtbot: QtBot) -> None:
    log = EnvelopeLog()
    async with BridgeServer(BridgeConfig()) as bridge:
        bridge.observe_frames(log.observe)
        stage = BridgeStage(bridge)
        inspector = BridgeInspector(log, lambda: stage, lambda: None)
        qtbot.addWidget(inspector)
        inspector.show()
        ws, _welcome = await open_stage(bridge.url, bridge.token)
        try:
            # An event expects no reply: it is sent as it is, without an id, and says so at once.
            inspector.expects_reply.setChecked(False)
            inspector.send_type.setText("speech.cancel")
            inspector.send_payload.setPlainText('{"utterance": "u1"}')
            inspector.send()
            event = await asyncio.wait_for(recv_json(ws), 3)
            assert event["type"] == "speech.cancel" and "id" not in event
            assert event["payload"] == {"utterance": "u1"}
            await until(lambda: "no reply is expected" in inspector.send_result.text(), 2)

            # Hidden (the devtools window closed), the page stops refreshing and following the log; shown, it
            # catches up with what was logged meanwhile.
            inspector.hide()
            await until(lambda: not inspector.following, 3, "the hidden page resting")
            rows = inspector.table.rowCount()
            inspector.send()
            await asyncio.wait_for(recv_json(ws), 3)
            await asyncio.sleep(0.1)
            assert inspector.table.rowCount() == rows and cells(inspector, 2).count("speech.cancel") == 1
            inspector.show()
            await until(lambda: inspector.following and cells(inspector, 2).count("speech.cancel") == 2, 3, "caught up")

        finally:
            await ws.close()


async def test_the_lip_sync_cue_lead_and_lag_show_live(qtbot: QtBot) -> None:
    configured = [30.0]
    async with BridgeServer(BridgeConfig()) as bridge:
        ws, _welcome = await open_stage(bridge.url, bridge.token, capabilities=("speech.cues",))
        await bridge.wait_connected(2.0)
        output = StageCueOutput(lambda: bridge)
        inspector = BridgeInspector(
            EnvelopeLog(), lambda: BridgeStage(bridge), lambda: None, lambda: (output.timing, configured[0])
        )
        qtbot.addWidget(inspector)
        inspector.show()
        assert inspector.cue_timing.text() == "lip-sync cues: none sent yet · lead 30 ms"
        output.start()
        try:
            weights = np.zeros((10, 5), np.float32)
            output.begin("u1", bridge.now_ms(), 100.0, 30.0)
            # Due 200 ms from now (its sound 30 ms later still): it leaves about 230 ms ahead of the sound.
            output.cues(CueBatch("u1", bridge.now_ms() + 200.0, 100.0, weights))
            await output.drained()
            for _ in range(2):
                await recv_json(ws)
            await until(lambda: "last sent" in inspector.cue_timing.text(), 2, "the first batch shown")
            ahead = output.timing.last_ahead_ms
            assert ahead is not None and 180.0 < ahead <= 230.0, ahead
            assert f"last sent {ahead:.0f} ms ahead of its sound" in inspector.cue_timing.text()
            assert "lead 30 ms · 0 of 1 late" in inspector.cue_timing.text()
            # A batch already due when it leaves is late: the mouth lags the sound.
            output.cues(CueBatch("u1", bridge.now_ms() - 80.0, 100.0, weights))
            await output.drained()
            configured[0] = 60.0  # the setting changed: shown with the next refresh
            await until(lambda: "1 of 2 late" in inspector.cue_timing.text(), 2, "the late batch shown")
            text = inspector.cue_timing.text()
            assert "lead 60 ms" in text and "least -" in text, text
        finally:
            await output.close()
            await ws.close()
    assert describe_cue_timing(None, None) == "lip-sync cues: no stage output · lead: no lip sync"
