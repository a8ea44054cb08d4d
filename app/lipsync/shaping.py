"""Shaping raw frames into the cue track: what makes the mouth look right rather than merely follow the numbers.

- Only the two strongest vowels are blended: the wide ``aa`` deforms most, so mixing all five would bias every
  vowel towards it (AIRI keeps two for the same reason).
- A silence gate closes the mouth below a minimum openness.
- Attack is faster than release (one-pole smoothing with separate time constants): mouths snap open and relax
  from one shape to the next; closing (silence, lips together) is fastest, or short closures would not show.
- The anticipation lead shows each frame earlier than the sound it was computed from, as real mouths move before
  the sound comes out; possible only because the audio is known before it plays.

The shaper is streaming: its smoothing state carries from one batch of frames to the next.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.lipsync.track import VOWELS, CueTrack, RawFrames


@dataclass(frozen=True)
class ShapingSettings:
    lead_s: float = 0.030
    attack_s: float = 0.012
    release_s: float = 0.045
    close_s: float = 0.010
    """Time constant towards a closed mouth (silence, m/b/p): lips shut fast, or short closures would not show (a b
    at 230 words per minute is shut for 30-40 ms; at 15 ms the mouth stayed over a tenth open through one in ten)."""
    gate: float = 0.08
    """Openness below this is silence."""
    ceiling: float = 1.0
    """The largest weight any viseme receives (some avatars over-open at 1.0)."""
    runner_up_share: float = 0.6
    """The second vowel's weight relative to its share of the two."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.lead_s <= 0.5:
            raise ValueError("the anticipation lead must be within 0..500 ms")
        if min(self.attack_s, self.release_s, self.close_s) <= 0:
            raise ValueError("attack and release must be positive")
        if not 0.0 < self.ceiling <= 1.0:
            raise ValueError("the ceiling must be within (0, 1]")


_NO_WEIGHTS = np.zeros((0, len(VOWELS)), dtype=np.float32)


class Shaper:
    def __init__(self, settings: ShapingSettings | None = None) -> None:
        self.settings = settings or ShapingSettings()
        self._state = [0.0] * len(VOWELS)

    def reset(self) -> None:
        self._state = [0.0] * len(VOWELS)

    def targets(self, raw: RawFrames) -> np.ndarray:
        """Gated, two-vowel targets (frames, 5), before smoothing."""
        s = self.settings
        count = len(raw)
        if not count:
            return np.zeros((0, len(VOWELS)), dtype=np.float32)
        order = np.argsort(-raw.shape, axis=1)
        rows = np.arange(count)
        winner, runner = order[:, 0], order[:, 1]
        top = raw.shape[rows, winner]
        second = raw.shape[rows, runner] * s.runner_up_share
        total = np.maximum(top + second, 1e-6)
        openness = np.where(raw.openness >= s.gate, np.minimum(raw.openness, s.ceiling), 0.0)
        targets = np.zeros((count, len(VOWELS)), dtype=np.float32)
        targets[rows, winner] = openness * top / total
        targets[rows, runner] = openness * second / total
        return targets

    def shape(self, raw: RawFrames) -> CueTrack:
        s = self.settings
        if not len(raw):
            return CueTrack(raw.start_s - s.lead_s, raw.frame_rate, _NO_WEIGHTS)
        dt = 1.0 / raw.frame_rate
        attack = 1.0 - math.exp(-dt / s.attack_s)
        release = 1.0 - math.exp(-dt / s.release_s)
        close = 1.0 - math.exp(-dt / s.close_s)
        a, b, c, d, e = self._state
        out = []
        # Plain floats in a tight loop, the five vowels written out: the step depends on the state, so it does not
        # vectorise along time, and numpy calls (or a loop over the vowels) on five values cost more than the
        # arithmetic.
        for ta, tb, tc, td, te in self.targets(raw).tolist():
            falling = release if ta or tb or tc or td or te else close
            a += (ta - a) * (attack if ta > a else falling)
            b += (tb - b) * (attack if tb > b else falling)
            c += (tc - c) * (attack if tc > c else falling)
            d += (td - d) * (attack if td > d else falling)
            e += (te - e) * (attack if te > e else falling)
            out.append((a, b, c, d, e))
        self._state = [a, b, c, d, e]
        weights = np.array(out, dtype=np.float32)
        weights[weights <= 0.01] = 0.0
        return CueTrack(raw.start_s - s.lead_s, raw.frame_rate, weights)
