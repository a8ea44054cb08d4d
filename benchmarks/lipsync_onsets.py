"""Where the mouth must open, measured in the audio: the benchmark's ground truth for the onset error.

espeak's phoneme marks say which sounds are spoken, but not exactly when the lips part. After m, b or p espeak puts
the vowel's mark at the end of the consonant's release (the burst and aspiration of p, the burst of b, the
nasal-to-vowel transition of m), 5-35 ms after the lips have visibly opened. The benchmark therefore measures the
release in the PCM itself, with a detector written for this purpose and kept independent of the analysis paths it
judges (it shares no code or constant with them):

- :func:`lip_release`: closed lips damp the sound above 1 kHz most (a nasal murmur and the voice bar of b live below
  500 Hz; a p closure is silent), and opening them lets the vowel's formants through, or a burst of noise. The
  release is where the energy in 1-4 kHz, in 5 ms windows every millisecond smoothed over 8 ms (about a pitch
  period: a voice's pulses would otherwise ripple the curve by +-8 dB), rises out of the closure: for m through the
  midpoint in dB between its level in the murmur and its highest in the first 40 ms of the vowel (the last such
  rise before that highest point); for b and p, at the burst, 10 dB above the closure's lowest (the first rise).
  On synthetic signals it finds an abrupt burst up to 6 ms early (the windows see it coming), never late.
- :func:`envelope_onset`: after a pause, the first moment the broadband 5 ms level rises within 30 dB of the
  utterance's loudest after 20 ms below that (the audio before the utterance counts as silence). espeak marks
  some pauses that the audio does not have (in "by the old bridge" or "biblioteca" the voice never falls more than
  10 dB): there the mouth has no reason to close, and there is no onset.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

RELEASE_BAND_HZ = (1000.0, 4000.0)
RELEASE_WINDOW_S = 0.005
RELEASE_SMOOTHING_S = 0.008
RELEASE_VOWEL_S = 0.040
RELEASE_CLOSURE_BEFORE_S = 0.030
"""The closure may begin before its consonant's mark: espeak marks a p at its burst, after the silence."""
RELEASE_FLOOR_DB = 50.0
"""Silence counts as this far below the vowel's highest: digital silence (-120 dB) would otherwise put the midpoint
at the first faint sound, such as the voice bar before a b's burst."""
RELEASE_MIN_RISE_DB = 6.0
"""A rise smaller than this is no release (the vowel is too dark, or the lips were never shut): None."""
BURST_RISE_DB = 10.0
"""A stop's lips part at its burst, however weak: the release is where the band first rises this far above the
closure (or halfway to the vowel, if that is less). Halfway to the vowel alone missed the weak bursts of espeak's
female voice (13 dB above the closure, 15 dB under the vowel) and put their release at the vowel, 35 ms late."""
ONSET_BELOW_PEAK_DB = 30.0
QUIET_BEFORE_ONSET = 20
"""Milliseconds the level must stay below before a rise is an onset: single 5 ms windows between the pulses of a
low voice dip 30 dB and more below its peak (espeak's Spanish voice, in a pause it marks without silence)."""


def band_level_db(
    pcm: npt.NDArray[np.int16], sample_rate: int, start_s: float, end_s: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(times, level in dB) of the 1-4 kHz band every millisecond in [start_s, end_s), smoothed over 8 ms."""
    window = max(16, round(RELEASE_WINDOW_S * sample_rate))
    smoothing = max(1, round(RELEASE_SMOOTHING_S * 1000))
    pad = smoothing // 2 + 1
    times = np.arange(round(start_s * 1000) - pad, round(end_s * 1000) + pad) / 1000.0
    starts = np.round(times * sample_rate).astype(np.int64) - window // 2
    signal = np.concatenate([np.zeros(window, np.float64), pcm.astype(np.float64) / 32768.0, np.zeros(window)])
    index = np.clip(starts[:, None] + window + np.arange(window)[None, :], 0, len(signal) - 1)
    spectrum = np.fft.rfft(signal[index] * np.hanning(window), axis=1)
    frequencies = np.fft.rfftfreq(window, 1.0 / sample_rate)
    in_band = (frequencies >= RELEASE_BAND_HZ[0]) & (frequencies < RELEASE_BAND_HZ[1])
    power = np.square(np.abs(spectrum[:, in_band])).sum(axis=1)
    smoothed = np.convolve(power, np.ones(smoothing) / smoothing, mode="same")
    return times[pad:-pad], 10.0 * np.log10(smoothed[pad:-pad] + 1e-12)


def lip_release(
    pcm: npt.NDArray[np.int16],
    sample_rate: int,
    consonant: str,
    *,
    closure_s: float,
    vowel_s: float,
    vowel_end_s: float,
) -> float | None:
    """When the lips part between the closure of ``consonant`` ("m", "b" or "p") marked at ``closure_s`` and the
    vowel marked at ``vowel_s`` (which ends at ``vowel_end_s``). None when the band does not rise by 6 dB.

    The closure's level is the median over the marked murmur for m (it sounds from its mark on), and for b and p
    the lowest level from 30 ms before the mark (espeak marks a stop at its burst, after the silence)."""
    peak_end = max(min(vowel_end_s, vowel_s + RELEASE_VOWEL_S), vowel_s + 0.005)
    first = closure_s if consonant == "m" else max(0.0, closure_s - RELEASE_CLOSURE_BEFORE_S)
    times, level = band_level_db(pcm, sample_rate, first, peak_end)
    in_closure = np.nonzero((times >= first) & (times < vowel_s))[0]
    in_vowel = np.nonzero((times >= vowel_s) & (times < peak_end))[0]
    if not len(in_closure) or not len(in_vowel):
        return None
    high = int(in_vowel[np.argmax(level[in_vowel])])
    level = np.maximum(level, level[high] - RELEASE_FLOOR_DB)
    if consonant == "m":
        low, floor = int(in_closure[0]), float(np.median(level[in_closure]))
    else:
        low = int(in_closure[np.argmin(level[in_closure])])
        floor = float(level[low])
    if level[high] - floor < RELEASE_MIN_RISE_DB:
        return None
    middle = (floor + level[high]) / 2.0 if consonant == "m" else floor + min(BURST_RISE_DB, (level[high] - floor) / 2)
    below = np.nonzero(level[low:high] < middle)[0]
    if not len(below):
        return None
    if consonant == "m":
        # A nasal opens smoothly, and its murmur may still ripple: the last rise through the midpoint.
        rise = low + int(below[-1])
    else:
        # A burst is abrupt, and its aspiration may dip again: the first rise after the closure.
        above = np.nonzero(level[low:high] >= middle)[0]
        rise = low + int(above[0]) - 1
    fraction = (middle - level[rise]) / (level[rise + 1] - level[rise])
    return float(times[rise] + fraction * (times[rise + 1] - times[rise]))


def envelope_onset(pcm: npt.NDArray[np.int16], sample_rate: int, start_s: float, end_s: float) -> float | None:
    """The first moment in [start_s, end_s) where the 5 ms RMS rises within 30 dB of the utterance's peak after
    20 ms below it (before the first sample is silence); None when the level does not fall and rise again there."""
    hop = sample_rate // 200
    signal = pcm.astype(np.float32) / 32768.0
    frames = len(signal) // hop
    rms_db = 10 * np.log10(np.maximum(np.square(signal[: frames * hop]).reshape(frames, hop).mean(axis=1), 1e-12))
    quiet = QUIET_BEFORE_ONSET // 5
    audible = np.concatenate([np.zeros(quiet, bool), rms_db > rms_db.max() - ONSET_BELOW_PEAK_DB])
    first, last = int(start_s * 200), min(frames, int(np.ceil(end_s * 200)))
    for index in range(first, last):
        if audible[index + quiet] and not audible[index : index + quiet].any():
            return index / 200.0
    return None
