"""The benchmark that plays audio through the real Speaker and cue scheduler on a virtual clock."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from app.lipsync.cues import HELD_AUDIO_MARGIN_S
from app.lipsync.profile import default_profile
from benchmarks.lipsync import SPEAKER_LOOKAHEAD_S
from benchmarks.lipsync_scheduler import CHUNK_S, Spoken, scheduler_cost
from tests.unit.test_lipsync_analysis import RATE, vowel


def test_the_scheduler_benchmark_plays_every_frame_in_virtual_time_and_holds_chunks_back() -> None:
    seconds = (1.5, 2.0)
    spoken = [
        Spoken(np.concatenate([vowel("aa", s / 2, level=0.1), vowel("ou", s / 2, level=0.1)]), RATE, default_profile())
        for s in seconds
    ]
    started = time.monotonic()
    cost = scheduler_cost(spoken)
    assert time.monotonic() - started < 5.0, "3.5 s of audio play in virtual time"
    # Every frame of the audio (at 22.05 kHz samples are averaged in pairs, and a frame is 110 of them).
    assert cost.frames == sum(math.ceil(len(s.pcm) / 2 / 110) for s in spoken)
    chunks = sum(math.ceil(len(s.pcm) / round(CHUNK_S * RATE)) for s in spoken)
    assert 0 < cost.analyses < chunks / 3, "several chunks per analysis"
    median_ms, least_ms = cost.ahead_ms
    # Every batch leaves before it is due (the margin less half a window at the least), and none further ahead than
    # the Speaker's look-ahead; an utterance's first too, thanks to the Speaker's start delay.
    assert HELD_AUDIO_MARGIN_S * 1000.0 - 15.0 < least_ms <= median_ms < SPEAKER_LOOKAHEAD_S * 1000.0
    first_median_ms, first_least_ms = cost.first_ahead_ms
    assert HELD_AUDIO_MARGIN_S * 1000.0 - 15.0 < first_least_ms <= first_median_ms < SPEAKER_LOOKAHEAD_S * 1000.0
    assert cost.cpu_s > 0.0


def test_the_scheduler_benchmark_needs_one_sample_rate() -> None:
    pcm = vowel("aa", 0.2)
    with pytest.raises(ValueError, match="one sample rate"):
        scheduler_cost([Spoken(pcm, RATE, default_profile()), Spoken(pcm, 16_000, default_profile())])
