"""Sessions and the speaking pipeline with the real espeak voice on the null sink: order, marks on the playback
clock, backpressure, abort within 50 ms of the sink's clock, hot swap, provider errors."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from app.speech.espeak import EspeakEngine, EspeakSynthesizer
from app.speech.events import AudioEvent, DoneEvent, ErrorEvent, Pcm, SentenceEvent, SessionEvent
from app.speech.factory import SessionFactory
from app.speech.hooks import SpeakerHooks
from app.speech.player import ScheduledAudio, Speaker
from app.speech.providers import SpeechSettings
from app.speech.session import SegmentedSession, SessionOptions, SpeechSession, SynthChunk
from app.speech.sink import NullSink

REPLY = "Good morning! The sun is out today. Shall we take a walk by the river? I would like that very much."


@pytest.fixture(scope="module")
def engine() -> Iterator[EspeakEngine]:
    engine = EspeakEngine()
    yield engine
    engine.close()


async def collect(session: SpeechSession) -> list[SessionEvent]:
    return [event async for event in session.events()]


class RecordingSink(NullSink):
    """The null sink, noting every write with the position of its clock at the time."""

    def __init__(self, sample_rate: int) -> None:
        super().__init__(sample_rate)
        self.writes: list[tuple[float, int]] = []

    def write(self, pcm: Pcm) -> None:
        self.writes.append((time.monotonic(), len(pcm)))
        super().write(pcm)


class CountingSynthesizer:
    """The real espeak voice, counting how many utterances were started (for the backpressure check)."""

    def __init__(self, inner: EspeakSynthesizer) -> None:
        self.inner = inner
        self.started: list[str] = []

    async def synthesize(self, text: str) -> AsyncIterator[SynthChunk]:
        self.started.append(text)
        async for chunk in self.inner.synthesize(text):
            yield chunk


async def test_a_session_emits_sentences_then_their_audio_in_order_and_done_last(engine: EspeakEngine) -> None:
    session = SegmentedSession(EspeakSynthesizer(engine))
    for word in REPLY.split(" "):
        await session.append_text(word + " ")
    await session.finish()
    events = await collect(session)
    assert isinstance(events[-1], DoneEvent) and sum(isinstance(e, DoneEvent) for e in events) == 1
    sentences = [e for e in events if isinstance(e, SentenceEvent)]
    assert [s.spoken.strip() for s in sentences] == [
        "Good morning!",
        "The sun is out today.",
        "Shall we take a walk by the river?",
        "I would like that very much.",
    ]
    audio = [e for e in events if isinstance(e, AudioEvent)]
    indices = [e.index for e in events if isinstance(e, SentenceEvent | AudioEvent)]
    assert indices == sorted(indices)  # each sentence before its audio, never interleaved
    assert all(a.start_sample == b.end_sample for b, a in itertools.pairwise(audio))
    assert all(a.start_sample <= m.sample <= a.end_sample for a in audio for m in a.marks)
    assert sum(m.kind == "word" for a in audio for m in a.marks) == len(REPLY.split())
    stats = events[-1].stats
    assert stats.characters == len(REPLY) + 1 and not stats.cancelled and not stats.failed
    assert stats.first_audio_s is not None and stats.first_audio_s < 1.0
    assert stats.audio_seconds == pytest.approx(sum(a.seconds for a in audio))


async def test_cancel_ends_the_session_at_once_and_later_text_is_dropped(engine: EspeakEngine) -> None:
    session = SegmentedSession(EspeakSynthesizer(engine))
    await session.append_text(REPLY)
    await session.cancel("user")
    await session.append_text("more text after the cancel.")
    await session.finish()
    events = await collect(session)
    assert isinstance(events[-1], DoneEvent) and events[-1].stats.cancelled
    assert not any(isinstance(e, AudioEvent) for e in events)


async def test_a_provider_error_is_reported_once_and_ends_the_session(engine: EspeakEngine) -> None:
    session = SegmentedSession(EspeakSynthesizer(engine, voice="no-such-voice"))
    await session.append_text(REPLY)
    await session.finish()
    events = await collect(session)
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert len(errors) == 1 and errors[0].code == "unknown-voice" and not errors[0].retriable
    assert isinstance(events[-1], DoneEvent) and events[-1].stats.failed


async def test_speaker_plays_in_order_on_the_sink_clock_with_marks_placed_on_it(engine: EspeakEngine) -> None:
    sink = NullSink(48000)
    scheduled: list[ScheduledAudio] = []
    sentences: list[int] = []
    closed: list[int] = []
    hooks = SpeakerHooks(
        on_sentence=lambda _turn, s: sentences.append(s.index),
        on_audio=scheduled.append,
        on_mouth_close=closed.append,
    )
    speaker = Speaker(sink, lambda: SegmentedSession(EspeakSynthesizer(engine)), hooks)
    started = time.monotonic()
    stats = await speaker.say(REPLY)
    elapsed = time.monotonic() - started
    assert sentences == [0, 1, 2, 3] and closed == [1]
    assert scheduled[0].sink_start == 0
    assert all(b.sink_start == a.sink_end for a, b in itertools.pairwise(scheduled))
    assert sink.written() == sink.position() == scheduled[-1].sink_end  # everything was heard
    assert sink.written() / 48000 == pytest.approx(stats.audio_seconds, abs=0.01)  # resampled 22,050 -> 48,000 Hz
    assert all(s.sink_start <= m.sample <= s.sink_end for s in scheduled for m in s.marks)
    assert stats.audio_seconds - 0.05 < elapsed < stats.audio_seconds + 0.5  # played in real time, not faster


async def test_synthesis_runs_ahead_only_as_far_as_the_bounds_allow(engine: EspeakEngine) -> None:
    counting = CountingSynthesizer(EspeakSynthesizer(engine))
    options = SessionOptions(concurrency=2, max_pending_segments=2)
    sink = NullSink(48000)
    speaker = Speaker(sink, lambda: SegmentedSession(counting, options), lookahead_s=0.3)
    turn = await speaker.begin_turn()
    sentences = [f"This is sentence number {n}, which takes a while to say." for n in range(12)]
    feeding = asyncio.create_task(turn.append_text(" ".join(sentences)))
    await asyncio.sleep(0.6)
    assert not feeding.done()  # append_text waits: only two cut segments may wait for synthesis
    assert len(counting.started) <= 1 + options.concurrency  # the one playing and two ahead
    assert sink.buffered() <= 0.3 * 48000 + 48000  # the player keeps about lookahead_s queued on the sink
    await speaker.abort_turn("test over")
    await asyncio.wait_for(feeding, 1.0)  # the waiting writer is released by the abort


async def test_abort_silences_within_50_ms_on_the_sink_clock_and_closes_the_mouth(engine: EspeakEngine) -> None:
    sink = RecordingSink(48000)
    closed: list[int] = []
    speaker = Speaker(
        sink, lambda: SegmentedSession(EspeakSynthesizer(engine)), SpeakerHooks(on_mouth_close=closed.append)
    )
    turn = await speaker.begin_turn()
    await turn.append_text(REPLY * 3)
    await asyncio.sleep(0.4)
    requested = time.monotonic()
    playing_at = sink.position()
    assert playing_at > 0.2 * 48000
    await speaker.abort_turn("user pressed stop")
    await asyncio.sleep(0.2)  # whatever still played or was written late would have moved the clock meanwhile
    last_heard = sink.position()
    assert last_heard - playing_at < 0.05 * 48000  # heard after the call: within the goal, on the sink's clock
    assert sink.written() == last_heard  # nothing queued
    assert [w for w in sink.writes if w[0] >= requested] == []  # nothing written after the call
    assert closed == [turn.number]
    stats = await turn.wait()
    assert stats.cancelled
    assert speaker.current is None


async def test_hot_swap_cancels_the_reply_and_the_next_one_uses_the_new_voice(engine: EspeakEngine) -> None:
    async with httpx.AsyncClient() as http:
        factory = SessionFactory(engine, http)
        settings = SpeechSettings(provider="espeak", voice="en-us")
        sink = NullSink(22050)
        heard: list[ScheduledAudio] = []
        speaker = Speaker(sink, lambda: factory.create(settings), SpeakerHooks(on_audio=heard.append))
        first = await speaker.begin_turn()
        await first.append_text(REPLY)
        await asyncio.sleep(0.3)
        settings = SpeechSettings(provider="espeak", voice="de")
        await speaker.replace_session_maker(lambda: factory.create(settings), "voice changed")
        assert (await first.wait()).cancelled
        await first.append_text("Tokens of the old reply arriving late are dropped.")
        heard.clear()
        text = "Guten Morgen, wie geht es dir heute?"
        stats = await speaker.say(text)
        assert not stats.cancelled
        parts = ["Guten Morgen,", "wie geht es dir heute?"]  # the early first cut
        german = sum(len(engine.synthesize_blocking(part, voice="de").pcm) for part in parts)
        english = sum(len(engine.synthesize_blocking(part, voice="en-us").pcm) for part in parts)
        spoken = sum(len(s.pcm) for s in heard)
        # espeak's lengths vary by about 1 % from call to call; the two voices differ by about 20 %
        assert spoken == pytest.approx(german, rel=0.03)
        assert spoken != pytest.approx(english, rel=0.1)


async def test_overlapping_begin_turns_leave_one_turn_that_abort_silences(engine: EspeakEngine) -> None:
    sink = RecordingSink(22050)
    speaker = Speaker(sink, lambda: SegmentedSession(EspeakSynthesizer(engine)))
    first = await speaker.begin_turn()
    await first.append_text(REPLY)
    await asyncio.sleep(0.3)  # the first turn is playing: each begin_turn must end it (or the other) first
    second, third = await asyncio.gather(speaker.begin_turn(), speaker.begin_turn())
    assert speaker.current is third
    assert (await second.wait()).cancelled  # the second was ended by the third, not orphaned
    await asyncio.gather(second.append_text(REPLY), third.append_text(REPLY))
    await asyncio.sleep(0.5)
    assert sink.position() > 0
    aborted_at = time.monotonic()
    await speaker.abort_turn("stop")
    position = sink.position()
    await asyncio.sleep(0.5)
    assert [w for w in sink.writes if w[0] >= aborted_at] == []  # no turn wrote after the abort
    assert sink.position() == position == sink.written()  # the clock stopped: nothing is heard any more
    assert all([(await t.wait()).cancelled for t in (first, second, third)])


class FailingSink(NullSink):
    def __init__(self) -> None:
        super().__init__(22050)
        self.broken = False

    def write(self, pcm: Pcm) -> None:
        if self.broken:
            raise OSError("the audio device went away")
        self.broken = True  # the first chunk plays, the second write fails
        super().write(pcm)


async def test_a_failing_sink_ends_the_turn_with_an_error_and_closes_the_mouth(engine: EspeakEngine) -> None:
    sink = FailingSink()
    errors: list[ErrorEvent] = []
    closed: list[int] = []
    hooks = SpeakerHooks(on_error=lambda _, error: errors.append(error), on_mouth_close=closed.append)
    speaker = Speaker(sink, lambda: SegmentedSession(EspeakSynthesizer(engine)), hooks)
    turn = await speaker.begin_turn()
    await turn.append_text(REPLY)
    await turn.finish()
    stats = await asyncio.wait_for(turn.wait(), 5)
    assert stats.failed and not stats.cancelled
    assert [e.code for e in errors] == ["playback-failed"] and "audio device went away" in errors[0].message
    assert closed == [turn.number]
    assert speaker.current is None
    sink.broken = False  # the device is back: the speaker still works
    assert not (await asyncio.wait_for(speaker.say("Hi."), 5)).failed
