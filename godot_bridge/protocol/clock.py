"""Estimating the offset between the host's clock and the stage's from ping/pong samples (NTP's way)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class ClockSample:
    offset_ms: float
    rtt_ms: float


class ClockOffsetEstimator:
    """Keeps the last ``window`` samples and trusts the one with the shortest round trip.

    A round trip that took long was probably delayed on one leg only, which skews the midpoint; the fastest exchange
    bounds that error by half its round-trip time.
    """

    def __init__(self, window: int = 16) -> None:
        self._samples: deque[ClockSample] = deque(maxlen=window)

    def add(self, t0: float, t1: float, t3: float) -> ClockSample | None:
        """``t0`` host send, ``t1`` stage answer (stage clock), ``t3`` host receive. Returns None for a bad sample."""
        rtt = t3 - t0
        if rtt < 0:
            return None
        sample = ClockSample(offset_ms=t1 - (t0 + t3) / 2.0, rtt_ms=rtt)
        self._samples.append(sample)
        return sample

    @property
    def best(self) -> ClockSample | None:
        return min(self._samples, key=lambda s: s.rtt_ms, default=None)

    @property
    def offset_ms(self) -> float | None:
        best = self.best
        return None if best is None else best.offset_ms

    def to_stage_time(self, host_ms: float) -> float | None:
        offset = self.offset_ms
        return None if offset is None else host_ms + offset
