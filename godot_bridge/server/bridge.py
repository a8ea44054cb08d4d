"""The host's end of the stage bridge: a WebSocket server on loopback for exactly one authenticated stage.

The protocol rules live in :mod:`godot_bridge.protocol` (no I/O); this module only moves frames between them and
the socket, keeps per-request futures, and runs the heartbeat timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from godot_bridge.protocol import CloseCode, Envelope, ErrorCode, ProtocolError, decode, encode, make
from godot_bridge.protocol.clock import ClockOffsetEstimator
from godot_bridge.protocol.handshake import HelloAccepted, check_hello
from godot_bridge.protocol.heartbeat import Heartbeat
from godot_bridge.protocol.messages import (
    REPLY_TYPES,
    ErrorPayload,
    HostShutdown,
    HostWelcome,
    Payload,
    Ping,
    Pong,
    SceneApplied,
    SceneApply,
    SceneFailed,
    StageCaptured,
    StageCaptureRequest,
    StageHello,
    StageLog,
    StageSnapshotRequest,
    StageState,
    error_reply,
    parse_payload,
)
from godot_bridge.server.events import BridgeEvent, StageConnected, StageDisconnected, StageLogged
from godot_bridge.server.model_http import ModelResolver, handle_model_request, signed_model_url

log = logging.getLogger("godot_bridge.server")
stage_log = logging.getLogger("godot_bridge.stage")

STAGE_PATH = "/stage"
_HARD_CAP_FACTOR = 4
"""Frames up to this multiple of the limit are read and answered with ``frame-too-large``; larger ones close."""


FrameObserver = Callable[[Literal["in", "out"], str | bytes], None]
"""Sees every frame as it leaves (``out``) or arrives (``in``): the devtools' envelope log."""


@dataclass(frozen=True)
class BridgeConfig:
    host: str = "127.0.0.1"
    port: int = 0
    hello_timeout_s: float = 10.0
    heartbeat_interval_s: float = 1.0
    heartbeat_timeout_s: float = 5.0
    max_frame_bytes: int = 1 << 20
    request_timeout_s: float = 10.0
    scene_timeout_s: float = 60.0
    token: str | None = None
    """Fixed token for tests; ``None`` makes a fresh 256-bit one."""


@dataclass(frozen=True)
class StageInfo:
    hello: StageHello
    protocol: int
    session: str
    remote: str


class StageNotConnected(RuntimeError):
    def __init__(self) -> None:
        super().__init__("the Godot stage is not connected")


class RequestTimeout(TimeoutError):
    def __init__(self, type_: str, timeout_s: float) -> None:
        super().__init__(f"the stage did not answer {type_} within {timeout_s:g} s")
        self.type = type_


class StageError(RuntimeError):
    """The stage answered a request with ``error``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class SceneApplyFailed(RuntimeError):
    def __init__(self, failure: SceneFailed) -> None:
        super().__init__(f"{failure.code}: {failure.message}")
        self.code = failure.code
        self.message = failure.message


class _StagePeer:
    """One authenticated stage connection."""

    def __init__(self, ws: ServerConnection, info: StageInfo, server: BridgeServer) -> None:
        self.ws = ws
        self.info = info
        self.server = server
        self.pending: dict[str, tuple[str, asyncio.Future[Envelope]]] = {}
        self.ping_sent_at: dict[str, float] = {}
        self.send_limit = min(info.hello.buffers.inbound_bytes, server.config.max_frame_bytes)
        cfg = server.config
        self.heartbeat = Heartbeat.starting_at(server.now(), cfg.heartbeat_interval_s, cfg.heartbeat_timeout_s)
        self.close_code: int | None = None
        self.close_reason = ""

    async def send(self, envelope: Envelope) -> None:
        text = encode(envelope, self.send_limit)
        await self.ws.send(text)
        self.heartbeat.sent(self.server.now())
        self.server.observe_frame("out", text)

    async def close(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        await self.ws.close(code, reason.encode()[:120].decode(errors="ignore"))

    async def run(self) -> None:
        beat = asyncio.create_task(self._heartbeat(), name="stage-heartbeat")
        try:
            async for frame in self.ws:
                self.heartbeat.received(self.server.now())
                self.server.observe_frame("in", frame)
                await self._on_frame(frame)
        except ConnectionClosed:
            pass
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _on_frame(self, frame: str | bytes) -> None:
        try:
            envelope = decode(frame, self.server.config.max_frame_bytes)
            if envelope.is_reply:
                self._on_reply(envelope)
            elif envelope.type == "ping" and envelope.id is not None:
                ping = parse_payload(envelope)
                assert isinstance(ping, Ping)
                await self.send(make("pong", Pong(t0=ping.t0, t1=self.server.now_ms()), re=envelope.id))
            elif envelope.type == "stage.log" and envelope.id is None:
                entry = parse_payload(envelope)
                assert isinstance(entry, StageLog)
                self.server.on_stage_log(entry)
            else:
                parse_payload(envelope)  # an unknown type answers unknown-type, a bad payload invalid-payload
                raise ProtocolError(
                    ErrorCode.UNKNOWN_TYPE, f"the host does not handle {envelope.type!r} from a stage", envelope.id
                )
        except ProtocolError as error:
            log.warning("stage sent a bad frame: %s", error)
            await self.send(error_reply(error))

    def _on_reply(self, envelope: Envelope) -> None:
        assert envelope.re is not None
        entry = self.pending.get(envelope.re)
        if entry is None:
            log.warning("reply %s re=%s matches no pending request (late or unknown)", envelope.type, envelope.re)
            return
        request_type, future = entry
        if future.done():
            return
        if envelope.re in self.ping_sent_at:
            self._on_pong(envelope)
        allowed = REPLY_TYPES.get(request_type, frozenset()) | {"error"}
        if envelope.type not in allowed:
            future.set_exception(
                ProtocolError(ErrorCode.INVALID_PAYLOAD, f"{envelope.type} cannot answer {request_type}")
            )
            return
        try:
            parse_payload(envelope)
        except ProtocolError as error:
            future.set_exception(error)
            return
        future.set_result(envelope)

    def _on_pong(self, envelope: Envelope) -> None:
        t0 = self.ping_sent_at.pop(envelope.re or "")
        if envelope.type == "pong":
            with contextlib.suppress(ProtocolError):
                pong = parse_payload(envelope)
                assert isinstance(pong, Pong)
                self.server.clock.add(t0, pong.t1, self.server.now_ms())

    async def _heartbeat(self) -> None:
        while True:
            now = self.server.now()
            action = self.heartbeat.due(now)
            if action == "timeout":
                silent = now - self.heartbeat.last_received
                log.warning("stage silent for %.1f s: closing", silent)
                await self.close(CloseCode.HEARTBEAT_TIMEOUT, f"no frame from the stage for {silent:.1f} s")
                return
            if action == "ping":
                asyncio.create_task(self._ping())  # noqa: RUF006 - the pending map owns its outcome
                self.heartbeat.sent(now)
            await asyncio.sleep(self.heartbeat.next_check(self.server.now()) + 0.01)

    async def _ping(self) -> None:
        with contextlib.suppress(Exception):
            await self.server.request("ping", Ping(t0=self.server.now_ms()), timeout=self.heartbeat.timeout_s)


class BridgeServer:
    """Serves one stage on 127.0.0.1. Use :meth:`start`, then :meth:`request` and friends, then :meth:`close`."""

    def __init__(
        self,
        config: BridgeConfig | None = None,
        *,
        resolve_model: ModelResolver | None = None,
        origin_allowed: Callable[[str], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or BridgeConfig()
        self.token = self.config.token or secrets.token_urlsafe(32)
        self.clock = ClockOffsetEstimator()
        self.now = clock
        self._resolve_model = resolve_model or (lambda _sha: None)
        self._origin_allowed = origin_allowed or (lambda _origin: False)
        self._server: Server | None = None
        self._peer: _StagePeer | None = None
        self._connected = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._disconnected.set()
        self._listeners: list[Callable[[BridgeEvent], None]] = []
        self._frame_observers: list[FrameObserver] = []
        self._ids = itertools.count(1)
        self._sessions = itertools.count(1)

    # -- lifecycle -------------------------------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self.config
        self._server = await serve(
            self._handle,
            cfg.host,
            cfg.port,
            process_request=self._process_request,
            max_size=cfg.max_frame_bytes * _HARD_CAP_FACTOR,
            ping_interval=None,  # the protocol's own heartbeat also measures the clock offset
            compression=None,  # Godot's WebSocketPeer does not negotiate permessage-deflate
            close_timeout=1.0,  # a local stage answers a close at once; a frozen one must not hold us 10 s
            server_header=None,
        )

    async def close(self) -> None:
        if self._peer is not None:
            await self._peer.close(CloseCode.GOING_AWAY, "the host is shutting down")
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> BridgeServer:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the bridge server is not started")
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def url(self) -> str:
        return f"ws://{self.config.host}:{self.port}{STAGE_PATH}"

    def model_url(self, sha256: str) -> str:
        return signed_model_url(self.config.host, self.port, sha256, self.token)

    def now_ms(self) -> float:
        return self.now() * 1000.0

    # -- state and events ------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._peer is not None

    @property
    def stage(self) -> StageInfo | None:
        return None if self._peer is None else self._peer.info

    def subscribe(self, listener: Callable[[BridgeEvent], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def observe_frames(self, observer: FrameObserver) -> Callable[[], None]:
        """Call ``observer(direction, frame)`` for every frame to (``out``) and from (``in``) the stage (devtools)."""
        self._frame_observers.append(observer)
        return lambda: self._frame_observers.remove(observer) if observer in self._frame_observers else None

    def observe_frame(self, direction: Literal["in", "out"], frame: str | bytes) -> None:
        for observer in list(self._frame_observers):
            try:
                observer(direction, frame)
            except Exception:
                log.exception("a frame observer failed")

    def _emit(self, event: BridgeEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("bridge event listener failed on %s", type(event).__name__)

    def on_stage_log(self, entry: StageLog) -> None:
        level = {"error": logging.ERROR, "warning": logging.WARNING}.get(entry.level, logging.INFO)
        stage_log.log(level, "%s%s", entry.message, f" ({entry.source})" if entry.source else "")
        self._emit(StageLogged(entry.level, entry.message, entry.source))

    async def wait_connected(self, timeout: float) -> StageInfo:
        async with asyncio.timeout(timeout):
            while True:
                await self._connected.wait()
                if self._peer is not None:
                    return self._peer.info

    async def wait_disconnected(self) -> None:
        await self._disconnected.wait()

    # -- requests --------------------------------------------------------------------------------------------
    async def request(self, type_: str, payload: Payload | dict[str, Any], timeout: float | None = None) -> Envelope:
        """Send a request and return its reply; an ``error`` reply raises :class:`StageError`."""
        peer = self._peer
        if peer is None:
            raise StageNotConnected
        timeout = self.config.request_timeout_s if timeout is None else timeout
        request_id = f"h-{next(self._ids)}"
        future: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        peer.pending[request_id] = (type_, future)
        if type_ == "ping" and isinstance(payload, Ping):
            peer.ping_sent_at[request_id] = payload.t0
        body = payload.wire() if isinstance(payload, Payload) else dict(payload)
        try:
            await peer.send(Envelope(type=type_, id=request_id, payload=body))
            try:
                reply = await asyncio.wait_for(future, timeout)
            except TimeoutError:
                raise RequestTimeout(type_, timeout) from None
        finally:
            peer.pending.pop(request_id, None)
            peer.ping_sent_at.pop(request_id, None)
        if reply.type == "error":
            error = ErrorPayload.model_validate(reply.payload)
            raise StageError(error.code, error.message)
        return reply

    async def send_event(self, type_: str, payload: Payload | dict[str, Any]) -> None:
        """Send an event (no reply expected), for example the ``speech.*`` cue stream; a plain dict is sent as it
        is (the devtools' hand-written events)."""
        peer = self._peer
        if peer is None:
            raise StageNotConnected
        await peer.send(make(type_, payload) if isinstance(payload, Payload) else Envelope(type=type_, payload=payload))

    async def apply_scene(self, scene: SceneApply, timeout: float | None = None) -> SceneApplied:
        reply = await self.request("scene.apply", scene, timeout or self.config.scene_timeout_s)
        if reply.type == "scene.failed":
            raise SceneApplyFailed(SceneFailed.model_validate(reply.payload))
        return SceneApplied.model_validate(reply.payload)

    async def snapshot(self, timeout: float | None = None) -> StageState:
        reply = await self.request("stage.snapshot", StageSnapshotRequest(), timeout)
        return StageState.model_validate(reply.payload)

    async def capture(self, timeout: float | None = None) -> StageCaptured:
        """The stage's next rendered frame as a PNG (``StageCaptured.png()``)."""
        reply = await self.request("stage.capture", StageCaptureRequest(), timeout)
        return StageCaptured.model_validate(reply.payload)

    async def shutdown_stage(self, reason: str = "the host asked", timeout: float = 1.0) -> None:
        """Ask the stage to quit. Never raises: a stage that is gone or mute is the process manager's problem."""
        with contextlib.suppress(StageNotConnected, RequestTimeout, StageError, ProtocolError, ConnectionClosed):
            await self.request("host.shutdown", HostShutdown(reason=reason), timeout)

    # -- connections -----------------------------------------------------------------------------------------
    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        origin = request.headers.get("Origin")
        if path == STAGE_PATH:
            if origin is not None and not self._origin_allowed(origin):
                log.warning("refused a stage connection from browser origin %r", origin)
                return connection.respond(403, "This origin may not connect to the stage bridge.\n")
            return None
        if path.startswith("/models/"):
            allowed_origin = origin if origin is not None and self._origin_allowed(origin) else None
            return await handle_model_request(request, self.token, self._resolve_model, allowed_origin)
        return connection.respond(404, "Not found.\n")

    async def _handle(self, ws: ServerConnection) -> None:
        if self._peer is not None:
            await ws.close(CloseCode.PEER_BUSY, "another stage is already connected")
            return
        try:
            first = await asyncio.wait_for(ws.recv(), self.config.hello_timeout_s)
        except TimeoutError:
            await ws.close(CloseCode.HELLO_TIMEOUT, f"no stage.hello within {self.config.hello_timeout_s:g} s")
            return
        except ConnectionClosed:
            return
        self.observe_frame("in", first)
        verdict = check_hello(first, self.token, self.config.max_frame_bytes)
        if not isinstance(verdict, HelloAccepted):
            log.warning("refused a stage: %s", verdict.reason)
            with contextlib.suppress(ConnectionClosed):
                await ws.send(encode(verdict.error, self.config.max_frame_bytes))
            await ws.close(verdict.close_code, verdict.reason[:120])
            return
        if self._peer is not None:  # another stage finished its hello while this one was reading
            await ws.close(CloseCode.PEER_BUSY, "another stage is already connected")
            return
        remote = ws.remote_address
        info = StageInfo(
            hello=verdict.hello,
            protocol=verdict.protocol,
            session=f"s{next(self._sessions)}-{secrets.token_hex(4)}",
            remote=f"{remote[0]}:{remote[1]}" if remote else "?",
        )
        peer = _StagePeer(ws, info, self)
        self._peer = peer
        self._disconnected.clear()
        try:
            cfg = self.config
            welcome = HostWelcome(
                protocol=info.protocol,
                session=info.session,
                heartbeat_interval_ms=round(cfg.heartbeat_interval_s * 1000),
                heartbeat_timeout_ms=round(cfg.heartbeat_timeout_s * 1000),
                max_frame_bytes=cfg.max_frame_bytes,
                host_time_ms=self.now_ms(),
            )
            await peer.send(make("host.welcome", welcome, re=verdict.request_id))
            engine = verdict.hello.engine
            log.info("stage connected: %s %s on %s (%s)", engine.name, engine.version, engine.platform, info.session)
            self._connected.set()
            self._emit(StageConnected(info))
            await peer.run()
        except ConnectionClosed:
            pass
        finally:
            self._peer = None
            self._connected.clear()
            for _type, future in peer.pending.values():
                if not future.done():
                    future.set_exception(StageNotConnected())
            code = peer.close_code if peer.close_code is not None else ws.close_code
            reason = peer.close_reason or ws.close_reason or ""
            log.info("stage disconnected: code=%s %s", code, reason)
            self._disconnected.set()
            self._emit(StageDisconnected(code, reason))
