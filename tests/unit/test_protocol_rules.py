"""Handshake decisions, heartbeat timing, clock-offset estimation and the committed schema."""

from __future__ import annotations

import json

import pytest

from godot_bridge.protocol import CloseCode, make
from godot_bridge.protocol.clock import ClockOffsetEstimator
from godot_bridge.protocol.handshake import HelloAccepted, HelloRejected, check_hello
from godot_bridge.protocol.heartbeat import Heartbeat
from godot_bridge.protocol.messages import Ping
from godot_bridge.protocol.schema import SCHEMA_PATH, build_schema, render

TOKEN = "secret-token"


def hello(token: str = TOKEN, protocols: list[int] | None = None, **extra: object) -> str:
    payload = {
        "token": token,
        "protocols": protocols or [1],
        "engine": {"name": "godot", "version": "4.6", "platform": "Web"},
        "buffers": {"inboundBytes": 65536, "outboundBytes": 65536, "maxQueuedPackets": 1024},
        "capabilities": [],
        **extra,
    }
    return json.dumps({"v": 1, "type": "stage.hello", "id": "s-1", "payload": payload})


def test_a_good_hello_is_accepted_with_the_common_version() -> None:
    verdict = check_hello(hello(protocols=[1, 7]), TOKEN, 1 << 20)
    assert isinstance(verdict, HelloAccepted)
    assert verdict.protocol == 1 and verdict.request_id == "s-1" and verdict.hello.buffers.inbound_bytes == 65536


@pytest.mark.parametrize(
    ("frame", "close_code", "error_code"),
    [
        (hello(token="wrong"), CloseCode.BAD_TOKEN, "bad-token"),
        (hello(protocols=[2, 3]), CloseCode.UNSUPPORTED_VERSION, "unsupported-version"),
        (json.dumps({"v": 2, "type": "stage.hello", "id": "s", "payload": {}}), CloseCode.UNSUPPORTED_VERSION, None),
        (json.dumps({"v": 1, "type": "ping", "id": "s", "payload": {"t0": 1}}), CloseCode.HELLO_EXPECTED, None),
        (json.dumps({"v": 1, "type": "stage.hello", "payload": {}}), CloseCode.HELLO_EXPECTED, None),
        (
            json.dumps({"v": 1, "type": "stage.hello", "id": "s", "payload": {"token": TOKEN}}),
            CloseCode.HELLO_EXPECTED,
            None,
        ),
        ("garbage", CloseCode.HELLO_EXPECTED, None),
        (b"\x00\x01", CloseCode.HELLO_EXPECTED, None),
    ],
)
def test_bad_hellos_are_rejected_with_close_code_and_error(
    frame: str | bytes, close_code: CloseCode, error_code: str | None
) -> None:
    verdict = check_hello(frame, TOKEN, 1 << 20)
    assert isinstance(verdict, HelloRejected)
    assert verdict.close_code is close_code
    assert verdict.error.type == "error" and verdict.reason
    if error_code:
        assert verdict.error.payload["code"] == error_code


def test_heartbeat_pings_when_quiet_and_times_out_when_silent() -> None:
    beat = Heartbeat.starting_at(100.0, interval_s=1.0, timeout_s=5.0)
    assert beat.due(100.5) is None and beat.next_check(100.5) == pytest.approx(0.5)
    assert beat.due(101.0) == "ping"
    beat.sent(101.0)
    beat.received(103.0)
    assert beat.due(101.5) is None
    assert beat.due(107.9) == "ping"
    assert beat.due(108.0) == "timeout"


def test_heartbeat_rejects_an_interval_not_shorter_than_the_timeout() -> None:
    with pytest.raises(ValueError, match="shorter"):
        Heartbeat.starting_at(0.0, interval_s=5.0, timeout_s=5.0)


def test_clock_offset_trusts_the_fastest_round_trip() -> None:
    clock = ClockOffsetEstimator(window=4)
    assert clock.offset_ms is None
    clock.add(t0=1000.0, t1=6000.0, t3=1010.0)  # rtt 10, offset 4995
    clock.add(t0=2000.0, t1=7001.0, t3=2002.0)  # rtt 2, offset 5000
    clock.add(t0=3000.0, t1=8030.0, t3=3040.0)  # rtt 40, skewed
    assert clock.offset_ms == pytest.approx(5000.0)
    assert clock.to_stage_time(10.0) == pytest.approx(5010.0)
    assert clock.add(t0=5.0, t1=1.0, t3=4.0) is None  # a negative round trip is a bad sample


def test_clock_window_forgets_old_samples() -> None:
    clock = ClockOffsetEstimator(window=2)
    clock.add(0.0, 100.0, 1.0)
    clock.add(10.0, 200.0, 20.0)
    clock.add(30.0, 300.0, 40.0)
    assert clock.best is not None and clock.best.rtt_ms == 10.0


def test_committed_schema_matches_the_models() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render(), (
        "godot_bridge/protocol/schema.json is stale: run python -m godot_bridge.protocol.schema --write"
    )


def test_schema_covers_every_message_and_code() -> None:
    schema = build_schema()
    documented = {
        "stage.hello",
        "host.welcome",
        "ping",
        "pong",
        "error",
        "scene.apply",
        "scene.applied",
        "scene.failed",
        "stage.snapshot",
        "stage.state",
        "stage.capture",
        "stage.captured",
        "stage.log",
        "host.shutdown",
        "stage.bye",
        "speech.begin",
        "speech.cues",
        "speech.end",
        "speech.cancel",
    }
    assert set(schema["payloads"]) == documented
    assert schema["closeCodes"]["bad-token"] == 4003
    assert "frame-too-large" in schema["errorCodes"]
    welcome_ref = schema["payloads"]["host.welcome"]["$ref"].split("/")[-1]
    assert "heartbeatIntervalMs" in schema["$defs"][welcome_ref]["properties"]


def test_every_documented_type_and_code_appears_in_the_protocol_doc() -> None:
    doc = (SCHEMA_PATH.parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    schema = build_schema()
    for name in [*schema["payloads"], *schema["errorCodes"], *schema["sceneFailureCodes"]]:
        assert f"`{name}`" in doc, f"{name} is not documented in docs/protocol.md"
    for code in schema["closeCodes"].values():
        assert str(code) in doc


def test_ping_envelope_uses_the_documented_shape() -> None:
    assert make("ping", Ping(t0=3.0), id="x").model_dump(exclude_none=True) == {
        "v": 1,
        "type": "ping",
        "id": "x",
        "payload": {"t0": 3.0},
    }
