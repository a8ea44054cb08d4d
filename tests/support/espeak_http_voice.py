"""A remote voice without phoneme marks for calibration tests: an OpenAI-compatible speech server (the loopback
:class:`~tests.support.speech_servers.SpeechHttpServer`) answering each request with real espeak-ng speech of its
text, on an event loop of its own thread, so that its synthesis never stalls the loop of the app under test."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Collection
from types import TracebackType

from app.speech.espeak import EspeakEngine
from app.speech.sink import LinearResampler
from tests.support.speech_servers import HttpReply, SeenRequest, SpeechHttpServer


class EspeakHttpVoice:
    """``with EspeakHttpVoice() as voice:`` serves ``voice.base_url``; ``voice.requests`` are the speech requests
    seen. A voice named in ``refused`` is answered 401 (an OpenAI-style error); each answer waits ``delay_s``."""

    def __init__(self, delay_s: float = 0.0, refused: Collection[str] = ()) -> None:
        self.delay_s = delay_s
        self.refused = set(refused)
        self._engine = EspeakEngine()
        self._server: SpeechHttpServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return self._server.base_url

    @property
    def requests(self) -> list[SeenRequest]:
        assert self._server is not None
        return [r for r in list(self._server.requests) if r.path == "/v1/audio/speech"]

    def voices(self) -> list[str]:
        """The voice of each speech request, in the order they came."""
        return [str(r.body.get("voice")) for r in self.requests]

    def _answer(self, request: SeenRequest) -> HttpReply:
        if request.body.get("voice") in self.refused:
            body = json.dumps({"error": {"message": "Incorrect API key provided"}}).encode()
            return HttpReply(status=401, body=body, chunked=False, content_type="application/json")
        spoken = self._engine.synthesize_blocking(str(request.body["input"]), "en-us")
        pcm = LinearResampler(spoken.sample_rate, 24_000).process(spoken.pcm).astype("<i2").tobytes()
        return HttpReply(body=pcm, delay_s=self.delay_s)

    def __enter__(self) -> EspeakHttpVoice:
        ready = threading.Event()

        async def serve() -> None:
            async with SpeechHttpServer(self._answer) as server:
                self._server, self._loop, self._stop = server, asyncio.get_running_loop(), asyncio.Event()
                ready.set()
                await self._stop.wait()

        self._thread = threading.Thread(target=asyncio.run, args=(serve(),), name="espeak HTTP voice")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the espeak HTTP voice did not start")
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _error: BaseException | None, _trace: TracebackType | None
    ) -> None:
        assert self._loop is not None and self._stop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._engine.close()
