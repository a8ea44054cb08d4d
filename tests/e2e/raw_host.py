"""A deliberately dumb bridge host for probing the stage: it speaks raw frames, so tests can send what the real
``BridgeServer`` never would (bad JSON, binary frames, wrong versions, no welcome at all).

It accepts one stage on ``/stage``, records every frame the stage sends, answers the stage's pings, and serves model
bytes over HTTP on the same port (``/models/<sha256>.vrm``, any origin) so the web stage can download them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

Frame = dict[str, Any]


class RawHost:
    def __init__(self, *, welcome: bool = True, heartbeat_interval_ms: int = 1000, heartbeat_timeout_ms: int = 5000):
        self.welcome = welcome
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.heartbeat_timeout_ms = heartbeat_timeout_ms
        self.token = secrets.token_urlsafe(32)
        self.frames: list[Frame] = []
        """Every frame the stage sent, decoded, in order (a ``_received`` key holds the loop time)."""
        self.models: dict[str, bytes] = {}
        self.closed = asyncio.Event()
        self._connection: ServerConnection | None = None
        self._server: Server | None = None
        self._next_id = 0

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/stage"

    def model_url(self, data: bytes) -> tuple[str, str]:
        """Serve ``data``; returns (url, sha256)."""
        sha = hashlib.sha256(data).hexdigest()
        self.models[sha] = data
        return self.url.replace("ws://", "http://").replace("/stage", f"/models/{sha}.vrm"), sha

    async def start(self) -> None:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, process_request=self._http, max_size=4 << 20, ping_interval=None
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.startswith("/models/"):
            sha = request.path.split("?", 1)[0].removeprefix("/models/").removesuffix(".vrm")
            body = self.models.get(sha)
            status, reason = (200, "OK") if body is not None else (404, "Not Found")
            body = body if body is not None else b"no such model\n"
            headers = Headers(
                [
                    ("Content-Type", "model/gltf-binary"),
                    ("Content-Length", str(len(body))),
                    ("Access-Control-Allow-Origin", "*"),
                ]
            )
            return Response(status, reason, headers, body)
        if request.path != "/stage":
            return connection.respond(404, "not found\n")
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        self._connection = connection
        loop = asyncio.get_running_loop()
        try:
            async for raw in connection:
                try:
                    frame = json.loads(raw)
                except ValueError:
                    frame = {"_undecodable": raw}
                frame["_received"] = loop.time()
                self.frames.append(frame)
                await self._react(frame)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    async def _react(self, frame: Frame) -> None:
        kind, request_id = frame.get("type"), frame.get("id")
        if kind == "stage.hello" and self.welcome:
            welcome = {
                "protocol": 1,
                "session": "raw",
                "heartbeatIntervalMs": self.heartbeat_interval_ms,
                "heartbeatTimeoutMs": self.heartbeat_timeout_ms,
                "maxFrameBytes": 1 << 20,
                "hostTimeMs": asyncio.get_running_loop().time() * 1000,
            }
            await self.send("host.welcome", welcome, re=request_id)
        elif kind == "ping" and request_id is not None:
            await self.send("pong", {"t0": frame["payload"]["t0"], "t1": 0.0}, re=request_id)

    async def send_raw(self, data: str | bytes) -> None:
        assert self._connection is not None
        await self._connection.send(data)

    async def send(self, kind: str, payload: dict[str, Any], *, id: str | None = None, re: str | None = None) -> None:
        frame: Frame = {"v": 1, "type": kind, "payload": payload}
        if id is not None:
            frame["id"] = id
        if re is not None:
            frame["re"] = re
        await self.send_raw(json.dumps(frame))

    def new_id(self) -> str:
        self._next_id += 1
        return f"h-{self._next_id}"

    async def wait_for(self, predicate: Callable[[Frame], bool], timeout: float = 10.0) -> Frame:
        """The first recorded frame (old or new) matching ``predicate``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for frame in self.frames:
                if predicate(frame):
                    return frame
            if asyncio.get_running_loop().time() > deadline:
                kinds = [frame.get("type") for frame in self.frames]
                raise TimeoutError(f"no matching frame within {timeout} s; got {kinds}")
            await asyncio.sleep(0.02)

    async def reply_to(self, request_id: str, timeout: float = 10.0) -> Frame:
        return await self.wait_for(lambda frame: frame.get("re") == request_id, timeout)

    async def request(self, kind: str, payload: dict[str, Any], timeout: float = 10.0) -> Frame:
        request_id = self.new_id()
        await self.send(kind, payload, id=request_id)
        return await self.reply_to(request_id, timeout)

    async def wait_welcomed(self, timeout: float = 30.0) -> Frame:
        return await self.wait_for(lambda frame: frame.get("type") == "stage.hello", timeout)
