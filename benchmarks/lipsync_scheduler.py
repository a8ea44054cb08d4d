"""The audio path's cost in the app's own path: the real Speaker and cue scheduler on a virtual clock.

The lip-sync benchmark's streaming figure feeds the audio path 60 ms chunks and analyses every
``STREAMING_MIN_FRAMES`` frames. In the app the cue scheduler decides when held audio is analysed: at the latest
``HELD_AUDIO_MARGIN_S`` before its cues are due, which with the Speaker's 530 ms look-ahead comes after a few
chunks, and at once at the start of each utterance (the Speaker's start delay, the lead plus that margin, lets them
leave ahead of the first sound there too). This module plays the same audio
through the real :class:`~app.speech.player.Speaker` (a session that hands over pre-synthesised audio in 60 ms
chunks, as a streaming provider does once it is ahead of playback) into a :class:`~app.speech.sink.NullSink`, with the
:class:`~app.lipsync.cues.CueScheduler` hooked in as the app wires it. The event loop runs on a virtual clock (a
timer's wait passes at once), so 6 minutes of audio play in under a second and every deadline falls exactly.

The cost is the process time of that run minus the same run without the scheduler (the Speaker, the sink and the
loop alone). It also reports how many analyses the scheduler made and how long before they were due batches left
(each utterance's first apart).
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.lipsync import audio as audio_path
from app.lipsync.cues import CueBatch, CueScheduler
from app.lipsync.profile import VoiceProfile
from app.speech.events import AudioEvent, DoneEvent, SessionEvent, SessionStats
from app.speech.hooks import SpeakerHooks
from app.speech.player import Speaker
from app.speech.session import SpeechSession
from app.speech.sink import NullSink

CHUNK_S = 0.060


@dataclass(frozen=True)
class Spoken:
    pcm: npt.NDArray[np.int16]
    sample_rate: int
    profile: VoiceProfile


@dataclass(frozen=True)
class SchedulerCost:
    cpu_s: float
    """Process time of the scheduler (the run with it, minus the run without)."""
    analyses: int
    """Calls of the audio path's analysis (each has a fixed cost of about 0.1 ms)."""
    frames: int
    ahead_ms: tuple[float, float]
    """(median, least) time before it was due that a batch left, each utterance's first batch aside. About the
    scheduler's margin, less up to half a window (a batch's first frame is centred up to half a window before the
    held audio that completed it)."""
    first_ahead_ms: tuple[float, float]
    """The same for each utterance's first batch, which the Speaker's start delay puts ahead of its sound (negative:
    late)."""


class _VirtualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _VirtualSelector(selectors.SelectSelector):
    """Never sleeps: a wait for the next timer moves the clock to it."""

    def __init__(self, clock: _VirtualClock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout:
            self._clock.now += timeout
        return super().select(0)


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: _VirtualClock) -> None:
        super().__init__(_VirtualSelector(clock))
        self._clock = clock

    def time(self) -> float:
        return self._clock.now


class _PlayRecording(SpeechSession):
    """Hands over one recording in chunks, all available at once (a provider ahead of playback)."""

    def __init__(self, pcm: npt.NDArray[np.int16], sample_rate: int) -> None:
        self._pcm = pcm
        self._rate = sample_rate

    async def append_text(self, text: str) -> None:
        return None

    async def finish(self) -> None:
        return None

    async def cancel(self, reason: str = "cancelled") -> None:
        return None

    async def events(self) -> AsyncIterator[SessionEvent]:
        chunk = round(CHUNK_S * self._rate)
        for start in range(0, len(self._pcm), chunk):
            yield AudioEvent(0, self._pcm[start : start + chunk], self._rate, start)
        yield DoneEvent(SessionStats(None, 0, len(self._pcm) / self._rate))


class _BatchTimes:
    """A cue output that notes how long before it is due each batch leaves."""

    def __init__(self, clock: _VirtualClock) -> None:
        self._clock = clock
        self.frames = 0
        self.ahead_ms: list[float] = []
        self.first_ahead_ms: list[float] = []
        self._utterances: set[str] = set()

    def begin(self, utterance: str, host_time_ms: float, frame_rate: float, lead_ms: float) -> None:
        return None

    def cues(self, batch: CueBatch) -> None:
        self.frames += len(batch.weights)
        ahead_ms = batch.host_time_ms - self._clock.now * 1000.0
        (self.ahead_ms if batch.utterance in self._utterances else self.first_ahead_ms).append(ahead_ms)
        self._utterances.add(batch.utterance)

    def end(self, utterance: str, host_time_ms: float) -> None:
        return None

    def cancel(self, utterance: str) -> None:
        return None


def _play_all(spoken: Sequence[Spoken], with_scheduler: bool) -> tuple[float, _BatchTimes]:
    clock = _VirtualClock()
    loop = _VirtualLoop(clock)
    recordings = iter(spoken)
    current: list[Spoken] = []
    outputs = _BatchTimes(clock)

    def next_session() -> SpeechSession:
        current[:] = [next(recordings)]
        return _PlayRecording(current[0].pcm, current[0].sample_rate)

    async def play() -> None:
        sink = NullSink(spoken[0].sample_rate, clock)
        hooks = SpeakerHooks()
        if with_scheduler:
            scheduler = CueScheduler(sink, lambda: current[0].profile, mode="audio")
            scheduler.add_output(outputs)
            hooks = SpeakerHooks(
                on_audio=scheduler.on_audio,
                on_audio_end=scheduler.on_audio_end,
                on_mouth_close=scheduler.on_mouth_close,
                start_delay_s=scheduler.start_delay_s,
            )
        speaker = Speaker(sink, next_session, hooks)
        for _ in spoken:
            await speaker.say("")

    started = time.process_time()
    try:
        loop.run_until_complete(play())
    finally:
        loop.close()
    return time.process_time() - started, outputs


def _counting(analyse: Callable[..., Any], calls: list[int]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return analyse(*args, **kwargs)

    return counted


def scheduler_cost(spoken: Sequence[Spoken]) -> SchedulerCost:
    """Runs without and with the scheduler (all recordings at one sample rate, the sink's), and one more with its
    analyses counted (apart: the count must not weigh on the time; on the virtual clock every run is the same)."""
    if len({s.sample_rate for s in spoken}) > 1:
        raise ValueError("one sample rate for all recordings")
    alone_s, _ = _play_all(spoken, with_scheduler=False)
    with_s, outputs = _play_all(spoken, with_scheduler=True)
    calls = [0]
    analyse = audio_path.raw_from_features
    audio_path.raw_from_features = _counting(analyse, calls)  # looked up in its module by AudioLipSync
    try:
        _play_all(spoken, with_scheduler=True)
    finally:
        audio_path.raw_from_features = analyse
    return SchedulerCost(
        with_s - alone_s,
        calls[0],
        outputs.frames,
        _median_least(outputs.ahead_ms),
        _median_least(outputs.first_ahead_ms),
    )


def _median_least(values: Sequence[float]) -> tuple[float, float]:
    return (float(np.median(values)), min(values)) if values else (np.nan, np.nan)
