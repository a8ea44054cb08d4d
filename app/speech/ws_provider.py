"""The ``bidirectional-ws`` transport: the streaming protocol of unspeech and AIRI (audio-speech-stream v1).

One WebSocket connection is one session. Client frames (JSON text): ``start`` (model, voice, response_format,
extra_body), ``text``, ``finish``, ``cancel``. Server frames: ``session.started``, ``sentence.start``,
``sentence.end``, ``subtitle``, ``session.finished`` (with usage), ``error`` (code, message) as JSON text, and audio
as binary frames without a header (s16le at the requested rate for ``pcm``). Raw text goes upstream unsegmented:
the server owns sentence splitting. A close without ``session.finished`` is an error: truncated audio is never
mistaken for a short success. Differences from AIRI: audio is forwarded as it arrives rather than per sentence, and
``subtitle`` text only fills a sentence that had none.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from app.speech.events import (
    AudioEvent,
    ErrorEvent,
    SentenceEvent,
    SessionEvent,
    SpeechProviderError,
)
from app.speech.providers import ApiKey, SpeechSettings, error_snippet, scrub
from app.speech.session import EventChannel, SpeechSession, StatsRecorder

log = logging.getLogger("app.speech.ws")

STREAM_RATE = 24_000
RECOVERABLE_ERRORS = frozenset({"invalid_event", "unknown_event"})


class WsSpeechSession(SpeechSession):
    def __init__(
        self,
        settings: SpeechSettings,
        api_key: ApiKey | None,
        retry_backoff_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not settings.base_url or not settings.model or not settings.voice:
            raise SpeechProviderError("not-configured", "the streaming provider needs a URL, a model and a voice")
        self._settings = settings
        self._api_key = api_key
        self._backoff = retry_backoff_s
        self.request_id = f"tts-ws-{secrets.token_hex(4)}"
        self._channel = EventChannel(16)
        self._stats = StatsRecorder(clock)
        self._outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._finished = False
        self._cancelled = False
        self._index = -1  # the sentence being spoken
        self._sample = 0
        self._announced = False  # whether sentence `_index` came with its text
        self._task = asyncio.create_task(self._run(), name=self.request_id)

    # -- interface -------------------------------------------------------------------------------------------------

    async def append_text(self, text: str) -> None:
        if self._cancelled or not text:  # whitespace is forwarded: "hello" + " " + "world"
            return
        if self._finished:
            raise RuntimeError("append_text after finish")
        self._stats.text(text)
        self._outbox.put_nowait({"event": "text", "text": text})

    async def finish(self) -> None:
        if self._cancelled or self._finished:
            return
        self._finished = True
        self._outbox.put_nowait({"event": "finish"})

    async def cancel(self, reason: str = "cancelled") -> None:
        if self._cancelled or self._channel.closed:
            return
        self._cancelled = True
        log.info("[%s] cancelled (%s)", self.request_id, reason)
        self._outbox.put_nowait({"event": "cancel"})
        self._outbox.put_nowait(None)  # the sender sends cancel, then closes
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 0.2)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._channel.close(self._stats.done(cancelled=True), drop_queued=True)

    def events(self) -> AsyncIterator[SessionEvent]:
        return self._channel.__aiter__()

    # -- connection ------------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            connection = await self._connect()
        except SpeechProviderError as error:
            await self._end_with_error(error.code, error.message, error.retriable)
            return
        async with connection:
            sender = asyncio.create_task(self._send_all(connection))
            try:
                await self._receive_all(connection)
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender

    async def _connect(self) -> ClientConnection:
        settings = self._settings
        headers = {"X-Request-Id": self.request_id}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.reveal()}"
        assert settings.base_url is not None
        for attempt in (1, 2):
            log.info("[%s] connecting to %s (attempt %d)", self.request_id, settings.base_url, attempt)
            try:
                return await connect(
                    settings.base_url,
                    additional_headers=headers,
                    open_timeout=settings.timeout_s,
                    close_timeout=1.0,
                    max_size=2**22,
                )
            except InvalidStatus as error:
                status = error.response.status_code
                body = error.response.body.decode("utf-8", "replace") if error.response.body else ""
                reason = error_snippet(body, self._api_key, error.response.reason_phrase)
                message = f"the server refused the connection with {status}: {reason} (request {self.request_id})"
                if status < 500:
                    raise SpeechProviderError(f"http-{status}", message, retriable=False) from None
                failure = SpeechProviderError(f"http-{status}", message, retriable=True)
            except (OSError, TimeoutError, WebSocketException) as error:
                detail = scrub(str(error), self._api_key)
                message = f"cannot connect: {type(error).__name__} {detail} (request {self.request_id})"
                failure = SpeechProviderError("network", message, retriable=True)
            log.warning("[%s] %s", self.request_id, failure.message)
            if attempt == 2 or self._cancelled:
                raise failure
            await asyncio.sleep(self._backoff)
        raise AssertionError("unreachable")

    async def _send_all(self, connection: ClientConnection) -> None:
        start = {
            "event": "start",
            "model": self._settings.model,
            "voice": self._settings.voice,
            "response_format": "pcm",
            "extra_body": {"audio": {"sample_rate": STREAM_RATE}, "speed": self._settings.speed},
        }
        await connection.send(json.dumps(start))
        while True:
            frame = await self._outbox.get()
            if frame is None:
                await connection.close()
                return
            with contextlib.suppress(ConnectionClosed):
                await connection.send(json.dumps(frame))

    async def _receive_all(self, connection: ClientConnection) -> None:
        while True:
            try:
                if self._finished:
                    message = await asyncio.wait_for(connection.recv(), self._settings.timeout_s)
                else:
                    message = await connection.recv()
            except TimeoutError:
                await self._end_with_error("timeout", f"no answer within {self._settings.timeout_s:g} s", True)
                return
            except ConnectionClosed as closed:
                if not self._cancelled:
                    reason = closed.rcvd.reason if closed.rcvd and closed.rcvd.reason else "no reason"
                    code = closed.rcvd.code if closed.rcvd else "none"
                    await self._end_with_error(
                        "streaming_tts_closed", f"the server closed before session.finished ({code}: {reason})", True
                    )
                return
            if isinstance(message, bytes):
                await self._on_audio(message)
            elif await self._on_frame(message):
                return

    async def _on_audio(self, data: bytes) -> None:
        self._index = max(self._index, 0)
        pcm = np.frombuffer(data[: len(data) - len(data) % 2], dtype="<i2").astype(np.int16)
        event = AudioEvent(self._index, pcm, STREAM_RATE, self._sample)
        self._sample = event.end_sample
        self._stats.audio(event)
        await self._channel.put(event)

    async def _on_frame(self, message: str) -> bool:
        """Handles one JSON frame; True when the session ended."""
        try:
            frame = json.loads(message)
            kind = frame.get("event")
        except (ValueError, AttributeError):
            log.warning("[%s] ignored a frame that is not a JSON object", self.request_id)
            return False
        payload = frame.get("payload") if isinstance(frame.get("payload"), dict) else {}
        if kind == "sentence.start":
            self._index += 1
            text = str(payload.get("text") or "")
            self._announced = bool(text)
            await self._channel.put(SentenceEvent(self._index, text, text))
        elif kind in ("subtitle", "sentence.end") and not self._announced and payload.get("text"):
            text = str(payload["text"])
            self._announced = True
            await self._channel.put(SentenceEvent(max(self._index, 0), text, text))
        elif kind == "session.finished":
            log.info("[%s] finished (usage %s)", self.request_id, payload.get("usage"))
            self._channel.close(self._stats.done(), drop_queued=False)
            return True
        elif kind == "error":
            code = str(frame.get("code") or "streaming_tts_error")
            text = scrub(str(frame.get("message") or code), self._api_key)
            if code not in RECOVERABLE_ERRORS:
                await self._end_with_error(code, text, False)
                return True
            log.warning("[%s] server error %s: %s (continuing)", self.request_id, code, text)
            await self._channel.put(ErrorEvent(code, text, True))
        return False

    async def _end_with_error(self, code: str, message: str, retriable: bool) -> None:
        if self._cancelled:
            return
        if self.request_id not in message:
            message = f"{message} (request {self.request_id})"
        log.warning("[%s] %s: %s", self.request_id, code, message)
        await self._channel.put(ErrorEvent(code, message, retriable))
        self._channel.close(self._stats.done(failed=True), drop_queued=False)
