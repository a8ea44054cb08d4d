"""Calibration through a provider session with the real espeak voice; a failing provider is a clear error."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import httpx
import numpy as np
import pytest

from app.lipsync.audio import analyse_audio
from app.lipsync.auto_calibration import VoiceCalibrator
from app.lipsync.espeak_voice import espeak_synthesize
from app.lipsync.profile import (
    CalibrationRecording,
    ProfileStore,
    calibrate,
    calibration_prompts,
    closure_prompts,
    default_profile,
)
from app.lipsync.provider_voice import session_synthesize, voice_key
from app.lipsync.service import LipSyncService
from app.lipsync.shaping import Shaper
from app.lipsync.track import VOWELS
from app.speech.espeak import EspeakEngine
from app.speech.events import SpeechProviderError
from app.speech.factory import SessionFactory
from app.speech.providers import SpeechSettings
from app.speech.sink import LinearResampler, NullSink
from tests.support.speech_servers import HttpReply, Script, SeenRequest, SpeechHttpServer


async def test_espeak_through_a_session_calibrates_in_context_and_classifies_its_vowels() -> None:
    engine = EspeakEngine()
    try:
        async with httpx.AsyncClient() as http:
            factory = SessionFactory(engine, http)
            settings = SpeechSettings(voice="en-us")
            synthesize = session_synthesize(lambda: factory.create(settings))
            profile = await calibrate("espeak:en-us", "en-us", synthesize, marks=True)
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

        profile = await calibrate("other:voice", "en-us", audio_alone, marks=False)
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
                await calibrate("espeak:xx", "en", session_synthesize(lambda: factory.create(settings)), marks=True)
            assert raised.value.code == "unknown-voice"
    finally:
        engine.close()


def espeak_as_http_voice(engine: EspeakEngine) -> Script:
    """A remote voice without phoneme marks: espeak's speech of the requested text, served as 24 kHz PCM."""

    def speak(request: SeenRequest) -> HttpReply:
        spoken = engine.synthesize_blocking(str(request.body["input"]), "en-us")
        return HttpReply(body=LinearResampler(spoken.sample_rate, 24_000).process(spoken.pcm).astype("<i2").tobytes())

    return speak


async def test_the_calibrator_calibrates_a_remote_voice_under_the_key_the_app_uses(tmp_path: Path) -> None:
    engine = EspeakEngine()
    try:
        script = espeak_as_http_voice(engine)
        async with SpeechHttpServer(script) as server, httpx.AsyncClient() as http:
            settings = SpeechSettings(provider="openai-compatible", base_url=server.base_url)
            service = LipSyncService(
                NullSink(24_000),
                None,
                tmp_path,
                voice=lambda: voice_key("openai-compatible", None, None, server.base_url),
            )
            calibrator = VoiceCalibrator(service.store, SessionFactory(engine, http), service.voice)
            profile = await calibrator.calibrate(settings)
            key = voice_key("openai-compatible", None, None, server.base_url)
            assert profile.voice == key and key.startswith("openai-compatible:af_heart (kokoro, 127.0.0.1:"), key
            # No phonemes: calibrated from the vowel prompts, with lip closures found in the closure prompts' audio.
            assert profile.closed is not None
            assert {r.body["voice"] for r in server.requests} == {"af_heart"}
            # (A long prompt may reach the server in pieces: the session segments text at clause boundaries.)
            spoken = " ".join(r.body["input"] for r in server.requests)
            for prompt in [*calibration_prompts("en").values(), *closure_prompts("en")]:
                assert all(word in spoken for word in prompt.split()), f"{prompt!r} was spoken"
            assert "quick brown fox" not in spoken, "no sentence asked of a voice that gives no phonemes"
            assert service.current_profile().voice == profile.voice, "the app's key finds it"
            asked = len(server.requests)
            assert not calibrator.auto(settings), "stored: not calibrated again by itself"
            assert len(server.requests) == asked
    finally:
        engine.close()


def test_voice_keys_name_the_default_voice_as_calibrate_does() -> None:
    assert voice_key("espeak", None) == voice_key("espeak", "") == "espeak:en-us"
    assert voice_key("espeak", "de") == "espeak:de"
    assert voice_key("someone-else", None) == "someone-else:default"
    # The model changes the sound of one voice name: it is in the key (the provider's default when unset).
    assert (
        voice_key("openai", None) == voice_key("openai", "alloy", "gpt-4o-mini-tts") == "openai:alloy (gpt-4o-mini-tts)"
    )
    assert voice_key("openai", "alloy", "tts-1") == "openai:alloy (tts-1)"
    # The server, when it is not the provider's default (two Kokoro servers are two voices); its path does not count.
    kokoro = "openai-compatible:af_heart (kokoro)"
    assert voice_key("openai-compatible", None) == kokoro
    assert voice_key("openai-compatible", None, None, "http://127.0.0.1:8880/v1/") == kokoro
    other = voice_key("openai-compatible", "af_heart", "kokoro", "http://GPU-Box.lan:8880/api/v1")
    assert other == "openai-compatible:af_heart (kokoro, gpu-box.lan:8880)"
    assert voice_key("openai", "alloy", "tts-1", "https://proxy.example/v1") == "openai:alloy (tts-1, proxy.example)"
    assert voice_key("unspeech-stream", None) == "unspeech-stream:default (volcengine/seed-tts-2.0)"


def test_a_profile_stored_under_the_old_name_is_taken_over_by_the_first_model_to_ask(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    old = store.save(dataclasses.replace(default_profile(), voice="openai:alloy", level_db=-33.0))
    os.utime(old, (1_700_000_000, 1_700_000_000))
    current, other = voice_key("openai", "alloy", "tts-1"), voice_key("openai", "alloy", "gpt-4o-mini-tts")
    adopted = store.load(current)
    assert adopted is not None and adopted.voice == current and adopted.level_db == -33.0, "the calibration is kept"
    assert store.path_of(current).stat().st_mtime == 1_700_000_000, "its date is the calibration's"
    assert not old.exists() and store.voices() == [current], "moved, not copied"
    assert store.load(other) is None, "the voice's other model is not given the same profile"
    again = store.load(current)
    assert again is not None and again.voice == current and again.level_db == -33.0
    # Nothing to take over: an espeak key is the same as before; a file under the old name for another voice is not.
    assert store.load("espeak:en-us") is None
    store.save(dataclasses.replace(default_profile(), voice="someone else"))
    store.path_of("someone else").rename(store.path_of("openai:nova"))
    assert store.load(voice_key("openai", "nova")) is None
