"""The sound-card sink: QtMultimedia's ``QAudioSink`` in push mode, behind :class:`~app.speech.sink.AudioSink`.

QtMultimedia is not part of PySide6-Essentials (it ships in PySide6-Addons), so it is imported lazily and its absence
is one of the reasons :func:`~app.speech.sink.open_sink` falls back to the null sink. It needs a running Qt
application (the app's qasync loop) because the device is fed from a Qt timer.

The clock is ``processedUSecs()``. Since Qt 6.10 (we ship 6.11) every backend counts there the frames its platform
callback took out of Qt's ring buffer, so audio still waiting in that buffer (``bufferSize() - bytesFree()``) is
already left out and must not be subtracted again; the older PulseAudio backend even subtracted the server's
latency. What Qt does not report is the platform's own buffer and the device after the callback (a few periods on
PulseAudio/PipeWire, 150-250 ms on Bluetooth): the user's ``lip_sync.output_latency_ms`` covers that, added by the cue
scheduler on any sink. The desktop app installs PySide6-Addons, so the tests run the real QtMultimedia and check its
no-device fallback, and drive this class through a stand-in for ``QAudioSink`` (the platform boundary: no sound card
here, ``shared/reference/qt-stack.md`` 5.1).
"""

from __future__ import annotations

import asyncio
import importlib
import time
from typing import Any

from app.speech.events import Pcm
from app.speech.sink import AudioSink

_FEED_INTERVAL_MS = 10


class NoAudioDevice(Exception):
    pass


class QtAudioSink(AudioSink):
    def __init__(self, sample_rate: int, device_sink: Any = None) -> None:
        """``device_sink``: an opened ``QAudioSink`` (or a stand-in with its methods) at ``sample_rate``; by default
        the system's default output, opened here."""
        try:
            core: Any = importlib.import_module("PySide6.QtCore")
        except ImportError as error:
            raise NoAudioDevice("Qt is not installed") from error
        if core.QCoreApplication.instance() is None:
            raise NoAudioDevice("no Qt application is running")
        if device_sink is None:
            self._sink, self.device_name, self.sample_rate = _open_default_output(sample_rate)
        else:
            self._sink, self.device_name, self.sample_rate = device_sink, "audio device", sample_rate
        self._io = self._sink.start()
        # QAudioSink.error() returns QtAudio.Error, which does not compare equal to QAudio.Error: compare names.
        if self._io is None or self._sink.error().name != "NoError":
            raise NoAudioDevice(f"{self.device_name} could not be opened")
        self._pending = bytearray()
        self._base = 0  # clock position when the device stream was (re)started
        self._written = 0
        self._timer = core.QTimer()
        self._timer.setInterval(_FEED_INTERVAL_MS)
        self._timer.timeout.connect(self._feed)
        self._timer.start()

    def _feed(self) -> None:
        free = int(self._sink.bytesFree())
        if self._pending and free > 0:
            count = int(self._io.write(bytes(self._pending[: free - free % 2])))
            del self._pending[: max(count, 0)]

    def written(self) -> int:
        return self._written

    def position(self) -> int:
        processed = round(int(self._sink.processedUSecs()) * self.sample_rate / 1_000_000)
        return min(self._written, self._base + processed)

    def time_of(self, sample: int) -> float | None:
        if sample > self._written:
            return None
        return time.monotonic() + (sample - self.position()) / self.sample_rate

    def write(self, pcm: Pcm) -> None:
        self._pending += pcm.astype("<i2").tobytes()
        self._written += len(pcm)
        self._feed()

    def stop(self) -> None:
        heard = self.position()
        self._pending.clear()
        self._sink.reset()  # drops what the device still buffers
        self._io = self._sink.start()
        self._base = heard
        self._written = heard

    async def wait_position(self, sample: int) -> None:
        # The device clock has no signal to wait on, so it is polled at the feed interval.
        while True:
            if self.position() >= min(sample, self._written):
                return
            await asyncio.sleep(_FEED_INTERVAL_MS / 1000)

    def close(self) -> None:
        self._timer.stop()
        self._sink.stop()


def _open_default_output(sample_rate: int) -> tuple[Any, str, int]:
    """The system's default output as a ``QAudioSink`` for 16-bit mono, its name, and the rate it takes."""
    try:
        multimedia: Any = importlib.import_module("PySide6.QtMultimedia")
    except ImportError as error:
        raise NoAudioDevice("QtMultimedia is not installed (it comes with PySide6-Addons)") from error
    device = multimedia.QMediaDevices.defaultAudioOutput()
    if device.isNull():
        raise NoAudioDevice("the system reports no audio output")
    audio_format = multimedia.QAudioFormat()
    audio_format.setChannelCount(1)
    audio_format.setSampleFormat(multimedia.QAudioFormat.SampleFormat.Int16)
    audio_format.setSampleRate(sample_rate)
    if not device.isFormatSupported(audio_format):
        audio_format.setSampleRate(device.preferredFormat().sampleRate())
        if not device.isFormatSupported(audio_format):
            raise NoAudioDevice(f"{device.description()} takes no 16-bit mono audio")
    sink = multimedia.QAudioSink(device, audio_format)
    return sink, str(device.description()), int(audio_format.sampleRate())
