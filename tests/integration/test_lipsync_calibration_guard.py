"""A calibration that cannot be the voice speaking is refused with its reason and stores nothing: each kind of
garbage a provider may return goes through the real calibration code (and one through the automatic calibration of a
real OpenAI-compatible server), while real espeak voices, with and without their phonemes, still calibrate."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import numpy.typing as npt
import pytest

from app.lipsync.auto_calibration import CalibrationFailed, VoiceCalibrator
from app.lipsync.espeak_voice import espeak_synthesize
from app.lipsync.profile import (
    MIN_VOWEL_SEPARATION,
    CalibrationError,
    CalibrationRecording,
    ProfileStore,
    calibrate,
    default_profile,
)
from app.lipsync.provider_voice import voice_key
from app.speech.espeak import EspeakEngine
from app.speech.factory import SessionFactory
from app.speech.providers import SpeechSettings
from tests.integration.test_lipsync_cli import run_app
from tests.support.speech_servers import HttpReply, SeenRequest, SpeechHttpServer
from tests.waiting import until

RATE = 24_000
BENCHMARK_VOICES = ("en-us", "en-us+f3", "en", "de", "es")

Garbage = Callable[[str, npt.NDArray[np.int16]], npt.NDArray[np.int16]]
"""What a broken provider returns for a text, given the real speech of it."""


def noise(seed: int) -> Garbage:
    rng = np.random.default_rng(seed)
    return lambda _text, _speech: rng.normal(0, 3000, RATE).astype(np.int16)


def tones() -> Garbage:
    """A beep, at a pitch of its own for each text (so not one and the same answer)."""
    pitches = iter(range(400, 4000, 150))
    return lambda _text, _speech: (8000 * np.sin(2 * np.pi * next(pitches) * np.arange(RATE) / RATE)).astype(np.int16)


def one_clip() -> Garbage:
    """The same real speech (an error message, a cached answer) for every text."""
    kept: list[npt.NDArray[np.int16]] = []

    def answer(_text: str, speech: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        kept[:] = kept or [speech]
        return kept[0]

    return answer


def middle_20_ms(_text: str, speech: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    return speech[len(speech) // 2 :][: RATE // 50]


def at_level(dbfs: float) -> Garbage:
    def answer(_text: str, speech: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        rms = float(np.sqrt(np.mean(np.square(speech.astype(np.float64)))))
        scaled: npt.NDArray[np.int16] = np.round(speech * (32768 * 10 ** (dbfs / 20) / rms)).astype(np.int16)
        return scaled

    return answer


GARBAGE: dict[str, tuple[Callable[[], Garbage], str]] = {
    "white noise": (lambda: noise(1), r"steady noise or a tone, not speech \(its loudness varies by [0-2]\.\d dB"),
    "a tone": (tones, "steady noise or a tone, not speech"),
    "a 20 ms clip": (lambda: middle_20_ms, r"returned 2\d ms of audio for a calibration text: too short"),
    "silence": (lambda: lambda _text, speech: np.zeros_like(speech), "no audible audio"),
    "the same clip for every text": (one_clip, "the same audio for different texts"),
    "speech at -60 dBFS": (lambda: at_level(-60.0), r"too quiet: its vowels are at -5\d dBFS"),
}


async def calibrated_through(engine: EspeakEngine, garbage: Garbage, language: str = "en") -> None:
    espeak = espeak_synthesize(engine, "en-us")

    async def broken(text: str) -> CalibrationRecording:
        spoken = await espeak(text)
        return CalibrationRecording(garbage(text, spoken.pcm), spoken.sample_rate, [])

    await calibrate("broken:voice", language, broken, marks=False)


@pytest.mark.parametrize("kind", GARBAGE)
async def test_garbage_from_a_provider_is_refused_with_its_reason(kind: str) -> None:
    make, reason = GARBAGE[kind]
    engine = EspeakEngine()
    try:
        with pytest.raises(CalibrationError, match=reason):
            await calibrated_through(engine, make())
    finally:
        engine.close()


async def test_real_speech_whose_vowels_are_all_alike_is_refused() -> None:
    """Real speech, different for each text, but one vowel for all (a voice reading something else)."""
    engine = EspeakEngine()
    try:
        espeak = espeak_synthesize(engine, "en-us")
        count = iter(range(2, 100))

        async def one_vowel(_text: str) -> CalibrationRecording:
            spoken = await espeak(", ".join(["Ma"] * (2 + next(count) % 4)) + ".")
            return CalibrationRecording(spoken.pcm, spoken.sample_rate, [])

        with pytest.raises(CalibrationError, match=r"the five vowels sound alike .*: is this speech in German\?"):
            await calibrate("broken:voice", "de", one_vowel, marks=False)
    finally:
        engine.close()


@pytest.mark.parametrize("voice", BENCHMARK_VOICES)
async def test_every_benchmark_voice_still_calibrates_with_and_without_phonemes(voice: str) -> None:
    engine = EspeakEngine()
    try:
        espeak = espeak_synthesize(engine, voice)

        async def audio_alone(text: str) -> CalibrationRecording:
            spoken = await espeak(text)
            return CalibrationRecording(spoken.pcm, spoken.sample_rate, [])

        for synthesize, marks in ((espeak, True), (audio_alone, False)):
            profile = await calibrate(f"espeak:{voice}", voice, synthesize, marks=marks)
            weight = 1 / np.square(profile.spread)
            apart = [
                float((np.square(a - b) * weight).mean())
                for i, a in enumerate(profile.means)
                for b in profile.means[i + 1 :]
            ]
            assert min(apart) > 2 * MIN_VOWEL_SEPARATION, (voice, marks, min(apart))  # a margin, not a near miss
    finally:
        engine.close()


def noise_server() -> Callable[[SeenRequest], HttpReply]:
    """An OpenAI-compatible voice answering every text with white noise (24 kHz PCM)."""
    rng = np.random.default_rng(7)
    return lambda _request: HttpReply(body=rng.normal(0, 3000, RATE).astype("<i2").tobytes())


async def test_automatic_calibration_of_a_noise_voice_fails_once_with_the_reason(tmp_path: Path) -> None:
    engine = EspeakEngine()
    try:
        async with SpeechHttpServer(noise_server()) as server, httpx.AsyncClient() as http:
            settings = SpeechSettings(provider="openai-compatible", base_url=server.base_url, voice="af_noise")
            key = voice_key(settings.provider, settings.voice, settings.model, settings.base_url)
            store = ProfileStore(tmp_path)
            calibrator = VoiceCalibrator(store, SessionFactory(engine, http), lambda: key)
            assert calibrator.auto(settings)
            await until(lambda: not calibrator.busy(), 30, "the refused calibration")
            text = calibrator.status(settings).text()
            assert text.startswith("built-in profile: calibration failed: the voice's audio is steady noise"), text
            asked = len(server.requests)
            assert not calibrator.auto(settings), "not retried automatically"
            await asyncio.sleep(0.2)
            assert len(server.requests) == asked
            assert store.load(key) is None and not list(store.folder.glob("*")), "nothing stored"

            # A voice that had a profile keeps it when a new calibration is refused (the button).
            previous = store.save(dataclasses.replace(default_profile(), voice=key))
            written = previous.read_bytes()
            with pytest.raises(CalibrationFailed, match="steady noise or a tone"):
                await calibrator.calibrate(settings)
            assert previous.read_bytes() == written
            status = calibrator.status(settings)
            assert status.phase == "failed" and status.text().startswith("calibrated (20"), status.text()
            assert "calibration failed: the voice's audio is steady noise" in status.text()
    finally:
        engine.close()


async def test_calibrate_on_the_command_line_says_why_noise_is_refused(tmp_path: Path) -> None:
    async with SpeechHttpServer(noise_server()) as server:
        code, out, err = await run_app(
            "lipsync", "calibrate", "--provider", "openai-compatible", "--base-url", server.base_url,
            user_data=tmp_path,
        )  # fmt: skip
    assert code == 1 and "Traceback" not in err and len(out.strip().splitlines()) == 1, (out, err)
    assert out.startswith("lipsync failed: the voice's audio is steady noise or a tone, not speech"), out
    assert not (tmp_path / "lipsync").exists() or not os.listdir(tmp_path / "lipsync" / "voices")
