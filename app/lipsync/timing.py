"""How far ahead of their sound the lip-sync cue batches leave for the stage (kept apart from the cue code, so the
devtools can show it without loading the analysis)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

RECENT_BATCHES = 50


@dataclass
class CueTiming:
    """How far ahead the cue batches leave for the stage, measured on the host clock as each one is written."""

    lead_ms: float | None = None
    """The lead of the latest utterance: the mouth moves this long before the sound."""
    batches: int = 0
    late: int = 0
    """Batches that left after their first frame was due."""
    recent_ahead_ms: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_BATCHES))
    """Per recent batch: its sound's time minus the time it left (the lead included)."""

    def record(self, due_ms: float, sent_ms: float) -> None:
        self.batches += 1
        ahead_of_due = due_ms - sent_ms
        if ahead_of_due < 0:
            self.late += 1
        self.recent_ahead_ms.append(ahead_of_due + (self.lead_ms or 0.0))

    @property
    def last_ahead_ms(self) -> float | None:
        return self.recent_ahead_ms[-1] if self.recent_ahead_ms else None

    @property
    def min_ahead_ms(self) -> float | None:
        return min(self.recent_ahead_ms) if self.recent_ahead_ms else None
