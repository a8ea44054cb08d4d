"""Where speech audio goes, and the playback clock that everything timed against speech follows.

An :class:`AudioSink` accepts signed 16-bit mono PCM at its own rate and counts samples: ``written`` (accepted) and
``position`` (heard, the playback clock). ``time_of(sample)`` tells when a sample is or was heard on the monotonic
clock, which is how lip sync places mouth shapes. ``stop`` silences at once and drops what was queued.

:class:`NullSink` is the sink without a sound card: it "plays" on the monotonic clock, exactly as a device would,
so timing, abort latency and lip sync are the same with or without speakers. :func:`open_sink` picks the device sink
(QtMultimedia) when it can and falls back to the null sink, saying why in the log.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import math
import time
from collections.abc import Callable

import numpy as np

from app.speech.events import Pcm

log = logging.getLogger("app.speech.sink")

DEFAULT_SINK_RATE = 48_000


class AudioSink(abc.ABC):
    sample_rate: int

    @abc.abstractmethod
    def write(self, pcm: Pcm) -> None:
        """Queue samples after everything written so far; never blocks."""

    @abc.abstractmethod
    def written(self) -> int:
        """Samples accepted since the sink opened (stopped samples excluded)."""

    @abc.abstractmethod
    def position(self) -> int:
        """Samples heard since the sink opened: the playback clock."""

    @abc.abstractmethod
    def time_of(self, sample: int) -> float | None:
        """Monotonic time at which ``sample`` is (or was) heard; None when it is not scheduled."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Silence now: queued samples are dropped, the clock stays where playback stopped."""

    @abc.abstractmethod
    async def wait_position(self, sample: int) -> None:
        """Returns once ``position() >= sample`` or nothing written is left to reach it (a stop)."""

    def buffered(self) -> int:
        return self.written() - self.position()

    async def drain(self) -> None:
        """Wait until everything written has been heard (or was stopped)."""
        await self.wait_position(self.written())

    async def wait_buffered_below(self, samples: int) -> None:
        """Backpressure: wait until at most ``samples`` are queued ahead of the playback clock."""
        await self.wait_position(self.written() - samples)

    def close(self) -> None:  # noqa: B027 - most sinks hold nothing to release
        """Release the device."""


class NullSink(AudioSink):
    """Consumes audio in real time on the monotonic clock; silent. Used when there is no audio device."""

    def __init__(self, sample_rate: int = DEFAULT_SINK_RATE, clock: Callable[[], float] = time.monotonic) -> None:
        self.sample_rate = sample_rate
        self._clock = clock
        self._written = 0
        self._anchor_sample = 0
        self._anchor_time = clock()
        self._stopped = asyncio.Event()
        self.stops: list[tuple[float, int]] = []
        """(monotonic time, position) of every stop, for diagnostics and tests."""

    def written(self) -> int:
        return self._written

    def position(self) -> int:
        elapsed = self._clock() - self._anchor_time
        return min(self._written, self._anchor_sample + math.floor(elapsed * self.sample_rate + 1e-6))

    def time_of(self, sample: int) -> float | None:
        if sample > self._written or sample < self._anchor_sample:
            return None
        return self._anchor_time + (sample - self._anchor_sample) / self.sample_rate

    def write(self, pcm: Pcm) -> None:
        if not len(pcm):
            return
        now = self._clock()
        heard = self.position()
        if heard >= self._written:  # idle or starved: playback (re)starts now
            self._anchor_sample = heard
            self._anchor_time = now
        self._written += len(pcm)

    def stop(self) -> None:
        now = self._clock()
        heard = self.position()
        self._written = heard
        self._anchor_sample = heard
        self._anchor_time = now
        self.stops.append((now, heard))
        self._stopped.set()
        self._stopped = asyncio.Event()

    async def wait_position(self, sample: int) -> None:
        while True:
            target = min(sample, self._written)
            missing = target - self.position()
            if missing <= 0:
                return
            stopped = self._stopped
            try:
                await asyncio.wait_for(stopped.wait(), missing / self.sample_rate)
            except TimeoutError:
                continue


class LinearResampler:
    """Streaming linear-interpolation resampler for mono int16 (speech into a device's rate); keeps phase across
    chunks so joined output equals resampling the joined input."""

    def __init__(self, source_rate: int, target_rate: int) -> None:
        self.source_rate = source_rate
        self.target_rate = target_rate
        self._step = source_rate / target_rate
        self._next = 0.0
        """Position of the next output sample, in input samples from the start of the next chunk (>= -1)."""
        self._previous: float | None = None

    def process(self, pcm: Pcm) -> Pcm:
        if self.source_rate == self.target_rate or not len(pcm):
            return pcm
        samples = pcm.astype(np.float64)
        offset = 0
        if self._previous is not None:
            samples = np.concatenate(([self._previous], samples))
            offset = 1
        start = self._next + offset
        last = len(samples) - 1
        count = 0 if start > last else math.floor((last - start) / self._step) + 1
        positions = start + np.arange(count) * self._step
        out = np.interp(positions, np.arange(len(samples)), samples)
        self._next = start + count * self._step - offset - len(pcm)
        self._previous = float(pcm[-1])
        resampled: Pcm = np.clip(np.rint(out), -32768, 32767).astype(np.int16)
        return resampled


def open_sink(prefer_device: bool = True, sample_rate: int = DEFAULT_SINK_RATE) -> AudioSink:
    """The default output device through QtMultimedia, else the null sink (the log says which and why)."""
    if prefer_device:
        from app.speech.qt_sink import NoAudioDevice, QtAudioSink  # noqa: PLC0415 - Qt only when a device is wanted

        try:
            sink: AudioSink = QtAudioSink(sample_rate)
        except NoAudioDevice as reason:
            log.warning("no audio device (%s): speech is timed on the null sink and not heard", reason)
        else:
            log.info("audio output: %s at %d Hz", getattr(sink, "device_name", "device"), sink.sample_rate)
            return sink
    else:
        log.info("audio output: null sink at %d Hz (speech is timed but not heard)", sample_rate)
    return NullSink(sample_rate)
