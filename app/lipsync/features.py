"""Streaming spectral frames: a loudness envelope and MFCC-like coefficients, vectorised over each chunk.

The audio is first averaged down to 11-16 kHz. Frame ``k`` is centred on (analysis) sample ``k * hop`` (the
first one on sample 0, as if silence preceded the audio). A chunk
yields every frame whose window it completes; the tail carries over to the next chunk, and :meth:`flush` pads the
end with silence so the last samples get their frames too. Chunk boundaries therefore never change the result.

Per frame: Hann-weighted RMS level in dBFS (the loudness envelope) and cepstral coefficients 1..12 of a 30-band mel
spectrum of the pre-emphasised window (coefficient 0, the overall level, is left out so that vowel classification
does not depend on how loud the voice is).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.lipsync.track import DEFAULT_FRAME_RATE

Floats = npt.NDArray[np.float32]

MFCC_COUNT = 12
MEL_BANDS = 30
MEL_LOW_HZ = 80.0
MEL_HIGH_HZ = 6000.0
PRE_EMPHASIS = 0.97
ANALYSIS_RATE = 11025
BLOCK_FRAMES = 32
BRIGHTNESS_LOW_HZ = 700.0
BRIGHTNESS_HIGH_HZ = 1000.0
TEN = np.float32(10.0)


@dataclass(frozen=True)
class FeatureFrames:
    level_db: Floats
    """Shape (n,): loudness of each frame in dBFS."""
    mfcc: Floats
    """Shape (n, MFCC_COUNT)."""
    brightness_db: Floats
    """Shape (n,): energy above 1 kHz over energy below 700 Hz (pre-emphasised): high for fricatives."""

    def __len__(self) -> int:
        return len(self.level_db)


def _hz_to_mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, fft_size: int, bands: int = MEL_BANDS) -> Floats:
    """Triangular filters, equally spaced on the mel scale, shape (bands, fft_size // 2 + 1)."""
    high = min(MEL_HIGH_HZ, sample_rate / 2.0)
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(np.array(MEL_LOW_HZ)), _hz_to_mel(np.array(high)), bands + 2))
    bins_hz = np.arange(fft_size // 2 + 1) * sample_rate / fft_size
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bins_hz[None, :] - lower) / (centre - lower)
    falling = (upper - bins_hz[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def dct_matrix(inputs: int, outputs: int) -> Floats:
    """Orthonormal DCT-II rows 1..outputs (row 0, the mean, is dropped)."""
    n = np.arange(inputs)
    rows = [np.cos(math.pi * k * (2 * n + 1) / (2 * inputs)) * math.sqrt(2.0 / inputs) for k in range(1, outputs + 1)]
    return np.array(rows, dtype=np.float32)


@functools.lru_cache(maxsize=8)
def _tables(rate: int, window_size: int) -> tuple[Floats, Floats, Floats, Floats, Floats]:
    """The constant matrices of one analysis rate and window (cached: one utterance is often a second long)."""
    hann = np.hanning(window_size + 1)[:-1].astype(np.float32)
    centres = _mel_to_hz(
        np.linspace(_hz_to_mel(np.array(MEL_LOW_HZ)), _hz_to_mel(np.array(min(MEL_HIGH_HZ, rate / 2))), MEL_BANDS + 2)
    )[1:-1]
    filters = mel_filterbank(rate, window_size)
    return (
        hann / hann.sum(),
        # hann[0] is 0: the window drops the first pre-emphasised sample, which would need the sample before it.
        hann,
        # Each filter twice, for the interleaved real and imaginary parts of the spectrum: |X|^2 and the mel
        # filtering become one square and one matrix product.
        np.ascontiguousarray(np.repeat(filters, 2, axis=1).T),
        np.ascontiguousarray(dct_matrix(MEL_BANDS, MFCC_COUNT).T),
        np.stack([centres > BRIGHTNESS_HIGH_HZ, centres < BRIGHTNESS_LOW_HZ], axis=1).astype(np.float32),
    )


class SpectralAnalyzer:
    """Feeds PCM in chunks of any size; returns the frames each chunk completes."""

    def __init__(self, sample_rate: int, frame_rate: float = DEFAULT_FRAME_RATE) -> None:
        if sample_rate < 8000:
            raise ValueError(f"lip sync needs at least 8000 Hz audio, not {sample_rate}")
        self.sample_rate = sample_rate
        # Vowels live below 5 kHz: averaging groups of samples down to 11-16 kHz halves or quarters the work.
        self.decimation = max(1, sample_rate // ANALYSIS_RATE)
        rate = sample_rate / self.decimation
        self.hop = max(1, round(rate / frame_rate))
        self.frame_rate = rate / self.hop
        # About 25 ms, a power of two for the FFT: 256 samples at 11-12 kHz, 512 at 16 kHz.
        self.window_size = 1 << max(7, round(math.log2(0.025 * rate)))
        self._half = self.window_size // 2
        tables = _tables(round(rate), self.window_size)
        self._level_weights, self._spectral_window, self._filters_t, self._dct_t, self._bands = tables
        self.reset()

    def reset(self) -> None:
        self._buffer = np.zeros(self._half, dtype=np.float32)
        # The pre-emphasised signal, sample for sample beside ``_buffer``: filtered once per sample rather than once
        # per overlapping window.
        self._emphasised = np.zeros(self._half, dtype=np.float32)
        self._undecimated = np.zeros(0, dtype=np.float32)
        self._samples_seen = 0
        self._frames_done = 0

    @property
    def frames_done(self) -> int:
        return self._frames_done

    def feed(self, pcm: npt.NDArray[np.int16] | Floats) -> FeatureFrames:
        self._ingest(pcm)
        return self._take()

    def _ingest(self, pcm: npt.NDArray[np.int16] | Floats) -> None:
        # Few numpy calls per chunk: their fixed cost (~1 us each) is most of a streamed chunk's (int16 over 32768 and
        # sums of such samples are exact in float32, so the order of scaling and summing does not change a bit).
        if pcm.dtype == np.int16:
            samples = np.multiply(pcm, 1.0 / 32768.0, dtype=np.float32)
        else:
            samples = pcm.astype(np.float32, copy=False)
        if self.decimation > 1:
            joined = np.concatenate([self._undecimated, samples]) if len(self._undecimated) else samples
            usable = len(joined) - len(joined) % self.decimation
            self._undecimated = joined[usable:].copy()  # (``joined`` may be the caller's array)
            # Summing strided slices is several times faster than a mean over a reshaped axis.
            total = joined[0 : usable : self.decimation] + joined[1 : usable : self.decimation]
            for phase in range(2, self.decimation):
                total += joined[phase : usable : self.decimation]
            total /= self.decimation
            samples = total
        self._samples_seen += len(samples)
        self._append(samples)

    def _append(self, samples: Floats) -> None:
        # The buffer always keeps at least a window's overlap, so the sample before ``samples`` is in it.
        start = len(self._buffer)
        self._buffer = np.concatenate([self._buffer, samples])
        emphasised = self._buffer[start:] - PRE_EMPHASIS * self._buffer[start - 1 : -1]
        self._emphasised = np.concatenate([self._emphasised, emphasised])

    def flush(self, pcm: npt.NDArray[np.int16] | Floats | None = None) -> FeatureFrames:
        """The frames centred on the samples fed so far that still lack their right half (padded with silence).

        ``pcm``: the last samples, analysed together with the padded end (one analysis, not two as feed and flush)."""
        if pcm is not None and len(pcm):
            self._ingest(pcm)
        if len(self._undecimated):
            self._samples_seen += 1
            self._append(np.array([self._undecimated.mean()], dtype=np.float32))
            self._undecimated = self._undecimated[:0]
        frames_needed = -(-self._samples_seen // self.hop)
        missing = frames_needed - self._frames_done
        if missing <= 0:
            return self._take(limit=0)
        needed = (missing - 1) * self.hop + self.window_size
        if len(self._buffer) < needed:
            self._append(np.zeros(needed - len(self._buffer), dtype=np.float32))
        return self._take(limit=missing)

    def _take(self, limit: int | None = None) -> FeatureFrames:
        count = 0 if len(self._buffer) < self.window_size else (len(self._buffer) - self.window_size) // self.hop + 1
        if limit is not None:
            count = min(count, limit)
        if count == 0:
            empty = np.zeros((0, self.window_size), dtype=np.float32)
            return self._analyse(empty, empty)
        view, emphasised = self._windows(self._buffer, count), self._windows(self._emphasised, count)
        if count <= BLOCK_FRAMES:
            result = self._analyse(view, emphasised)
        else:
            # Blocks of 32 frames: their intermediate arrays stay under glibc's mmap threshold (larger ones are
            # mapped and page-faulted afresh on every call, half the cost of a sentence), and OpenBLAS stays on one
            # thread.
            blocks = [
                self._analyse(view[i : i + BLOCK_FRAMES], emphasised[i : i + BLOCK_FRAMES])
                for i in range(0, count, BLOCK_FRAMES)
            ]
            names = ("level_db", "mfcc", "brightness_db")
            result = FeatureFrames(*(np.concatenate([getattr(b, name) for b in blocks]) for name in names))
        self._buffer = self._buffer[count * self.hop :]
        self._emphasised = self._emphasised[count * self.hop :]
        self._frames_done += count
        return result

    def _windows(self, signal: Floats, count: int) -> Floats:
        """Overlapping windows as a read-only view (the ndarray constructor: as_strided and sliding_window_view
        cost 5-20 us a call in Python-level checks)."""
        step = signal.strides[0]
        view: Floats = np.ndarray((count, self.window_size), np.float32, signal, 0, (self.hop * step, step))
        view.flags.writeable = False
        return view

    def _analyse(self, windows: Floats, emphasised: Floats) -> FeatureFrames:
        if not len(windows):
            return FeatureFrames(
                np.zeros(0, np.float32), np.zeros((0, MFCC_COUNT), np.float32), np.zeros(0, np.float32)
            )
        # float32 throughout (numpy keeps float32 with Python scalars): no conversions.
        power = np.square(windows) @ self._level_weights
        level_db = TEN * np.log10(np.maximum(power, np.float32(1e-12)))
        spectrum = np.fft.rfft(emphasised * self._spectral_window, axis=1)
        mel = np.square(spectrum.view(np.float32)) @ self._filters_t + np.float32(1e-9)
        high_low = mel @ self._bands
        brightness = TEN * np.log10(high_low[:, 0] / high_low[:, 1])
        return FeatureFrames(level_db, np.log(mel) @ self._dct_t, brightness)


def analyse_all(pcm: npt.NDArray[np.int16] | Floats, sample_rate: int) -> tuple[FeatureFrames, float]:
    """Every frame of a whole clip at once; returns the frames and the actual frame rate."""
    analyzer = SpectralAnalyzer(sample_rate)
    parts = (analyzer.feed(pcm), analyzer.flush())
    names = ("level_db", "mfcc", "brightness_db")
    return FeatureFrames(*(np.concatenate([getattr(p, name) for p in parts]) for name in names)), analyzer.frame_rate
