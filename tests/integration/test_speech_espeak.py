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
    timer = threading.Timer(0.05, stop.set)  # some audio first, even on a loaded machine
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


async def test_two_engines_alternating_each_get_their_own_voice_and_full_audio(engine: EspeakEngine) -> None:
    # the C library is one process-wide state: a second engine used to take over its callback and voice, and the
    # first then returned no audio at all
    german_text = "Guten Tag, wie geht es dir?"
    english = engine.synthesize_blocking(TEXT, voice="en-us")
    other = EspeakEngine()
    try:
        german = other.synthesize_blocking(german_text, voice="de")
        for _ in range(2):
            again = await engine.synthesize(TEXT, voice="en-us")
            assert len(again.pcm) == pytest.approx(len(english.pcm), rel=0.03)
            assert [m.text_start for m in again.marks if m.kind == "word"] == [
                m.text_start for m in english.marks if m.kind == "word"
            ]
            # the voice is the one asked for, even though the other engine switched the library to German last
            assert len(again.pcm) != pytest.approx(len(engine.synthesize_blocking(TEXT, voice="de").pcm), rel=0.05)
            other_again = await other.synthesize(german_text, voice="de")
            assert len(other_again.pcm) == pytest.approx(len(german.pcm), rel=0.03)
    finally:
        other.close()


def test_a_synthesis_without_audio_that_was_not_cancelled_is_an_error(engine: EspeakEngine) -> None:
    from app.speech import espeak  # noqa: PLC0415 - reaching into the shared library state on purpose

    engine.synthesize_blocking(TEXT)
    library = next(iter(espeak._LIBRARIES.values()))
    foreign = espeak._Callback(lambda wav, count, events: 1)  # someone else's callback that swallows the audio
    library.lib.espeak_SetSynthCallback(foreign)
    try:
        with pytest.raises(SpeechProviderError, match="no audio") as silent:
            engine.synthesize_blocking(TEXT)
        assert silent.value.code == "espeak-failed"
    finally:
        library.lib.espeak_SetSynthCallback(library._callback)
    assert len(engine.synthesize_blocking(TEXT).pcm) > 22050
