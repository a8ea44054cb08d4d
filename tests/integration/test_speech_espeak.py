"""The embedded espeak-ng voice, for real: audio length, timing marks in order and inside the audio, cancellation."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from app.speech.espeak import EspeakEngine, EspeakSynthesizer
from app.speech.events import SpeechProviderError

TEXT = "Hello there. How are you today?"


@pytest.fixture(scope="module")
def engine() -> Iterator[EspeakEngine]:
    engine = EspeakEngine()
    yield engine
    engine.close()


def test_speaks_22050_hz_mono_with_words_and_phonemes_in_order_inside_the_audio(engine: EspeakEngine) -> None:
    utterance = engine.synthesize_blocking(TEXT)
    assert utterance.sample_rate == 22050
    assert utterance.pcm.dtype == np.int16
    assert 1.5 < len(utterance.pcm) / 22050 < 2.5  # about 1.9 s for this sentence at 175 wpm
    assert np.abs(utterance.pcm.astype(np.int32)).max() > 5000  # speech, not silence
    samples = [mark.sample for mark in utterance.marks]
    assert samples == sorted(samples)
    assert all(0 <= sample <= len(utterance.pcm) for sample in samples)
    words = [TEXT[m.text_start : m.text_start + m.text_length] for m in utterance.marks if m.kind == "word"]
    assert words == ["Hello", "there", "How", "are", "you", "today"]
    phonemes = [mark.name for mark in utterance.marks if mark.kind == "phoneme" and mark.name]
    assert phonemes[:2] == ["h", "ə"] and len(phonemes) >= 15


def test_rate_changes_the_length_and_voices_are_selectable(engine: EspeakEngine) -> None:
    normal = len(engine.synthesize_blocking(TEXT, rate=175).pcm)
    fast = len(engine.synthesize_blocking(TEXT, rate=350).pcm)
    assert fast < normal * 0.7
    german = engine.synthesize_blocking("Guten Tag, wie geht es dir?", voice="de")
    assert len(german.pcm) > 22050 // 2
    assert any(voice.identifier == "gmw/en-US" for voice in engine.voices())


def test_unknown_voice_and_bad_rate_are_clear_errors_and_the_engine_keeps_working(engine: EspeakEngine) -> None:
    with pytest.raises(SpeechProviderError, match="no voice 'en-gb'") as unknown:
        engine.synthesize_blocking(TEXT, voice="en-gb")  # British English is "en" in 1.52
    assert unknown.value.code == "unknown-voice"
    with pytest.raises(SpeechProviderError) as bad_rate:
        engine.synthesize_blocking(TEXT, rate=5)
    assert bad_rate.value.code == "invalid-rate"
    assert len(engine.synthesize_blocking(TEXT).pcm) > 22050


def test_a_stop_from_another_thread_aborts_mid_sentence(engine: EspeakEngine) -> None:
    long_text = " ".join(f"This is sentence number {n} of a rather long text." for n in range(80))
    full_estimate_s = 80 * 2.5
    stop = threading.Event()
    timer = threading.Timer(0.005, stop.set)
    started = time.perf_counter()
    timer.start()
    utterance = engine.synthesize_blocking(long_text, stop=stop)
    elapsed = time.perf_counter() - started
    assert utterance.cancelled
    assert 0 < len(utterance.pcm) / 22050 < full_estimate_s / 2
    assert elapsed < 0.5
    assert all(mark.sample <= len(utterance.pcm) for mark in utterance.marks)
    after = engine.synthesize_blocking(TEXT)  # the next utterance is whole
    assert not after.cancelled and 1.5 < len(after.pcm) / 22050 < 2.5


async def test_async_synthesis_runs_off_the_loop_and_cancelling_stops_espeak(engine: EspeakEngine) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    ticking = asyncio.create_task(ticker())
    long_text = " ".join(f"Sentence {n} keeps the voice busy for a while." for n in range(400))
    synthesis = asyncio.create_task(engine.synthesize(long_text))
    await asyncio.sleep(0.02)
    assert ticks >= 3  # the loop kept running while espeak worked
    synthesis.cancel()
    with pytest.raises(asyncio.CancelledError):
        await synthesis
    ticking.cancel()
    started = time.perf_counter()
    chunks = [chunk async for chunk in EspeakSynthesizer(engine).synthesize(TEXT)]
    assert time.perf_counter() - started < 0.5  # the cancelled work did not keep the worker busy
    assert sum(len(chunk.pcm) for chunk in chunks) > 22050
