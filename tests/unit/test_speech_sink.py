"""The null sink's playback clock and the streaming resampler."""

from __future__ import annotations

import importlib.util
import logging

import numpy as np
import pytest

from app.speech.sink import LinearResampler, NullSink, open_sink


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def tone(seconds: float, rate: int, hz: float = 440.0) -> np.ndarray[tuple[int], np.dtype[np.int16]]:
    t = np.arange(round(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * 10000).astype(np.int16)


def test_the_clock_runs_at_the_sample_rate_and_stops_where_the_audio_ends() -> None:
    clock = ManualClock()
    sink = NullSink(1000, clock)
    sink.write(np.zeros(500, dtype=np.int16))
    assert sink.position() == 0 and sink.time_of(250) == 100.25
    clock.now += 0.2
    assert sink.position() == 200 and sink.buffered() == 300
    clock.now += 1.0
    assert sink.position() == 500  # starved: the clock waits for more audio


def test_audio_written_after_a_gap_starts_when_it_arrives() -> None:
    clock = ManualClock()
    sink = NullSink(1000, clock)
    sink.write(np.zeros(100, dtype=np.int16))
    clock.now += 5.0
    sink.write(np.zeros(100, dtype=np.int16))
    assert sink.time_of(100) == clock.now
    clock.now += 0.05
    assert sink.position() == 150


def test_stop_is_silence_now_and_drops_what_was_queued() -> None:
    clock = ManualClock()
    sink = NullSink(1000, clock)
    sink.write(np.zeros(1000, dtype=np.int16))
    clock.now += 0.3
    sink.stop()
    assert sink.written() == sink.position() == 300
    clock.now += 1.0
    assert sink.position() == 300 and list(sink.stops) == [(100.3, 300)] and sink.stop_count == 1
    assert sink.time_of(500) is None


def test_the_stop_history_stays_bounded_for_a_sink_that_lives_as_long_as_the_app() -> None:
    clock = ManualClock()
    sink = NullSink(1000, clock)
    for _ in range(1000):
        clock.now += 0.01
        sink.write(np.zeros(100, dtype=np.int16))
        sink.stop()
    assert sink.stop_count == 1000
    assert len(sink.stops) == NullSink.STOP_HISTORY
    assert sink.stops[-1] == (clock.now, sink.position())


def test_resampling_in_chunks_equals_resampling_at_once_and_keeps_the_pitch() -> None:
    source = tone(1.0, 22050)
    whole = LinearResampler(22050, 48000).process(source)
    streaming = LinearResampler(22050, 48000)
    sizes = [1, 7, 1300, 4096, 333]
    pieces = []
    start = 0
    for n in range(100):
        size = sizes[n % len(sizes)]
        pieces.append(streaming.process(source[start : start + size]))
        start += size
        if start >= len(source):
            break
    joined = np.concatenate(pieces)
    assert abs(len(whole) - 48000) <= 2
    assert len(joined) == len(whole)
    assert np.abs(joined.astype(np.int32) - whole).max() <= 1  # float rounding of positions only
    spectrum = np.abs(np.fft.rfft(whole.astype(np.float64)))
    assert abs(np.argmax(spectrum) * 48000 / len(whole) - 440) < 2


def test_same_rate_is_passed_through() -> None:
    source = tone(0.1, 24000)
    assert LinearResampler(24000, 24000).process(source) is source


def test_without_a_device_the_null_sink_is_chosen_and_the_log_says_why(caplog: pytest.LogCaptureFixture) -> None:
    """Through the real QtMultimedia when it is installed (PySide6-Addons, as the desktop app has): with no sound card
    its device list is empty, so the null sink is chosen and the log says why."""
    if importlib.util.find_spec("PySide6.QtMultimedia") is not None:
        from PySide6.QtMultimedia import QMediaDevices  # noqa: PLC0415
        from PySide6.QtWidgets import QApplication  # noqa: PLC0415

        QApplication.instance() or QApplication([])
        if not QMediaDevices.defaultAudioOutput().isNull():
            pytest.skip("this machine has an audio output, so a real device is chosen")
        reason = "the system reports no audio output"
    else:
        reason = "QtMultimedia is not installed"
    caplog.set_level(logging.INFO, logger="app.speech.sink")
    sink = open_sink(prefer_device=True, sample_rate=44100)
    assert isinstance(sink, NullSink) and sink.sample_rate == 44100
    assert "no audio device" in caplog.text and reason in caplog.text and "null sink" in caplog.text
