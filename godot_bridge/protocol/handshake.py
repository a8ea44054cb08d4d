"""Checking a stage's first frame: the pure decision behind accepting or closing a new connection."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from godot_bridge.protocol.codes import CloseCode, ErrorCode
from godot_bridge.protocol.envelope import SUPPORTED_VERSIONS, Envelope, ProtocolError, decode
from godot_bridge.protocol.messages import ErrorPayload, StageHello, make, parse_payload


@dataclass(frozen=True)
class HelloAccepted:
    hello: StageHello
    request_id: str
    protocol: int


@dataclass(frozen=True)
class HelloRejected:
    close_code: CloseCode
    reason: str
    error: Envelope
    """Sent just before closing, so the stage's log says why."""


def check_hello(frame: str | bytes, token: str, max_bytes: int) -> HelloAccepted | HelloRejected:
    try:
        envelope = decode(frame, max_bytes)
        if envelope.type != "stage.hello" or envelope.id is None:
            raise ProtocolError(
                ErrorCode.HELLO_EXPECTED, f"the first frame must be a stage.hello request, not {envelope.type!r}"
            )
        hello = parse_payload(envelope)
    except ProtocolError as error:
        code = CloseCode.UNSUPPORTED_VERSION if error.code is ErrorCode.UNSUPPORTED_VERSION else None
        return _reject(code or CloseCode.HELLO_EXPECTED, ErrorCode.HELLO_EXPECTED, error.message, error.re)
    assert isinstance(hello, StageHello)
    if not hmac.compare_digest(hello.token.encode(), token.encode()):
        return _reject(CloseCode.BAD_TOKEN, ErrorCode.BAD_TOKEN, "the launch token is wrong", envelope.id)
    common = SUPPORTED_VERSIONS.intersection(hello.protocols)
    if not common:
        return _reject(
            CloseCode.UNSUPPORTED_VERSION,
            ErrorCode.UNSUPPORTED_VERSION,
            f"no protocol version in common: stage speaks {sorted(hello.protocols)}, "
            f"host speaks {sorted(SUPPORTED_VERSIONS)}",
            envelope.id,
        )
    return HelloAccepted(hello=hello, request_id=envelope.id, protocol=max(common))


def _reject(close: CloseCode, code: ErrorCode, message: str, re: str | None) -> HelloRejected:
    return HelloRejected(close, message, make("error", ErrorPayload(code=code.value, message=message), re=re))
