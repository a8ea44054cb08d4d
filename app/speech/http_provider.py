"""The ``http`` transport: OpenAI-compatible ``POST {base_url}/audio/speech``, one request per segment.

Covers OpenAI, unspeech, Kokoro-FastAPI and similar servers. The body is streamed as it arrives: ``pcm`` is raw
s16le mono at 24 kHz (OpenAI's definition); ``wav`` is parsed as it streams (a streaming server may write 0 or
0xFFFFFFFF as the data size).

Error policy: each attempt has a timeout; a 4xx answer is not retried and its reason (a short snippet of the
provider's message) is shown; a 5xx, a timeout or a network failure is retried once after a backoff, unless audio of
that request was already delivered (it has been played; repeating it would be worse). Every request has an id that
is in every log line and error about it. The API key never appears in either.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import struct
from collections.abc import AsyncIterator

import httpx
import numpy as np

from app.speech.events import SpeechProviderError
from app.speech.providers import ApiKey, SpeechSettings, error_snippet, scrub
from app.speech.session import SynthChunk

log = logging.getLogger("app.speech.http")

PCM_RATE = 24_000


class _Retry(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PcmStream:
    """Raw s16le mono: bytes in, samples out, an odd byte kept for the next piece."""

    def __init__(self, sample_rate: int = PCM_RATE) -> None:
        self.sample_rate = sample_rate
        self._carry = b""

    def feed(self, data: bytes) -> np.ndarray[tuple[int], np.dtype[np.int16]]:
        data = self._carry + data
        usable = len(data) - len(data) % 2
        self._carry = data[usable:]
        return np.frombuffer(data[:usable], dtype="<i2").astype(np.int16)

    def finish(self) -> None:
        if self._carry:
            raise SpeechProviderError("truncated-audio", "the audio ended in the middle of a sample")


class WavStream:
    """A RIFF/WAVE body parsed while it streams: 16-bit PCM, any rate, channels mixed down to mono."""

    def __init__(self) -> None:
        self._header = b""
        self._pcm: PcmStream | None = None
        self._channels = 1
        self._data_left: int | None = None

    @property
    def sample_rate(self) -> int:
        return self._pcm.sample_rate if self._pcm else 0

    def feed(self, data: bytes) -> np.ndarray[tuple[int], np.dtype[np.int16]]:
        if self._pcm is None:
            self._header += data
            data = self._parse_header()
            if self._pcm is None:
                return np.zeros(0, dtype=np.int16)
        if self._data_left is not None:
            data = data[: self._data_left]
            self._data_left -= len(data)
        samples = self._pcm.feed(data)
        if self._channels > 1:
            frames = len(samples) // self._channels  # whole frames: the data size is a multiple of the frame size
            samples = samples[: frames * self._channels].reshape(frames, self._channels).mean(axis=1).astype(np.int16)
        return samples

    def _parse_header(self) -> bytes:
        head = self._header
        if len(head) >= 12 and (head[:4] != b"RIFF" or head[8:12] != b"WAVE"):
            raise SpeechProviderError("bad-audio", "the provider's wav answer is not RIFF/WAVE")
        position = 12
        rate = 0
        while len(head) >= position + 8:
            chunk_id, size = head[position : position + 4], struct.unpack("<I", head[position + 4 : position + 8])[0]
            body_start = position + 8
            if chunk_id == b"data":
                if not rate:
                    raise SpeechProviderError("bad-audio", "wav data came before its format")
                self._pcm = PcmStream(rate)
                if size not in (0, 0xFFFFFFFF):  # streaming servers leave the size open
                    self._data_left = size
                self._header = b""
                return head[body_start:]
            if len(head) < body_start + size:
                return b""
            if chunk_id == b"fmt ":
                fmt, channels, rate, _, _, bits = struct.unpack("<HHIIHH", head[body_start : body_start + 16])
                if fmt not in (1, 0xFFFE) or bits != 16:
                    raise SpeechProviderError("bad-audio", f"unsupported wav encoding (format {fmt}, {bits} bits)")
                self._channels = channels
            position = body_start + size + size % 2
        return b""

    def finish(self) -> None:
        if self._pcm is None:
            raise SpeechProviderError("truncated-audio", "the wav answer ended before its audio")
        if self._data_left:
            raise SpeechProviderError("truncated-audio", f"the wav answer lacks {self._data_left} bytes of audio")
        self._pcm.finish()


class HttpSpeechSynthesizer:
    """An :class:`~app.speech.session.UtteranceSynthesizer` over OpenAI-compatible ``/audio/speech``."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: SpeechSettings,
        api_key: ApiKey | None,
        retry_backoff_s: float = 0.5,
    ) -> None:
        if not settings.base_url or not settings.model or not settings.voice:
            raise SpeechProviderError("not-configured", "the speech provider needs a base URL, a model and a voice")
        self._client = client
        self._settings = settings
        self._api_key = api_key
        self._backoff = retry_backoff_s

    async def synthesize(self, text: str) -> AsyncIterator[SynthChunk]:
        request_id = f"tts-{secrets.token_hex(4)}"
        for attempt in (1, 2):
            delivered = False
            try:
                async for chunk in self._attempt(text, request_id, attempt):
                    delivered = True
                    yield chunk
                return
            except _Retry as failure:
                final = delivered or attempt == 2
                log.warning(
                    "[%s] attempt %d failed: %s%s",
                    request_id,
                    attempt,
                    failure.message,
                    "" if final else f"; retrying in {self._backoff:g} s",
                )
                if final:
                    reason = failure.message + (" after part of the audio" if delivered else "")
                    raise SpeechProviderError(
                        failure.code, f"{reason} (request {request_id})", retriable=True
                    ) from None
                await asyncio.sleep(self._backoff)

    async def _attempt(self, text: str, request_id: str, attempt: int) -> AsyncIterator[SynthChunk]:
        settings = self._settings
        body = {
            "model": settings.model,
            "input": text,
            "voice": settings.voice,
            "response_format": settings.response_format or "pcm",
            "speed": settings.speed,
        }
        headers = {"X-Request-Id": request_id}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.reveal()}"
        url = f"{settings.base_url}/audio/speech"
        log.info("[%s] POST %s (%d characters, attempt %d)", request_id, url, len(text), attempt)
        decoder: PcmStream | WavStream = WavStream() if body["response_format"] == "wav" else PcmStream()
        try:
            async with self._client.stream(
                "POST", url, json=body, headers=headers, timeout=httpx.Timeout(settings.timeout_s)
            ) as response:
                if response.status_code >= 400:
                    reason = await self._reason(response)
                    message = f"the provider answered {response.status_code}: {reason}"
                    if response.status_code < 500:
                        log.warning("[%s] %s (not retried)", request_id, message)
                        raise SpeechProviderError(
                            f"http-{response.status_code}", f"{message} (request {request_id})", retriable=False
                        )
                    raise _Retry(f"http-{response.status_code}", message)
                samples = 0
                async for data in response.aiter_bytes():
                    pcm = decoder.feed(data)
                    if len(pcm):
                        samples += len(pcm)
                        yield SynthChunk(pcm, decoder.sample_rate)
                decoder.finish()
                log.info("[%s] done: %d samples at %d Hz", request_id, samples, decoder.sample_rate)
        except httpx.TimeoutException:
            raise _Retry("timeout", f"no answer within {settings.timeout_s:g} s") from None
        except httpx.TransportError as error:
            raise _Retry("network", f"{type(error).__name__}: {scrub(str(error), self._api_key)}") from None
        except SpeechProviderError as error:
            if error.code == "truncated-audio":
                raise _Retry(error.code, error.message) from None
            raise

    async def _reason(self, response: httpx.Response) -> str:
        raw = b""
        async for data in response.aiter_bytes():
            raw += data
            if len(raw) > 4096:
                break
        return error_snippet(raw.decode("utf-8", "replace"), self._api_key, response.reason_phrase)
