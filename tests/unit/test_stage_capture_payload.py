"""The ``stage.capture`` / ``stage.captured`` messages: typed, validated, and the PNG bytes come back out."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from godot_bridge.protocol import ErrorCode, ProtocolError, decode, encode
from godot_bridge.protocol.messages import REPLY_TYPES, StageCaptured, StageCaptureRequest, make, parse_payload

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
LIMIT = 1 << 20
GOOD = {"format": "png", "width": 450, "height": 600, "data": base64.b64encode(PNG).decode()}


def test_a_capture_round_trips_and_yields_the_png() -> None:
    frame = encode(make("stage.captured", StageCaptured.model_validate(GOOD), re="h-1"), LIMIT)
    payload = parse_payload(decode(frame, LIMIT))
    assert isinstance(payload, StageCaptured) and payload.png() == PNG
    assert REPLY_TYPES["stage.capture"] == frozenset({"stage.captured"})
    request = encode(make("stage.capture", StageCaptureRequest(), id="h-2"), LIMIT)
    assert isinstance(parse_payload(decode(request, LIMIT)), StageCaptureRequest)


@pytest.mark.parametrize(
    "change",
    [{"format": "jpeg"}, {"width": 0}, {"height": -1}, {"data": ""}, {"data": 5}, {"width": "450"}],
)
def test_bad_captures_are_invalid_payloads(change: dict[str, Any]) -> None:
    envelope = decode(encode(make("stage.captured", StageCaptured.model_validate(GOOD), re="h-1"), LIMIT), LIMIT)
    envelope.payload.update(change)
    with pytest.raises(ProtocolError) as error:
        parse_payload(envelope)
    assert error.value.code is ErrorCode.INVALID_PAYLOAD


def test_data_that_is_not_base64_is_refused_when_read() -> None:
    with pytest.raises(ValueError):
        StageCaptured.model_validate({**GOOD, "data": "not base64!"}).png()
