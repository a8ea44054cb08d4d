"""Calibration through a provider session with the real espeak voice; a failing provider is a clear error."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from app.lipsync.audio import analyse_audio
from app.lipsync.espeak_voice import espeak_synthesize
from app.lipsync.profile import CalibrationRecording, calibrate
from app.lipsync.provider_voice import session_synthesize
from app.lipsync.service import LipSyncService
from app.lipsync.shaping import Shaper
from app.lipsync.track import VOWELS
from app.speech.espeak import EspeakEngine
from app.speech.events import SpeechProviderError
from app.speech.factory import SessionFactory
from app.speech.providers import SpeechSettings
from app.speech.sink import NullSink


async def test_espeak_through_a_session_calibrates_in_context_and_classifies_its_vowels() -> None:
    engine = EspeakEngine()
    try:
        async with httpx.AsyncClient() as http:
            factory = SessionFactory(engine, http)
            settings = SpeechSettings(voice="en-us")
            synthesize = session_synthesize(lambda: factory.create(settings))
            profile = await calibrate("espeak:en-us", "en-us", synthesize)
            assert profile.closed is not None, "phoneme marks came through: lip closures were learnt"
            # The voice's own long vowels come out as themselves.
            for text, expected in (("Ah.", "aa"), ("Ee.", "ih"), ("Ooh.", "ou")):
                spoken = await synthesize(text)
                track = Shaper().shape(analyse_audio(spoken.pcm, spoken.sample_rate, profile))
                opened = track.weights[track.weights.sum(axis=1) > 0.3]
                assert len(opened) > 10
                winners = [VOWELS[i] for i in opened.argmax(axis=1)]
                assert winners.count(expected) / len(winners) > 0.6, (text, winners)
    finally:
        engine.close()


async def test_a_voice_without_phonemes_is_calibrated_from_its_audio_alone() -> None:
    engine = EspeakEngine()
    try:
        espeak = espeak_synthesize(engine, "en-us")
        texts: list[str] = []

        async def audio_alone(text: str) -> CalibrationRecording:
            texts.append(text)
            spoken = await espeak(text)
            return CalibrationRecording(spoken.pcm, spoken.sample_rate, [])

        profile = await calibrate("other:voice", "en-us", audio_alone)
        assert "Mommy, mommy. Bobby, bobby." in texts
        assert profile.closed is not None, "the m and b closures were found in the audio"
        for text, expected in (("Ah.", "aa"), ("Ee.", "ih"), ("Ooh.", "ou")):
            spoken = await espeak(text)
            track = Shaper().shape(analyse_audio(spoken.pcm, spoken.sample_rate, profile))
            opened = track.weights[track.weights.sum(axis=1) > 0.3]
            assert len(opened) > 10
            winners = [VOWELS[i] for i in opened.argmax(axis=1)]
            assert winners.count(expected) / len(winners) > 0.6, (text, winners)
        # The lips shut on the m of "Mama", between its open vowels.
        spoken = await espeak("Mama.")
        openness = Shaper().shape(analyse_audio(spoken.pcm, spoken.sample_rate, profile)).openness()
        opened = np.nonzero(openness > 0.3)[0]
        assert openness[opened[0] : opened[-1]].min() < 0.1
    finally:
        engine.close()


async def test_a_provider_error_propagates_with_its_reason() -> None:
    engine = EspeakEngine()
    try:
        async with httpx.AsyncClient() as http:
            factory = SessionFactory(engine, http)
            settings = SpeechSettings(voice="xx-no-such-voice")
            with pytest.raises(SpeechProviderError) as raised:
                await calibrate("espeak:xx", "en", session_synthesize(lambda: factory.create(settings)))
            assert raised.value.code == "unknown-voice"
    finally:
        engine.close()


async def test_the_service_calibrates_a_new_voice_once_and_keeps_its_profile(tmp_path: Path) -> None:
    engine = EspeakEngine()
    calls: list[str] = []
    try:
        espeak = espeak_synthesize(engine, "es")

        async def counting(text: str) -> CalibrationRecording:
            calls.append(text)
            return await espeak(text)

        service = LipSyncService(NullSink(22_050), None, tmp_path, voice=lambda: "espeak:es")
        assert service.current_profile().voice == "espeak:en-us", "the built-in profile until calibrated"
        first = await service.ensure_profile("espeak:es", "es", counting)
        assert calls and service.store.path_of("espeak:es").is_file()
        spoken = len(calls)
        again = await service.ensure_profile("espeak:es", "es", counting)
        assert len(calls) == spoken and again.level_db == pytest.approx(first.level_db, abs=0.01)
        assert service.current_profile().voice == "espeak:es"
        service.store.path_of("espeak:es").write_text("{broken", encoding="utf-8")
        assert service.current_profile().voice == "espeak:en-us", "a damaged file falls back to the built-in profile"
        await service.ensure_profile("espeak:es", "es", counting)
        assert len(calls) == 2 * spoken, "a damaged profile is calibrated again"
    finally:
        engine.close()
