"""Payload models of every message type in protocol version 1, and which replies answer which requests."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from godot_bridge.protocol.codes import ErrorCode
from godot_bridge.protocol.envelope import Envelope, ProtocolError, describe_validation_error

Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
ModelId = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveInt = Annotated[int, Field(gt=0)]


class Payload(BaseModel):
    # Unknown payload fields are ignored so that a newer peer can add fields without breaking an older one.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", strict=True)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")


class EngineInfo(Payload):
    name: str
    version: str
    platform: str


class Buffers(Payload):
    inbound_bytes: PositiveInt
    outbound_bytes: PositiveInt
    max_queued_packets: PositiveInt


class StageHello(Payload):
    token: str = Field(min_length=1, max_length=512)
    protocols: list[int] = Field(min_length=1, max_length=16)
    engine: EngineInfo
    buffers: Buffers
    capabilities: list[str] = Field(default_factory=list, max_length=64)
    pid: int | None = None


class HostWelcome(Payload):
    protocol: int
    session: str
    heartbeat_interval_ms: PositiveInt
    heartbeat_timeout_ms: PositiveInt
    max_frame_bytes: PositiveInt
    host_time_ms: float


class Ping(Payload):
    t0: float


class Pong(Payload):
    t0: float
    t1: float


class ErrorPayload(Payload):
    code: str = Field(min_length=1, max_length=64)
    message: str
    details: dict[str, Any] | None = None


class SceneApply(Payload):
    model_id: ModelId
    format: Literal["vrm"]
    name: str = Field(max_length=1024)
    path: str | None = None
    url: str | None = None
    size: NonNegativeInt
    sha256: Sha256Hex


class SceneApplied(Payload):
    model_id: ModelId
    vrm_version: Literal["0.x", "1.0"]
    expressions: list[str]
    unbound_expressions: list[str]
    mouth_ready: bool
    mesh_count: NonNegativeInt
    blend_shape_count: NonNegativeInt
    load_ms: float = Field(ge=0)


class SceneFailed(Payload):
    model_id: str
    code: str
    message: str


class StageSnapshotRequest(Payload):
    pass


class MouthBind(Payload):
    expression: str
    mesh: str
    blend_shape: str
    value: float


class WindowState(Payload):
    size: list[int] = Field(min_length=2, max_length=2)
    position: list[int] = Field(min_length=2, max_length=2)
    transparent: bool
    always_on_top: bool
    borderless: bool


class SpeechState(Payload):
    """What the stage's mouth is doing (``stage.state.speech``)."""

    utterance: str | None
    mouth: dict[str, float]
    """The viseme weights applied in the last rendered frame, aa ih ou ee oh."""
    blink: float
    queued_frames: NonNegativeInt
    sampled_at_ms: float
    """The stage-clock time the mouth weights were computed for (the last rendered frame, or the cancel)."""
    mouth_binds_missing: bool
    """The avatar lacks some of the five mouth binds (reported once as a ``stage.log`` warning)."""
    received_frames: NonNegativeInt = 0
    """Cue frames received since the stage started."""
    late_frames: NonNegativeInt = 0
    """Of those, the frames due at or before the stage's last rendered frame when they arrived (shown late or never):
    0 when the host's margin covers the trip to the stage."""
    least_ahead_ms: float | None = None
    """The least time before its first frame was due that a batch was read off the bridge (negative: after), which
    includes the wait for the stage's next frame (it reads the bridge once per frame); None before any."""


class StageState(Payload):
    model_id: str | None
    vrm_version: str | None
    avatar_node: str | None
    expressions: dict[str, float]
    mouth_binds: list[MouthBind]
    fps: float
    window: WindowState
    uptime_ms: float
    speech: SpeechState | None = None


class StageCaptureRequest(Payload):
    pass


class StageCaptured(Payload):
    """The frame the stage last rendered, as a PNG; scaled down by halves until the reply fits the frame limit."""

    format: Literal["png"]
    width: PositiveInt
    height: PositiveInt
    data: str = Field(min_length=1, description="the PNG bytes, base64")

    def png(self) -> bytes:
        """The PNG bytes; ``ValueError`` when ``data`` is not base64."""
        return base64.b64decode(self.data, validate=True)


class StageLog(Payload):
    level: Literal["error", "warning", "info"]
    message: str
    source: str | None = None


UtteranceId = Annotated[str, Field(min_length=1, max_length=64)]
Weight = Annotated[float, Field(ge=0.0, le=1.0)]
FrameRate = Annotated[float, Field(gt=0.0, le=240.0)]
CueFrame = Annotated[list[Weight], Field(min_length=5, max_length=5)]
MAX_CUE_FRAMES = 120
"""Frames per ``speech.cues`` batch: at 100 per second a batch is at most 1.2 s and about 4 KB."""


class SpeechBegin(Payload):
    """An utterance starts: its first sample is heard at ``host_time_ms`` (host clock) = ``stage_time_ms``."""

    utterance: UtteranceId
    host_time_ms: float
    stage_time_ms: float | None
    """The same moment on the stage's clock; None while the host has no clock-offset estimate yet."""
    frame_rate: FrameRate
    lead_ms: float = Field(ge=0.0, le=500.0)


class SpeechCues(Payload):
    """Mouth frames ``[aa, ih, ou, ee, oh]``; ``frames[i]`` is shown at ``stage_time_ms + i * 1000 / frame_rate``."""

    utterance: UtteranceId
    host_time_ms: float
    stage_time_ms: float | None
    frame_rate: FrameRate
    frames: list[CueFrame] = Field(min_length=1, max_length=MAX_CUE_FRAMES)


class SpeechEnd(Payload):
    """The utterance's cues are complete; the mouth closes after ``stage_time_ms`` (the end of the last frame)."""

    utterance: UtteranceId
    host_time_ms: float
    stage_time_ms: float | None


class SpeechCancel(Payload):
    """Close the mouth now and drop every queued frame (of ``utterance``, or of any when null)."""

    utterance: UtteranceId | None = None


class HostShutdown(Payload):
    reason: str = ""


class StageBye(Payload):
    pass


PAYLOAD_MODELS: dict[str, type[Payload]] = {
    "stage.hello": StageHello,
    "host.welcome": HostWelcome,
    "ping": Ping,
    "pong": Pong,
    "error": ErrorPayload,
    "scene.apply": SceneApply,
    "scene.applied": SceneApplied,
    "scene.failed": SceneFailed,
    "stage.snapshot": StageSnapshotRequest,
    "stage.state": StageState,
    "stage.capture": StageCaptureRequest,
    "stage.captured": StageCaptured,
    "stage.log": StageLog,
    "host.shutdown": HostShutdown,
    "stage.bye": StageBye,
    "speech.begin": SpeechBegin,
    "speech.cues": SpeechCues,
    "speech.end": SpeechEnd,
    "speech.cancel": SpeechCancel,
}

REPLY_TYPES: dict[str, frozenset[str]] = {
    "stage.hello": frozenset({"host.welcome"}),
    "ping": frozenset({"pong"}),
    "scene.apply": frozenset({"scene.applied", "scene.failed"}),
    "stage.snapshot": frozenset({"stage.state"}),
    "stage.capture": frozenset({"stage.captured"}),
    "host.shutdown": frozenset({"stage.bye"}),
}
"""Request type to the reply types that may answer it; ``error`` may answer any request."""

RESERVED_NAMESPACES = ("window.",)


def parse_payload(envelope: Envelope) -> Payload:
    """The typed payload of an envelope; ``unknown-type`` or ``invalid-payload`` otherwise."""
    model = PAYLOAD_MODELS.get(envelope.type)
    if model is None:
        reserved = envelope.type.startswith(RESERVED_NAMESPACES)
        note = " (a reserved namespace this version does not implement)" if reserved else ""
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {envelope.type!r}{note}", envelope.id)
    try:
        return model.model_validate(envelope.payload)
    except ValidationError as error:
        raise ProtocolError(
            ErrorCode.INVALID_PAYLOAD, f"{envelope.type}: {describe_validation_error(error)}", envelope.id
        ) from None


def make(type_: str, payload: Payload, *, id: str | None = None, re: str | None = None) -> Envelope:
    """An envelope for a payload, checking that the payload model matches the type."""
    expected = PAYLOAD_MODELS.get(type_)
    if expected is not None and not isinstance(payload, expected):
        raise TypeError(f"{type_} carries {expected.__name__}, not {type(payload).__name__}")
    return Envelope(type=type_, id=id, re=re, payload=payload.wire())


def error_reply(error: ProtocolError) -> Envelope:
    return make("error", ErrorPayload(code=error.code.value, message=error.message), re=error.re)
