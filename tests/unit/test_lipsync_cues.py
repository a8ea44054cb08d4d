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
from app.speech.sink import AudioSink, NullSink
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
    """A scheduler on a manual clock; unless told otherwise it sends each batch as soon as it is computed (the
    pacing tests below move the clock and say when batches leave)."""
    options.setdefault("send_ahead_s", math.inf)
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
    # The last (partial) chunk is held, and the last half window is not complete yet.
    assert sent <= math.ceil(0.5 * frame_rate) - 3, "the end of the audio is held"
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


async def test_silence_the_speaker_puts_between_chunks_ends_the_held_audio_and_times_what_follows() -> None:
    """A provider that fell behind: the Speaker writes its start delay (silence, no hook) before the next chunk. The
    audio held so far is analysed up to the gap, and the next chunk's frames are timed where it lies on the sink."""
    clock = ManualClock()
    sink, scheduler, recorder = make(clock, mode="audio")
    first = vowel("oh", 0.5)
    play(scheduler, sink, 1, first)
    await settle()
    clock.now += 0.5  # heard
    sink.write(np.zeros(round(0.13 * RATE), np.int16))  # the start delay, written at 100.5 s
    play(scheduler, sink, 1, vowel("aa", 0.5))
    scheduler.on_audio_end(1)
    await settle()
    batches = recorder.batches()
    _alone_sink, alone, alone_recorder = make(ManualClock(), mode="audio")
    play(alone, _alone_sink, 1, first)
    alone.on_audio_end(1)
    per_chunk = sum(len(b.weights) for b in alone_recorder.batches())  # a chunk ended by silence, on its own
    assert sum(len(b.weights) for b in batches) == 2 * per_chunk, "none lost or doubled at the gap"
    step = 1000.0 / batches[0].frame_rate
    times = np.concatenate([b.host_time_ms + step * np.arange(len(b.weights)) for b in batches])
    assert np.all(np.diff(times) > 0.0), "in order, no overlap"
    # The second chunk's frames start when it is heard, after the gap (minus the lead).
    assert times[per_chunk] == pytest.approx(100_630.0 - 30.0, abs=step)


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


class DriftingSink(AudioSink):
    """A sound card whose clock runs ``speed`` times as fast as the host's: it reads its clock as QtAudioSink does
    (now, plus the samples still to play at the nominal rate), so a time read far ahead is off by the drift."""

    def __init__(self, clock: ManualClock, speed: float) -> None:
        self.sample_rate = RATE
        self.clock = clock
        self.speed = speed
        self.started = clock()
        self._written = 0

    def heard_at(self, sample: int) -> float:
        """When ``sample`` is really heard, on the host clock."""
        return self.started + sample / (RATE * self.speed)

    def write(self, pcm: np.ndarray) -> None:
        self._written += len(pcm)

    def written(self) -> int:
        return self._written

    def position(self) -> int:
        return min(self._written, math.floor((self.clock() - self.started) * RATE * self.speed))

    def time_of(self, sample: int) -> float | None:
        return None if sample > self._written else self.clock() + (sample - self.position()) / RATE

    def stop(self) -> None:
        self._written = self.position()

    async def wait_position(self, sample: int) -> None:
        raise NotImplementedError


@pytest.mark.parametrize("speed", [1.002, 0.998])
async def test_a_long_utterance_on_a_drifting_sound_card_stays_on_time(speed: float) -> None:
    clock = ManualClock()
    sink = DriftingSink(clock, speed)
    scheduler = CueScheduler(sink, default_profile, mode="audio")
    sent: list[tuple[float, CueBatch]] = []
    recorder = Recorder()
    recorder.cues = lambda batch: sent.append((clock(), batch))  # type: ignore[method-assign]
    scheduler.add_output(recorder)
    # One minute written at once, as espeak hands over a long sentence; the card plays it 0.2 % fast or slow.
    play(scheduler, sink, 1, np.tile(vowel("aa", 1.0), 60))  # type: ignore[arg-type]
    scheduler.on_audio_end(1)
    await settle()
    while clock.now < 161.0:  # the host's clock moves on; the scheduler's timer would call send_due meanwhile
        clock.now += 0.01
        scheduler.send_due()
    lead_s = scheduler.shaping.lead_s
    frames = 0
    errors_ms = []
    for index, (sent_at, batch) in enumerate(sent):
        shown_s = batch.host_time_ms / 1000.0
        # (The first frame is due one lead before the first sound, which plays as it is written: that lead is lost.)
        assert sent_at <= shown_s + (lead_s if index == 0 else 0.011), "not late"
        assert shown_s - sent_at <= scheduler.send_ahead_s + 0.011, "sent shortly before it is due, not long before"
        sample = round(frames / batch.frame_rate * RATE)  # the sound this batch's first frame goes with
        errors_ms.append((shown_s + lead_s - sink.heard_at(sample)) * 1000.0)
        frames += len(batch.weights)
    assert frames >= 59.9 * sent[0][1].frame_rate, "the whole minute was sent"
    assert max(abs(e) for e in errors_ms) < 2.0, errors_ms
    # What stamping every batch when the sentence was written (its clock read once) would have been off by at the end.
    assert abs(100.0 + sample / RATE - sink.heard_at(sample)) > 0.1


async def test_batches_wait_until_shortly_before_they_are_due_and_a_cancel_drops_the_rest() -> None:
    clock = ManualClock()
    sink, scheduler, recorder = make(clock, mode="audio", send_ahead_s=0.4)
    play(scheduler, sink, 1, vowel("aa", 2.0))
    await settle()
    shown_by_ms = 100_000.0 + 400.0
    assert recorder.batches() and all(b.host_time_ms <= shown_by_ms for b in recorder.batches())
    assert sum(len(b.weights) for b in recorder.batches()) < 0.5 * recorder.batches()[0].frame_rate
    clock.now += 1.0
    scheduler.send_due()
    assert max(b.host_time_ms for b in recorder.batches()) > 100_000.0 + 1_000.0, "the next ones left as time came"
    assert all(b.host_time_ms <= shown_by_ms + 1_000.0 for b in recorder.batches())
    sent = len(recorder.batches())
    sink.stop()
    scheduler.on_mouth_close(1)
    clock.now += 2.0
    scheduler.send_due()
    assert len(recorder.batches()) == sent and recorder.events[-1] == ("cancel", "u1")


async def test_held_audio_is_analysed_by_its_deadline_on_the_sink_clock_when_more_audio_joins_it() -> None:
    clock = ManualClock()  # the sink's clock moves only when the test moves it
    sink, scheduler, recorder = make(clock, mode="audio", batch_frames=120)
    play(scheduler, sink, 1, vowel("aa", 0.4, level=0.1))  # heard at once: analysed at once
    await settle()
    first = len(recorder.batches())
    chunk = round(0.06 * RATE)
    more = vowel("aa", 0.12, level=0.1)
    # Held audio that starts 400 ms ahead of playback is due in 400 - 30 (lead) - 100 (margin) = 270 ms...
    play(scheduler, sink, 1, more[:chunk])
    await settle()
    # ...and 200 ms later on the sink's clock (the loop's clock has not moved), 70 ms from now: the next chunk, held
    # with it, must not leave the analysis at the first deadline.
    clock.now += 0.2
    play(scheduler, sink, 1, more[chunk:])
    await settle()
    assert len(recorder.batches()) == first, "held back"
    await asyncio.sleep(0.17)
    assert len(recorder.batches()) == first + 1, "analysed by the deadline of the sink's clock, not the first one"


async def test_audio_written_in_one_go_is_analysed_at_once_when_the_speaker_yields() -> None:
    clock = ManualClock()
    sink, scheduler, recorder = make(clock, mode="audio", batch_frames=120)
    pcm = vowel("aa", 0.18, level=0.1)
    chunk = round(0.06 * RATE)
    # An utterance's start: the sink is empty, so the Speaker writes 60 ms chunks without waiting (under the 20
    # frames an analysis holds at most), and they are all due at once.
    for start in range(0, len(pcm), chunk):
        play(scheduler, sink, 1, pcm[start : start + chunk])
    assert recorder.events == [], "nothing leaves while the Speaker is still writing"
    await settle()
    batches = recorder.batches()
    assert len(batches) == 1, "the three chunks in one analysis"
    assert batches[0].host_time_ms == pytest.approx(100_000.0 - 30.0, abs=0.1)
    # All frames but the last half window's, which waits for more audio or the end.
    expected = math.ceil(0.18 * batches[0].frame_rate)
    assert expected - 3 <= len(batches[0].weights) < expected
