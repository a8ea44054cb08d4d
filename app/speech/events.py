"""What a speech session reports: sentences, audio with its sample range and timing marks, errors, and done.

Sample positions are counted per session from its first sample, at the chunk's own sample rate. Lip sync maps them
onto the sink's playback clock (see :mod:`app.speech.player`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

Pcm = npt.NDArray[np.int16]
"""Signed 16-bit mono samples."""

MarkKind = Literal["word", "phoneme", "sentence", "end"]


@dataclass(frozen=True)
class SpeechMark:
    """A timing event from the synthesizer (espeak gives words and phonemes), at a session sample position."""

    kind: MarkKind
    sample: int
    text_start: int = -1
    """Character offset of the word in its sentence's spoken text (-1 when unknown)."""
    text_length: int = 0
    name: str = ""
    """The phoneme (IPA) for phoneme marks."""


@dataclass(frozen=True)
class SentenceEvent:
    """A segment is about to be spoken: ``text`` is what to display (markup and emoji kept), ``spoken`` what is said."""

    index: int
    text: str
    spoken: str


@dataclass(frozen=True)
class AudioEvent:
    """A chunk of audio for sentence ``index``, covering session samples ``[start_sample, end_sample)``."""

    index: int
    pcm: Pcm
    sample_rate: int
    start_sample: int
    marks: tuple[SpeechMark, ...] = ()

    @property
    def end_sample(self) -> int:
        return self.start_sample + len(self.pcm)

    @property
    def seconds(self) -> float:
        return len(self.pcm) / self.sample_rate


@dataclass(frozen=True)
class ErrorEvent:
    code: str
    message: str
    retriable: bool
    index: int | None = None


@dataclass(frozen=True)
class SessionStats:
    first_audio_s: float | None
    """From the first ``append_text`` to the first audio event (None when no audio came)."""
    characters: int
    audio_seconds: float
    cancelled: bool = False
    failed: bool = False


@dataclass(frozen=True)
class DoneEvent:
    """Always the last event of a session, whether it finished, failed or was cancelled."""

    stats: SessionStats = field(default_factory=lambda: SessionStats(None, 0, 0.0))


SessionEvent = SentenceEvent | AudioEvent | ErrorEvent | DoneEvent


class SpeechProviderError(Exception):
    """A provider failed: ``code`` is stable, ``message`` is for people and never contains a secret."""

    def __init__(self, code: str, message: str, *, retriable: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retriable = retriable
