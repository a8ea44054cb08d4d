"""The cue track: frames of five viseme weights on a regular time grid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

VOWELS: tuple[str, ...] = ("aa", "ih", "ou", "ee", "oh")
"""The five mouth shapes, in the order of every weight vector (VRM 1.0 names; VRM 0.x calls them A I U E O)."""

VRM0_NAMES: dict[str, str] = {"aa": "A", "ih": "I", "ou": "U", "ee": "E", "oh": "O"}

DEFAULT_FRAME_RATE = 100.0
"""Frames per second of every track we compute (the issue asks for at least 60)."""

Weights = npt.NDArray[np.float32]
"""Shape (frames, 5), columns in :data:`VOWELS` order, each in [0, 1]."""


@dataclass(frozen=True)
class RawFrames:
    """What an analysis path says about each frame, before shaping.

    ``openness`` in [0, 1] is how far the mouth should be open; ``shape`` (rows sum to 1) is which vowel it forms.
    Frame ``i`` describes the moment ``start_s + i / frame_rate``.
    """

    start_s: float
    frame_rate: float
    openness: npt.NDArray[np.float32]
    shape: Weights

    def __len__(self) -> int:
        return len(self.openness)


@dataclass(frozen=True)
class CueTrack:
    """Shaped mouth weights: frame ``i`` is to be shown at ``start_s + i / frame_rate`` (seconds)."""

    start_s: float
    frame_rate: float
    weights: Weights

    def __len__(self) -> int:
        return len(self.weights)

    def times(self) -> npt.NDArray[np.float64]:
        return self.start_s + np.arange(len(self.weights), dtype=np.float64) / self.frame_rate

    def openness(self) -> npt.NDArray[np.float32]:
        """How open the mouth is per frame: the sum of the vowel weights, capped at 1."""
        openness: npt.NDArray[np.float32] = np.minimum(self.weights.sum(axis=1), 1.0).astype(np.float32)
        return openness

    def sample(self, times_s: npt.NDArray[np.float64]) -> Weights:
        """The weights at arbitrary times, linearly interpolated as the stage does (closed outside the track)."""
        grid = self.times()
        if not len(grid):
            return np.zeros((len(times_s), len(VOWELS)), dtype=np.float32)
        columns = [np.interp(times_s, grid, self.weights[:, k], left=0.0, right=0.0) for k in range(len(VOWELS))]
        return np.stack(columns, axis=1).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        """``{"frame_rate", "frames": [{"t_ms", "aa", "ih", "ou", "ee", "oh"}]}``, weights rounded to 3 places."""
        frames = [
            {
                "t_ms": round(float(t) * 1000.0, 2),
                **{name: round(float(w), 3) for name, w in zip(VOWELS, row, strict=True)},
            }
            for t, row in zip(self.times(), self.weights, strict=True)
        ]
        return {"frame_rate": self.frame_rate, "vowels": list(VOWELS), "frames": frames}


def concat_tracks(tracks: list[CueTrack]) -> CueTrack:
    """Tracks computed chunk by chunk on one grid, joined (the first one's start and rate)."""
    if not tracks:
        return CueTrack(0.0, DEFAULT_FRAME_RATE, np.zeros((0, len(VOWELS)), dtype=np.float32))
    return CueTrack(tracks[0].start_s, tracks[0].frame_rate, np.concatenate([t.weights for t in tracks], axis=0))
