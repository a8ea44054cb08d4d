"""The cue scheduler on the null sink's clock: timing conversion, batching, cancel, end and re-anchoring."""

from __future__ import annotations

import asyncio
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from app.lipsync.cues import CueBatch, CueScheduler
from app.lipsync.profile import default_profile
from app.lipsync.shaping import ShapingSettings
from app.speech.events import AudioEvent, SpeechMark
from app.speech.player import ScheduledAudio
from app.speech.sink import NullSink
from tests.unit.test_lipsync_analysis import vowel

RATE = 22_050


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Recorder:
    events: list[tuple[str, Any]] = field(default_factory=list)

    def begin(self, utterance: str, host_time_ms: float, frame_rate: float, lead_ms: float) -> None:
        self.events.append(("begin", (utterance, host_time_ms, frame_rate, lead_ms)))

    def cues(self, batch: CueBatch) -> None:
        self.events.append(("cues", batch))

    def end(self, utterance: str, host_time_ms: float) -> None:
        self.events.append(("end", (utterance, host_time_ms)))

    def cancel(self, utterance: str) -> None:
        self.events.append(("cancel", utterance))

    def batches(self) -> list[CueBatch]:
        return [payload for kind, payload in self.events if isinstance(payload, CueBatch)]


def play(
    scheduler: CueScheduler, sink: NullSink, turn: int, pcm: np.ndarray, marks: tuple[SpeechMark, ...] = ()
) -> ScheduledAudio:
    """What the Speaker does: the hook, then the write."""
    start = sink.written()
    event = AudioEvent(0, pcm, RATE, 0, marks)
    scheduled = ScheduledAudio(
        turn, event, pcm, start, RATE, tuple(SpeechMark(m.kind, m.sample + start, name=m.name) for m in marks)
    )
    scheduler.on_audio(scheduled)
    sink.write(pcm)
    return scheduled


def make(clock: ManualClock, **options: object) -> tuple[NullSink, CueScheduler, Recorder]:
    sink = NullSink(RATE, clock)
    scheduler = CueScheduler(sink, default_profile, **options)  # type: ignore[arg-type]
    recorder = Recorder()
    scheduler.add_output(recorder)
    return sink, scheduler, recorder


async def settle() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_batches_are_timed_on_the_sink_clock_minus_the_lead() -> None:
    clock = ManualClock()
    sink, scheduler, recorder = make(clock, mode="audio", batch_frames=20, shaping=ShapingSettings(lead_s=0.04))
    play(scheduler, sink, 1, vowel("aa", 1.0, level=0.1))
    assert recorder.events == [], "nothing leaves before the audio is written"
    await settle()
    kind, (_name, zero_ms, frame_rate, lead_ms) = recorder.events[0]
    assert kind == "begin" and zero_ms == pytest.approx(100_000.0) and lead_ms == 40.0
    batches = recorder.batches()
    assert all(len(b.weights) <= 20 for b in batches)
    frames = sum(len(b.weights) for b in batches)
    assert frames >= 0.98 * frame_rate
    # Batch k starts where batch k-1 ended; frame 0 is due one lead before its audio.
    assert batches[0].host_time_ms == pytest.approx(100_000.0 - 40.0, abs=0.1)
    for previous, batch in itertools.pairwise(batches):
        assert batch.host_time_ms == pytest.approx(
            previous.host_time_ms + len(previous.weights) * 1000 / frame_rate, abs=0.1
        )
    middle = np.concatenate([b.weights for b in batches])[20:-20]
    assert (middle.argmax(axis=1) == 0).mean() > 0.9 and middle.sum(axis=1).min() > 0.3


async def test_audio_far_from_being_heard_is_held_back_and_analysed_before_its_deadline() -> None:
    clock = ManualClock()  # the sink's clock stands still: playback stays at the first sample
    sink, scheduler, recorder = make(clock, mode="audio", batch_frames=120)
    play(scheduler, sink, 1, vowel("aa", 0.2, level=0.1))
    await settle()
    first = sum(len(b.weights) for b in recorder.batches())
    assert first >= 15, "the first chunk is heard at once: analysed at once"
    chunk = round(0.06 * RATE)
    more = vowel("aa", 0.12, level=0.1)
    for start in range(0, len(more), chunk):
        play(scheduler, sink, 1, more[start : start + chunk])
    await settle()
    assert sum(len(b.weights) for b in recorder.batches()) == first, "200 ms ahead of playback: held back"
    # Due 200 ms - lead 30 ms - margin 100 ms from now: the held audio is analysed then, in one go.
    await asyncio.sleep(0.25)
    batches = recorder.batches()
    assert len(batches) == 2 and len(batches[1].weights) >= 10
    assert batches[1].host_time_ms == pytest.approx(
        batches[0].host_time_ms + len(batches[0].weights) * 1000 / batches[0].frame_rate, abs=0.1
    )
    np.testing.assert_array_less(0.3, batches[1].weights.sum(axis=1))


async def test_the_end_of_the_audio_brings_the_last_half_window_and_the_held_audio() -> None:
    clock = ManualClock()  # playback stays at the first sample: the 60 ms chunks after the first are held
    sink, scheduler, recorder = make(clock, mode="audio", batch_frames=120)
    pcm = vowel("aa", 0.5, level=0.1)
    chunk = round(0.06 * RATE)
    for start in range(0, len(pcm), chunk):
        play(scheduler, sink, 1, pcm[start : start + chunk])
    await settle()
    sent = sum(len(b.weights) for b in recorder.batches())
    frame_rate = recorder.batches()[0].frame_rate
    assert sent < 0.5 * frame_rate - 5, "the end of the audio is held, and its last half window not yet complete"
    scheduler.on_audio_end(1)
    batches = recorder.batches()
    # Every frame of the 0.5 s (frame k is centred on k / frame_rate), at once: the last ones still open the mouth.
    assert sum(len(b.weights) for b in batches) == math.ceil(0.5 * frame_rate)
    assert batches[-1].weights[-3:].sum(axis=1).min() > 0.3
    for previous, batch in itertools.pairwise(batches):
        assert batch.host_time_ms == pytest.approx(
            previous.host_time_ms + len(previous.weights) * 1000 / frame_rate, abs=0.1
        )
    scheduler.on_audio_end(1)  # a second end, or one of another turn, adds nothing
    scheduler.on_audio_end(2)
    assert len(recorder.batches()) == len(batches)


async def test_held_audio_is_dropped_with_a_cancelled_turn() -> None:
    clock = ManualClock()
    sink, scheduler, recorder = make(clock, mode="audio")
    play(scheduler, sink, 1, vowel("aa", 0.2, level=0.1))
    play(scheduler, sink, 1, vowel("aa", 0.06, level=0.1))
    await settle()
    sent = len(recorder.batches())
    scheduler.on_mouth_close(1)
    await asyncio.sleep(0.15)
    assert len(recorder.batches()) == sent and recorder.events[-1][0] == "cancel"


async def test_a_gap_in_playback_re_anchors_the_next_batches() -> None:
    clock = ManualClock()
    sink, scheduler, recorder = make(clock, mode="audio")
    play(scheduler, sink, 1, vowel("oh", 0.5))
    await settle()
    clock.now += 2.0  # the sink starves for 1.5 s: the next chunk starts when it is written
    play(scheduler, sink, 1, vowel("oh", 0.5))
    await settle()
    later = [b for b in recorder.batches() if b.host_time_ms > 101_000.0]
    assert later, "the second chunk's frames are due after the gap"
    first_late = min(b.host_time_ms for b in later)
    # Its first frames (centred in the second chunk) are due at 102 s minus the lead, not at 100.5 s.
    assert 102_000.0 - 30.0 - 15.0 <= first_late <= 102_000.0 - 30.0 + 15.0


async def test_the_end_of_a_heard_turn_sends_end_and_an_abort_sends_cancel() -> None:
    clock = ManualClock()
    sink, scheduler, recorder = make(clock, mode="audio")
    play(scheduler, sink, 1, vowel("ee", 0.5))
    await settle()
    clock.now += 0.6
    scheduler.on_mouth_close(1)
    kind, (name, end_ms) = recorder.events[-1]
    assert (kind, name) == ("end", "u1") and end_ms == pytest.approx(100_500.0)
    play(scheduler, sink, 2, vowel("ee", 0.5))
    await settle()
    clock.now += 0.1
    sink.stop()
    scheduler.on_mouth_close(2)
    assert recorder.events[-1] == ("cancel", "u2")
    scheduler.on_mouth_close(2)  # a second close changes nothing
    assert recorder.events[-1] == ("cancel", "u2")


async def test_cues_not_yet_sent_when_cancelled_are_dropped() -> None:
    clock = ManualClock()
    sink, scheduler, recorder = make(clock, mode="audio")
    play(scheduler, sink, 1, vowel("aa", 0.5))
    sink.stop()
    scheduler.on_mouth_close(1)  # before the loop stamped the batches
    await settle()
    assert recorder.events == []


async def test_phoneme_marks_drive_the_mouth_when_the_voice_gives_them() -> None:
    clock = ManualClock()
    sink, scheduler, recorder = make(clock, mode="auto")
    # "ma", heard as 0.2 s of m, then 0.3 s of a; the PCM itself is silent, so only the marks can open the mouth.
    marks = (SpeechMark("phoneme", 0, name="m"), SpeechMark("phoneme", round(0.2 * RATE), name="a"))
    play(scheduler, sink, 1, np.zeros(round(0.5 * RATE), np.int16), marks)
    await settle()
    weights = np.concatenate([b.weights for b in recorder.batches()])
    assert weights[:15].sum() == 0.0, "closed lips during the m"
    assert weights[30:45, 0].min() > 0.5, "open on the a"


def test_batches_must_fit_the_protocol() -> None:
    with pytest.raises(ValueError):
        CueScheduler(NullSink(RATE), default_profile, batch_frames=121)


async def test_audio_path_chunks_after_phoneme_chunks_are_timed_where_they_are_heard() -> None:
    clock = ManualClock()
    sink, scheduler, recorder = make(clock, mode="auto")
    # 1 s of a hummed m with its phoneme mark (lips shut), then 0.5 s of a vowel without marks (the audio path),
    # 0.5 s of m again, 0.5 s of vowel: each part's frames are due when that part is heard, not at the utterance's
    # start (100 s, less the 30 ms lead).
    hum = (SpeechMark("phoneme", 0, name="m"),)
    play(scheduler, sink, 1, np.zeros(RATE, np.int16), hum)
    await settle()
    play(scheduler, sink, 1, vowel("aa", 0.5))
    play(scheduler, sink, 1, np.zeros(round(0.5 * RATE), np.int16), hum)
    play(scheduler, sink, 1, vowel("aa", 0.5))
    scheduler.on_audio_end(1)
    await settle()
    batches = recorder.batches()
    weights = np.concatenate([b.weights for b in batches])
    times = np.concatenate([b.host_time_ms + np.arange(len(b.weights)) * 1000.0 / b.frame_rate for b in batches])
    heard = times + 30.0 - 100_000.0  # when each frame's sound is heard, ms after the utterance's start
    opening = weights.sum(axis=1)
    assert heard.min() >= -1.0 and heard.max() <= 2_520.0
    for start_ms, end_ms, is_open in [(50, 950, False), (1050, 1450, True), (1550, 1950, False), (2050, 2450, True)]:
        inside = (heard > start_ms) & (heard < end_ms)
        assert inside.sum() >= (end_ms - start_ms) / 10 - 1, f"every frame of {start_ms}-{end_ms} ms is there"
        if is_open:
            assert opening[inside].min() > 0.3, f"open while the vowel at {start_ms}-{end_ms} ms is heard"
        else:
            assert opening[inside].max() < 0.05, f"shut while the m at {start_ms}-{end_ms} ms is heard"
    assert len(times) <= 2.5 * batches[-1].frame_rate + 5, "no part is counted twice"
