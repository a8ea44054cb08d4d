"""The envelope every frame travels in, and its sans-I/O codec.

``decode`` only ever returns an :class:`Envelope` or raises :class:`ProtocolError` carrying one of the documented
error codes; the tests fuzz it to hold it to that.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from godot_bridge.protocol.codes import ErrorCode

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = frozenset({PROTOCOL_VERSION})
TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"
MAX_ID_LENGTH = 64
_ID_RE = re.compile(r"^.{1,64}$", re.DOTALL)


class ProtocolError(Exception):
    """A frame that breaks the protocol. ``re`` is the offending request's id when it could be read."""

    def __init__(self, code: ErrorCode, message: str, re: str | None = None) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.re = re


class FrameTooLarge(ProtocolError):
    """An outgoing frame is larger than the peer can take; it was not sent."""

    def __init__(self, size: int, limit: int, re: str | None = None) -> None:
        super().__init__(ErrorCode.FRAME_TOO_LARGE, f"frame of {size} bytes exceeds the limit of {limit} bytes", re)
        self.size = size
        self.limit = limit


class Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    v: int = PROTOCOL_VERSION
    type: str = Field(pattern=TYPE_PATTERN, max_length=64)
    id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH)
    re: str | None = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH)
    payload: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _request_or_reply(self) -> Envelope:
        if self.id is not None and self.re is not None:
            raise ValueError("a frame is either a request (id) or a reply (re), not both")
        return self

    @property
    def is_request(self) -> bool:
        return self.id is not None

    @property
    def is_reply(self) -> bool:
        return self.re is not None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode(frame: str | bytes, max_bytes: int) -> Envelope:
    """Parse one received frame. Raises :class:`ProtocolError` with a documented code on any problem."""
    if isinstance(frame, bytes | bytearray | memoryview):
        raise ProtocolError(ErrorCode.INVALID_JSON, "binary frames are not part of the protocol; send text")
    # A str never has more characters than its UTF-8 form has bytes, so only long frames pay for encoding.
    if len(frame) > max_bytes or (len(frame) * 4 > max_bytes and len(frame.encode("utf-8")) > max_bytes):
        raise FrameTooLarge(len(frame.encode("utf-8", "surrogatepass")), max_bytes)
    try:
        data = json.loads(frame, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise ProtocolError(ErrorCode.INVALID_JSON, f"not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.INVALID_JSON, f"a frame must be a JSON object, not {type(data).__name__}")
    request_id = data.get("id")
    re_id = request_id if isinstance(request_id, str) and _ID_RE.match(request_id) else None
    version = data.get("v")
    if isinstance(version, int) and not isinstance(version, bool) and version not in SUPPORTED_VERSIONS:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_VERSION,
            f"protocol version {version} is not supported (supported: {sorted(SUPPORTED_VERSIONS)})",
            re_id,
        )
    if "v" not in data:
        raise ProtocolError(ErrorCode.INVALID_ENVELOPE, "field 'v' (protocol version) is missing", re_id)
    try:
        return Envelope.model_validate(data)
    except ValidationError as error:
        raise ProtocolError(ErrorCode.INVALID_ENVELOPE, describe_validation_error(error), re_id) from None


def encode(envelope: Envelope, max_bytes: int) -> str:
    """Serialise an envelope, refusing (``FrameTooLarge``) rather than sending more than the peer can take."""
    text = json.dumps(
        envelope.model_dump(exclude_none=True), separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise FrameTooLarge(size, max_bytes, envelope.re)
    return text


def describe_validation_error(error: ValidationError) -> str:
    """At most five problems, each as ``field.path: what is wrong``."""
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "(frame)"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
