"""The sound-card sink's clock, driven through a stand-in for ``QAudioSink`` (no sound card on this machine).

The stand-in behaves as Qt 6.10+ backends do: the app writes into Qt's ring buffer (``bufferSize``, ``bytesFree``), the
platform's callback takes frames out of it, and ``processedUSecs`` counts what the callback took. The sink's clock
must follow that count alone (audio still in the ring is not heard yet, and is already left out of it).
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

from app.lipsync.cues import CueBatch, CueScheduler
from app.lipsync.profile import default_profile
from app.speech.events import AudioEvent
from app.speech.player import ScheduledAudio
from app.speech.qt_sink import NoAudioDevice, QtAudioSink

pytestmark = pytest.mark.qt
RATE = 48_000


class RingIO:
    def __init__(self, device: StandInAudioSink) -> None:
        self.device = device

    def write(self, data: bytes) -> int:
        room = self.device.bufferSize() - len(self.device.ring)
        taken = data[:room]
        self.device.ring += taken
        return len(taken)


class StandInAudioSink:
    """``QAudioSink`` in push mode as far as QtAudioSink uses it; ``callback`` plays the part of the platform."""

    def __init__(self, ring_bytes: int = RATE // 5 * 2, opens: bool = True) -> None:
        self.ring = bytearray()
        self.ring_bytes = ring_bytes
        self.processed_frames = 0
        self.opens = opens

    def start(self) -> RingIO | None:
        return RingIO(self) if self.opens else None

    def error(self) -> SimpleNamespace:
        return SimpleNamespace(name="NoError" if self.opens else "OpenError")

    def bufferSize(self) -> int:  # noqa: N802 - Qt's name
        return self.ring_bytes

    def bytesFree(self) -> int:  # noqa: N802 - Qt's name
        return self.ring_bytes - len(self.ring)

    def processedUSecs(self) -> int:  # noqa: N802 - Qt's name
        return self.processed_frames * 1_000_000 // RATE

    def reset(self) -> None:
        self.ring.clear()
        self.processed_frames = 0

    def stop(self) -> None:
        self.ring.clear()

    def callback(self, frames: int) -> None:
        taken = min(frames * 2, len(self.ring))
        del self.ring[:taken]
        self.processed_frames += taken // 2


async def test_the_clock_counts_what_the_platform_took_not_what_waits_in_qts_buffer(qtbot: object) -> None:
    device = StandInAudioSink()
    sink = QtAudioSink(RATE, device)
    try:
        sink.write(np.ones(RATE, np.int16))  # one second: 0.2 s fills the ring, the rest waits in the sink
        assert (sink.written(), sink.position(), sink.buffered()) == (RATE, 0, RATE)
        assert len(device.ring) == device.ring_bytes
        device.callback(RATE // 10)  # the platform played 100 ms
        assert sink.position() == RATE // 10  # not less the 200 ms waiting in the ring
        before = time.monotonic()
        heard_at = sink.time_of(RATE // 5)
        assert heard_at is not None and heard_at == pytest.approx(before + 0.1, abs=0.01)
        assert sink.time_of(RATE + 1) is None  # not written
        sink._feed()  # the feed timer tops the ring up as the platform drains it
        assert len(device.ring) == device.ring_bytes

        # Stop: the clock stays where playback stopped, the queued audio is gone, and the count Qt restarts from
        # zero continues the sink's clock.
        sink.stop()
        assert (sink.written(), sink.position(), sink.buffered()) == (RATE // 10, RATE // 10, 0)
        sink.write(np.ones(RATE // 10, np.int16))
        device.callback(RATE // 20)
        assert sink.position() == RATE // 10 + RATE // 20
        device.callback(RATE)  # it cannot count more than was written
        assert sink.position() == sink.written() == RATE // 5
    finally:
        sink.close()


async def test_a_device_that_does_not_open_is_no_audio_device(qtbot: object) -> None:
    with pytest.raises(NoAudioDevice, match="could not be opened"):
        QtAudioSink(RATE, StandInAudioSink(opens=False))


class Batches:
    def __init__(self) -> None:
        self.batches: list[CueBatch] = []

    def begin(self, utterance: str, host_time_ms: float, frame_rate: float, lead_ms: float) -> None:
        pass

    def cues(self, batch: CueBatch) -> None:
        self.batches.append(batch)

    def end(self, utterance: str, host_time_ms: float) -> None:
        pass

    def cancel(self, utterance: str) -> None:
        pass


@pytest.mark.parametrize("output_latency_ms", [0.0, 180.0])
async def test_cues_on_the_device_clock_are_shown_when_the_sound_is_heard(
    qtbot: object, output_latency_ms: float
) -> None:
    """The first frame of audio the platform will play 100 ms from now is due then (less the lead), plus the
    speakers' own latency the user set."""
    device = StandInAudioSink()
    sink = QtAudioSink(RATE, device)
    scheduler = CueScheduler(
        sink, default_profile, mode="audio", send_ahead_s=float("inf"), output_latency_s=output_latency_ms / 1000
    )
    batches = Batches()
    scheduler.add_output(batches)
    try:
        sink.write(np.zeros(RATE // 10, np.int16))  # already queued: heard in 100 ms
        pcm = (np.sin(np.arange(RATE // 2) * 2 * np.pi * 220 / RATE) * 8000).astype(np.int16)
        event = AudioEvent(0, pcm, RATE, 0)
        scheduler.on_audio(ScheduledAudio(1, event, pcm, sink.written(), RATE, ()))
        sink.write(pcm)
        scheduler.on_audio_end(1)
        now_ms = time.monotonic() * 1000.0
        first = batches.batches[0]
        lead_ms = scheduler.shaping.lead_s * 1000.0
        assert first.host_time_ms == pytest.approx(now_ms + 100.0 + output_latency_ms - lead_ms, abs=10.0)
    finally:
        sink.close()
