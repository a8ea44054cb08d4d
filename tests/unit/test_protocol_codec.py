"""The envelope codec and payload models: round trips, every documented error, and a fuzzed decoder."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from godot_bridge.protocol import ErrorCode, FrameTooLarge, ProtocolError, decode, encode, make, parse_payload
from godot_bridge.protocol.messages import (
    PAYLOAD_MODELS,
    Buffers,
    EngineInfo,
    HostWelcome,
    Ping,
    SceneApplied,
    SceneApply,
    StageHello,
    error_reply,
)

LIMIT = 1 << 20
SHA = "ab" * 32


def _frame(**fields: Any) -> str:
    return json.dumps(fields)


def _decode_error(frame: str | bytes, limit: int = LIMIT) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        decode(frame, limit)
    return caught.value


SAMPLES = [
    make(
        "stage.hello",
        StageHello(
            token="t" * 43,
            protocols=[1],
            engine=EngineInfo(name="godot", version="4.6.stable.official.89cea1439", platform="Web"),
            buffers=Buffers(inbound_bytes=1 << 20, outbound_bytes=1 << 20, max_queued_packets=4096),
            capabilities=["scene.url", "stage.snapshot"],
            pid=None,
        ),
        id="s-1",
    ),
    make(
        "host.welcome",
        HostWelcome(
            protocol=1,
            session="s1",
            heartbeat_interval_ms=1000,
            heartbeat_timeout_ms=5000,
            max_frame_bytes=LIMIT,
            host_time_ms=12.5,
        ),
        re="s-1",
    ),
    make("ping", Ping(t0=1.25), id="h-1"),
    make(
        "scene.apply",
        SceneApply(
            model_id=f"sha256:{SHA}", format="vrm", name="Ä avatar.vrm", path="/x/y.vrm", url=None, size=5, sha256=SHA
        ),
        id="h-2",
    ),
    make(
        "scene.applied",
        SceneApplied(
            model_id=f"sha256:{SHA}",
            vrm_version="0.x",
            expressions=["aa", "blink"],
            unbound_expressions=[],
            mouth_ready=False,
            mesh_count=2,
            blend_shape_count=15,
            load_ms=12.0,
        ),
        re="h-2",
    ),
]


@pytest.mark.parametrize("envelope", SAMPLES, ids=lambda e: e.type)
def test_round_trip_keeps_every_field(envelope: Any) -> None:
    text = encode(envelope, LIMIT)
    back = decode(text, LIMIT)
    assert back == envelope
    payload = parse_payload(back)
    assert payload.wire() == envelope.payload
    assert isinstance(payload, PAYLOAD_MODELS[envelope.type])


def test_wire_names_are_camel_case() -> None:
    text = encode(SAMPLES[1], LIMIT)
    assert '"heartbeatIntervalMs":1000' in text and "heartbeat_interval_ms" not in text


def test_absent_id_and_re_are_left_out() -> None:
    assert json.loads(encode(SAMPLES[2], LIMIT)).keys() == {"v", "type", "id", "payload"}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", ErrorCode.INVALID_JSON),
        ("", ErrorCode.INVALID_JSON),
        ("[1, 2]", ErrorCode.INVALID_JSON),
        ('"text"', ErrorCode.INVALID_JSON),
        ('{"v": NaN, "type": "ping"}', ErrorCode.INVALID_JSON),
        ("[" * 100_000 + "]" * 100_000, ErrorCode.INVALID_JSON),
        (_frame(type="ping", id="a", payload={"t0": 1}), ErrorCode.INVALID_ENVELOPE),
        (_frame(v="1", type="ping", id="a", payload={}), ErrorCode.INVALID_ENVELOPE),
        (_frame(v=True, type="ping", id="a", payload={}), ErrorCode.INVALID_ENVELOPE),
        (_frame(v=1, id="a", payload={}), ErrorCode.INVALID_ENVELOPE),
        (_frame(v=1, type="Bad Type!", id="a", payload={}), ErrorCode.INVALID_ENVELOPE),
        (_frame(v=1, type="ping", id="", payload={}), ErrorCode.INVALID_ENVELOPE),
        (_frame(v=1, type="ping", id="x" * 65, payload={}), ErrorCode.INVALID_ENVELOPE),
        (_frame(v=1, type="ping", id=7, payload={}), ErrorCode.INVALID_ENVELOPE),
        (_frame(v=1, type="ping", id="a", re="b", payload={}), ErrorCode.INVALID_ENVELOPE),
        (_frame(v=1, type="ping", id="a", payload=[1]), ErrorCode.INVALID_ENVELOPE),
        (_frame(v=2, type="ping", id="a", payload={}), ErrorCode.UNSUPPORTED_VERSION),
        (_frame(v=0, type="ping", id="a", payload={}), ErrorCode.UNSUPPORTED_VERSION),
    ],
)
def test_malformed_frames_raise_the_documented_code(frame: str, code: ErrorCode) -> None:
    assert _decode_error(frame).code is code


def test_binary_frames_are_refused() -> None:
    assert _decode_error(b'{"v":1,"type":"ping"}').code is ErrorCode.INVALID_JSON


def test_oversized_frames_are_refused_before_parsing() -> None:
    error = _decode_error(_frame(v=1, type="ping", id="a", payload={"pad": "x" * 2000}), limit=1000)
    assert isinstance(error, FrameTooLarge)
    assert error.code is ErrorCode.FRAME_TOO_LARGE and error.limit == 1000 and error.size > 1000


def test_multibyte_text_is_measured_in_utf8_bytes() -> None:
    frame = json.dumps({"v": 1, "type": "ping", "id": "a", "payload": {"pad": "€" * 320}}, ensure_ascii=False)
    assert len(frame) < 1000 < len(frame.encode())  # ~1,020 bytes as UTF-8, ~370 characters
    assert isinstance(_decode_error(frame, limit=1000), FrameTooLarge)


def test_errors_carry_the_request_id_when_it_is_readable() -> None:
    assert _decode_error(_frame(v=9, type="ping", id="req-7", payload={})).re == "req-7"
    assert _decode_error(_frame(v=1, type="ping", id=5, payload={})).re is None


def test_unknown_and_reserved_types() -> None:
    unknown = _decode_error_payload(_frame(v=1, type="dance.now", id="a", payload={}))
    assert unknown.code is ErrorCode.UNKNOWN_TYPE and unknown.re == "a"
    reserved = _decode_error_payload(_frame(v=1, type="window.move", id="b", payload={}))
    assert reserved.code is ErrorCode.UNKNOWN_TYPE and "reserved" in reserved.message


def _decode_error_payload(frame: str) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        parse_payload(decode(frame, LIMIT))
    return caught.value


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"t0": "1"},
        {"t0": None},
        {"t0": [1]},
    ],
)
def test_payload_schema_violations(payload: dict[str, Any]) -> None:
    error = _decode_error_payload(_frame(v=1, type="ping", id="p", payload=payload))
    assert error.code is ErrorCode.INVALID_PAYLOAD and error.re == "p" and "t0" in error.message


@pytest.mark.parametrize(
    "change",
    [
        {"sha256": "AB" * 32},
        {"sha256": "ab" * 31},
        {"modelId": "sha256:zz"},
        {"format": "pmx"},
        {"size": -1},
    ],
)
def test_scene_apply_rejects_bad_fields(change: dict[str, Any]) -> None:
    payload = {**SAMPLES[3].payload, **change}
    error = _decode_error_payload(_frame(v=1, type="scene.apply", id="s", payload=payload))
    assert error.code is ErrorCode.INVALID_PAYLOAD


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    envelope = decode(_frame(v=1, type="ping", id="a", future=True, payload={"t0": 1, "t9": 2}), LIMIT)
    assert parse_payload(envelope).wire() == {"t0": 1.0}


def test_encoder_refuses_frames_over_the_peer_limit() -> None:
    with pytest.raises(FrameTooLarge):
        encode(SAMPLES[0], 100)


def test_make_checks_the_payload_matches_the_type() -> None:
    with pytest.raises(TypeError):
        make("pong", Ping(t0=1.0), re="a")


def test_error_reply_carries_code_message_and_re() -> None:
    reply = error_reply(ProtocolError(ErrorCode.BUSY, "importing another model", re="h-4"))
    assert reply.type == "error" and reply.re == "h-4"
    assert reply.payload == {"code": "busy", "message": "importing another model", "details": None}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
ENVELOPE_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "v": st.sampled_from([1, 2, 0, "1", None, True, 1.0]),
        "type": st.sampled_from(["ping", "pong", "scene.apply", "stage.hello", "error", "x", "", "A.b"]) | st.text(),
        "id": st.text(max_size=70) | st.integers(),
        "re": st.text(max_size=70) | st.none(),
        "payload": st.dictionaries(st.sampled_from(["t0", "t1", "token", "code"]), JSON_VALUES) | JSON_VALUES,
    },
)
ALLOWED_CODES = {code for code in ErrorCode}


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=100), ENVELOPE_LIKE.map(json.dumps)))
def test_decoder_only_returns_an_envelope_or_a_documented_error(frame: str | bytes) -> None:
    try:
        envelope = decode(frame, 4096)
    except ProtocolError as error:
        assert error.code in ALLOWED_CODES
        return
    try:
        parse_payload(envelope)
    except ProtocolError as error:
        assert error.code in {ErrorCode.UNKNOWN_TYPE, ErrorCode.INVALID_PAYLOAD}
