"""Protocol version 1 of the stage bridge: envelope, payloads, handshake and liveness rules, with no I/O."""

from godot_bridge.protocol.codes import CloseCode, ErrorCode
from godot_bridge.protocol.envelope import (
    PROTOCOL_VERSION,
    Envelope,
    FrameTooLarge,
    ProtocolError,
    decode,
    encode,
)
from godot_bridge.protocol.messages import PAYLOAD_MODELS, REPLY_TYPES, make, parse_payload

__all__ = [
    "PAYLOAD_MODELS",
    "PROTOCOL_VERSION",
    "REPLY_TYPES",
    "CloseCode",
    "Envelope",
    "ErrorCode",
    "FrameTooLarge",
    "ProtocolError",
    "decode",
    "encode",
    "make",
    "parse_payload",
]
