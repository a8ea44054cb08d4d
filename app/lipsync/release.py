"""Where the lips part after m, b or p, found in the audio near a synthesizer's phoneme marks.

A voice that reports its phonemes (espeak) marks the vowel after a lip closure where the consonant's release ends:
after the burst and aspiration of p, the burst of b, the nasal-to-vowel transition of m, 10-35 ms after the lips
have parted. The phoneme path has the audio too, so it looks for the release there, as a rise of the sound above
about 1 kHz (a first difference damps the murmur of m and the voice bar of b, which live below 500 Hz) in 10 ms
frames (a pitch period or more, so the voice's pulses do not count as rises) between the closure and the vowel:
for b and p the first rise after the silence (the burst), for m the steepest. Cheap: a cumulative sum, no spectrum.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FRAME_S = 0.010
STEP_S = 0.001
RISE_S = 0.008
"""The rise is measured between frames this far apart: a burst or a transition, not a slow crescendo."""
MIN_RISE_DB = 9.0
"""A smaller first rise after a stop's silence is no burst."""
MIN_NASAL_RISE_DB = 5.0
"""A smaller steepest rise after m is no release (the lips never shut, or the vowel is as dark as the murmur). A
murmur going into u or o rises only 5-9 dB above 1 kHz: at 9 dB a quarter of the releases of m were not found
and the mouth opened at espeak's vowel mark, 10-50 ms late."""


def find_release(
    pcm: npt.NDArray[np.int16], sample_rate: int, start_s: float, end_s: float, *, burst: bool
) -> float | None:
    """The time (seconds from ``pcm``'s first sample) in [start_s, end_s] where the lips part, or None.

    ``burst`` for a stop (b, p): the first rise after the quietest moment, since its burst may be much weaker than
    the vowel after it (an unaspirated Spanish p); otherwise (m) the steepest rise."""
    frame = round(FRAME_S * sample_rate)
    step = max(1, round(STEP_S * sample_rate))
    rise = round(RISE_S / STEP_S)
    first = max(1, round(start_s * sample_rate) - frame // 2)
    last = min(len(pcm), round(end_s * sample_rate) + frame // 2)
    if (last - first - frame) // step < rise + 1:
        return None
    emphasised = np.diff(pcm[first - 1 : last].astype(np.float64))
    energy = np.concatenate([[0.0], np.cumsum(np.square(emphasised))])
    starts = np.arange(0, len(emphasised) - frame + 1, step)
    level = 10.0 * np.log10(energy[starts + frame] - energy[starts] + frame)  # + frame: a floor for silence
    rises = level[rise:] - level[:-rise]
    if burst:
        quietest = int(np.argmin(level[: len(rises)]))
        rising = np.nonzero(rises[quietest:] >= MIN_RISE_DB)[0]
        if not len(rising):
            return None
        first_rise = quietest + int(rising[0])
        steepest = first_rise + int(np.argmax(rises[first_rise : first_rise + rise]))
    else:
        steepest = int(np.argmax(rises))
        if rises[steepest] < MIN_NASAL_RISE_DB:
            return None
    # The frame midway through the rise, at its centre.
    return float(first + starts[steepest] + rise * step / 2 + frame / 2) / sample_rate
