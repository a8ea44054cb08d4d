"""What observers of speech can hook into (:class:`~app.speech.player.Speaker` calls them).

A module of its own, free of numpy and the audio code, so that the app can wire its hooks before its window shows
and load the speech pipeline after (a faster start).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.speech.events import ErrorEvent, SentenceEvent, SessionStats
    from app.speech.player import ScheduledAudio


@dataclass
class SpeakerHooks:
    """Observers of speech; each is called on the event loop and must not block."""

    on_sentence: Callable[[int, SentenceEvent], None] | None = None
    on_audio: Callable[[ScheduledAudio], None] | None = None
    on_error: Callable[[int, ErrorEvent], None] | None = None
    on_done: Callable[[int, SessionStats], None] | None = None
    on_mouth_close: Callable[[int], None] | None = None
    """The turn stopped (abort, hot swap, error or end): the stage closes the mouth."""
    on_audio_end: Callable[[int], None] | None = None
    """The turn's last audio was written (the voice is done) and is still being heard: an analysis can finish its
    tail now, before it plays."""
    start_delay_s: Callable[[], float] | None = None
    """How long after it is written audio starts playing when the sink has nothing queued (silence is written
    first): time for what is computed from it (mouth cues) to reach its destination before the first sound. Read at
    each (re)start, so a changed setting applies to the next one."""
