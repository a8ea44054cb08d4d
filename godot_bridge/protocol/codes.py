"""Error codes and WebSocket close codes of protocol version 1 (docs/protocol.md, sections 2-3)."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ErrorCode(StrEnum):
    INVALID_JSON = "invalid-json"
    INVALID_ENVELOPE = "invalid-envelope"
    UNSUPPORTED_VERSION = "unsupported-version"
    UNKNOWN_TYPE = "unknown-type"
    INVALID_PAYLOAD = "invalid-payload"
    FRAME_TOO_LARGE = "frame-too-large"
    UNEXPECTED_REPLY = "unexpected-reply"
    NOT_READY = "not-ready"
    BUSY = "busy"
    BAD_TOKEN = "bad-token"
    HELLO_EXPECTED = "hello-expected"
    INTERNAL = "internal"


class CloseCode(IntEnum):
    GOING_AWAY = 1001
    MESSAGE_TOO_BIG = 1009
    HELLO_TIMEOUT = 4001
    HELLO_EXPECTED = 4002
    BAD_TOKEN = 4003
    UNSUPPORTED_VERSION = 4004
    PEER_BUSY = 4005
    HEARTBEAT_TIMEOUT = 4008


SCENE_FAILURE_CODES = (
    "file-unreadable",
    "download-failed",
    "size-mismatch",
    "hash-mismatch",
    "not-vrm",
    "import-failed",
)
