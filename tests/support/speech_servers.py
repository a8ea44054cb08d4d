"""Local servers that speak the speech providers' wire formats over real loopback sockets.

- :class:`SpeechHttpServer`: OpenAI-compatible ``POST /v1/audio/speech`` on plain asyncio streams (HTTP/1.1, one
  request per connection), answering ``pcm`` (24 kHz s16le) or ``wav``, chunked or with a length, as a script says:
  errors with an OpenAI-style JSON body, slow answers, a body cut short.
- :class:`StreamingSpeechServer`: the unspeech/AIRI streaming protocol on websockets, with behaviours for the
  happy path, a buffered session, an upstream error, a close without ``session.finished``, silence, a refused
  handshake.

Audio is a constant tone whose level is derived from the text (:func:`level_of`), so a test can tell which text a
chunk of audio belongs to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

RATE = 24_000
SAMPLES_PER_CHAR = 240  # 10 ms of audio per character


def level_of(text: str) -> int:
    return sum(map(ord, text)) % 20_000 + 100


def tone_for(text: str) -> bytes:
    return np.full(len(text) * SAMPLES_PER_CHAR, level_of(text), dtype="<i2").tobytes()


def wav_header(rate: int, data_size: int, channels: int = 1) -> bytes:
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_size if data_size != 0xFFFFFFFF else 0xFFFFFFFF)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
        + b"data"
        + struct.pack("<I", data_size)
    )


@dataclass
class HttpReply:
    status: int = 200
    body: bytes | None = None
    """None: the tone for the request's input in its response_format."""
    delay_s: float = 0.0
    """Before the status line."""
    chunked: bool = True
    piece_delay_s: float = 0.0
    truncate_at: int | None = None
    """Announce the full length but close after this many body bytes."""
    content_type: str = "audio/pcm"


@dataclass
class SeenRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    attempt: int


Script = Callable[[SeenRequest], HttpReply]


class SpeechHttpServer:
    def __init__(self, script: Script | None = None) -> None:
        self.script: Script = script or (lambda _request: HttpReply())
        self.requests: list[SeenRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._server: asyncio.Server | None = None
        self._attempts: dict[str, int] = {}
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def __aenter__(self) -> SpeechHttpServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self._answer(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.in_flight -= 1
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        _method, path, _version = head[0].split(" ")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in head[1:] if ":" in line)}
        body = json.loads(await reader.readexactly(int(headers.get("content-length", "0"))) or b"{}")
        text = str(body.get("input", ""))
        self._attempts[text] = self._attempts.get(text, 0) + 1
        request = SeenRequest(path, headers, body, self._attempts[text])
        self.requests.append(request)
        reply = self.script(request)
        await asyncio.sleep(reply.delay_s)
        payload = reply.body
        content_type = reply.content_type
        if payload is None:
            audio = tone_for(text)
            if body.get("response_format") == "wav":
                payload, content_type = wav_header(RATE, 0xFFFFFFFF) + audio, "audio/wav"
            else:
                payload = audio
        reason = HTTPStatus(reply.status).phrase
        lines = [f"HTTP/1.1 {reply.status} {reason}", f"Content-Type: {content_type}", "Connection: close"]
        if reply.chunked and reply.truncate_at is None:
            lines.append("Transfer-Encoding: chunked")
        else:
            lines.append(f"Content-Length: {len(payload)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        if reply.truncate_at is not None:
            writer.write(payload[: reply.truncate_at])
            await writer.drain()
            return
        if not reply.chunked:
            writer.write(payload)
            await writer.drain()
            return
        piece = 4800  # 100 ms of 24 kHz audio
        for start in range(0, len(payload), piece):
            part = payload[start : start + piece]
            writer.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            await writer.drain()
            await asyncio.sleep(reply.piece_delay_s)
        writer.write(b"0\r\n\r\n")
        await writer.drain()


@dataclass
class StreamingBehaviour:
    mode: str = "happy"
    """happy | buffered | error | close-early | silent | refuse-401 | refuse-503"""
    frames_per_sentence: int = 2


@dataclass
class StreamingServer:
    behaviour: StreamingBehaviour = field(default_factory=StreamingBehaviour)
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[Headers] = field(default_factory=list)
    handshakes: int = 0
    voices: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    """unspeech's ``GET /api/voices?provider=<backend>`` on the same port: backend -> (status, JSON body)."""
    _server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/v1/audio/speech/stream"

    async def __aenter__(self) -> StreamingServer:
        self._server = await serve(self._session, "127.0.0.1", 0, process_request=self._check)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.startswith("/api/voices"):
            self.headers.append(request.headers)
            backend = parse_qs(urlsplit(request.path).query).get("provider", [""])[0]
            status, body = self.voices.get(backend, (404, b'{"errors": [{"detail": "unsupported backend"}]}'))
            headers = Headers({"Content-Type": "application/json", "Content-Length": str(len(body))})
            return Response(status, HTTPStatus(status).phrase, headers, body)
        self.handshakes += 1
        self.headers.append(request.headers)
        if self.behaviour.mode == "refuse-401":
            body = b'{"error": {"message": "invalid token"}}'
            return Response(401, "Unauthorized", Headers({"Content-Type": "application/json"}), body)
        if self.behaviour.mode == "refuse-503":
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "upstream busy\n")
        return None

    async def _session(self, connection: ServerConnection) -> None:
        """Reads every client frame as it arrives (so a cancel is seen mid-sentence) and acts on them in order."""
        frames: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        async def read() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for message in connection:
                    frame = json.loads(message)
                    self.received.append(frame)
                    frames.put_nowait(frame)
            frames.put_nowait(None)

        reader = asyncio.create_task(read())
        try:
            await self._act(connection, frames)
        except ConnectionClosed:
            pass
        finally:
            reader.cancel()

    async def _act(self, connection: ServerConnection, frames: asyncio.Queue[dict[str, Any] | None]) -> None:
        mode = self.behaviour.mode
        pending = ""
        sentences: list[str] = []
        while (frame := await frames.get()) is not None:
            event = frame.get("event")
            if event == "start":
                await connection.send(json.dumps({"event": "session.started"}))
            elif event == "text":
                pending += frame["text"]
                while "." in pending:
                    sentence, pending = pending.split(".", 1)
                    sentence = sentence.strip() + "."
                    sentences.append(sentence)
                    if mode == "buffered":
                        continue
                    await self._speak(connection, sentence)
                    if mode == "error":
                        error = {"event": "error", "code": "upstream_error", "message": "vendor quota exhausted"}
                        await connection.send(json.dumps(error))
                        return
                    if mode == "close-early":
                        await connection.close(1011, "upstream went away")
                        return
            elif event == "finish":
                if mode == "silent":
                    await connection.wait_closed()
                    return
                if pending.strip():
                    sentences.append(pending.strip())
                    if mode != "buffered":
                        await self._speak(connection, pending.strip())
                if mode == "buffered":
                    await self._speak(connection, " ".join(sentences))
                usage = {"text_words": sum(len(s.split()) for s in sentences)}
                finished = {"event": "session.finished", "payload": {"status_code": 20000000, "usage": usage}}
                await connection.send(json.dumps(finished))
                await connection.close()
                return
            elif event == "cancel":  # no session.finished follows a cancel
                await connection.close()
                return

    async def _speak(self, connection: ServerConnection, sentence: str) -> None:
        await connection.send(json.dumps({"event": "sentence.start", "payload": {"text": sentence}}))
        audio = tone_for(sentence)
        step = -(-len(audio) // self.behaviour.frames_per_sentence)
        step += step % 2
        for start in range(0, len(audio), step):
            await connection.send(audio[start : start + step])
            await asyncio.sleep(0.01)
        await connection.send(json.dumps({"event": "sentence.end", "payload": {"text": sentence}}))


@dataclass
class ChatScript:
    tokens: list[str]
    interval_s: float = 0.03
    mode: str = "complete"
    """complete | drop (connection closed mid-reply) | no-done (body ends without [DONE]) | refuse"""
    drop_after: int = 0


class SseChatServer:
    """OpenAI-compatible ``POST /v1/chat/completions`` with ``stream: true``, answering server-sent events."""

    def __init__(self, script: ChatScript, models: list[str] | None = None) -> None:
        self.script = script
        self.models = models or []
        """Answered to ``GET /v1/models`` (OpenAI's list form); a refusing script refuses it too."""
        self.requests: list[dict[str, Any]] = []
        self.last_token_sent_at: float | None = None
        self._server: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/v1"

    async def __aenter__(self) -> SseChatServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in head[1:] if ":" in h)}
            script = self.script
            if head[0].startswith("GET ") and script.mode != "refuse":
                listing = {"object": "list", "data": [{"id": model, "object": "model"} for model in self.models]}
                await self._send_json(writer, 200 if " /v1/models " in head[0] else 404, listing)
                return
            raw = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(json.loads(raw or b"{}"))
            if script.mode == "refuse":
                body = b'{"error": {"message": "Invalid API key", "type": "invalid_request_error"}}'
                writer.write(
                    b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
                return
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                b"Connection: close\r\n\r\n"
            )

            def chunk(text: str) -> bytes:
                data = text.encode()
                return f"{len(data):x}\r\n".encode() + data + b"\r\n"

            writer.write(chunk(": keep-alive comment\n\n"))
            for n, token in enumerate(script.tokens):
                if script.mode == "drop" and n == script.drop_after:
                    writer.transport.abort()  # the connection breaks mid-reply
                    return
                event = {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {"content": token}}],
                }
                writer.write(chunk(f"data: {json.dumps(event)}\n\n"))
                await writer.drain()
                self.last_token_sent_at = asyncio.get_running_loop().time()
                await asyncio.sleep(script.interval_s)
            if script.mode != "no-done":
                writer.write(chunk("data: [DONE]\n\n"))
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _send_json(writer: asyncio.StreamWriter, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        head = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: application/json\r\n"
        writer.write((head + f"Connection: close\r\nContent-Length: {len(data)}\r\n\r\n").encode() + data)
        await writer.drain()
