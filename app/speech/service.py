"""Speech as the composition root wires it: one object owning the voice engine, the HTTP client, the sink and the
speaker, with the few operations the rest of the app needs (speak a reply, stop, change settings, close)."""

from __future__ import annotations

import httpx

from app.speech.espeak import EspeakEngine
from app.speech.events import SessionStats
from app.speech.factory import SessionFactory
from app.speech.hooks import SpeakerHooks
from app.speech.player import Speaker, Turn
from app.speech.providers import SpeechSettings
from app.speech.session import SpeechSession
from app.speech.sink import AudioSink


class SpeechService:
    def __init__(
        self,
        sink: AudioSink,
        settings: SpeechSettings | None = None,
        hooks: SpeakerHooks | None = None,
        espeak: EspeakEngine | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.espeak = espeak or EspeakEngine()
        self.http = http or httpx.AsyncClient()
        self._owns_http = http is None
        self.factory = SessionFactory(self.espeak, self.http)
        self._settings = settings or SpeechSettings()
        self.factory.definition(self._settings.provider)  # an unknown provider fails here, not mid-reply
        self.speaker = Speaker(sink, self._make_session, hooks)

    @property
    def settings(self) -> SpeechSettings:
        return self._settings

    async def _make_session(self) -> SpeechSession:
        return await self.factory.open(self._settings)

    async def apply_settings(self, settings: SpeechSettings) -> None:
        """Hot swap: a reply being spoken is cancelled cleanly; the next one uses ``settings``."""
        self.factory.definition(settings.provider)
        changed = settings != self._settings
        self._settings = settings
        if changed:
            await self.speaker.replace_session_maker(self._make_session, "settings-changed")

    async def begin_reply(self) -> Turn:
        """A turn to feed with text as it arrives (typed, or streamed from a language model)."""
        return await self.speaker.begin_turn()

    async def say(self, text: str) -> SessionStats:
        return await self.speaker.say(text)

    async def stop(self) -> None:
        """Abort turn: silence now, upstream cancelled, queued audio dropped, the mouth closes."""
        await self.speaker.abort_turn("stop")

    async def close(self) -> None:
        await self.speaker.close()
        self.speaker.sink.close()
        if self._owns_http:
            await self.http.aclose()
        self.espeak.close()
