"""SpeechService as the composition root builds it: the real espeak voice on a null sink."""

from __future__ import annotations

import asyncio

import pytest

from app.speech.events import SpeechProviderError
from app.speech.hooks import SpeakerHooks
from app.speech.providers import SpeechSettings
from app.speech.service import SpeechService
from app.speech.sink import NullSink


async def test_speaks_stops_and_swaps_settings_between_replies() -> None:
    closed: list[int] = []
    sink = NullSink(22050)
    service = SpeechService(sink, SpeechSettings(speed=2.0), SpeakerHooks(on_mouth_close=closed.append))
    try:
        stats = await service.say("Hello there.")
        assert stats.audio_seconds > 0.2 and not stats.cancelled and closed == [1]

        turn = await service.begin_reply()
        await turn.append_text("A longer reply that is still being spoken when the voice changes. " * 3)
        await asyncio.sleep(0.3)
        await service.apply_settings(SpeechSettings(voice="de", speed=2.0))
        assert (await turn.wait()).cancelled and closed == [1, 2]
        assert service.settings.voice == "de"

        turn = await service.begin_reply()
        await turn.append_text("Noch ein langer Satz, der gerade gesprochen wird, als der Nutzer abbricht. " * 3)
        await asyncio.sleep(0.3)
        heard = sink.position()
        await service.stop()
        assert (await turn.wait()).cancelled
        assert sink.written() == sink.position() and sink.position() - heard < 0.05 * 22050

        with pytest.raises(SpeechProviderError, match="no speech provider"):
            await service.apply_settings(SpeechSettings(provider="missing"))
        assert service.settings.voice == "de"  # a rejected change leaves the old settings in place
    finally:
        await service.close()
