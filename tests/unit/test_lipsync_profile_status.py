"""The Lip sync page's words for a voice's mouth profile, in every state."""

from __future__ import annotations

from datetime import datetime

from app.lipsync.auto_calibration import ProfileStatus

WHEN = datetime(2026, 11, 23, 5, 7)


def test_each_state_reads_as_the_page_shows_it() -> None:
    voice = "openai:alloy"
    assert ProfileStatus("espeak:de", "not-needed", provider="espeak").text() == "not needed: espeak gives phonemes"
    assert ProfileStatus(voice, "built-in").text() == "built-in profile"
    assert ProfileStatus(voice, "calibrating").text() == "built-in profile (calibrating…)"
    assert (
        ProfileStatus(voice, "calibrating", recordings=3).text() == "built-in profile (calibrating…, 3 recordings made)"
    )
    assert ProfileStatus(voice, "calibrated", WHEN).text() == "calibrated (2026-11-23 05:07)"
    assert ProfileStatus(voice, "calibrating", WHEN).text() == "calibrated (2026-11-23 05:07) (re-calibrating…)"
    failed = ProfileStatus(voice, "failed", reason="the voice failed: refused")
    assert failed.text() == "built-in profile: calibration failed: the voice failed: refused"
    again = ProfileStatus(voice, "failed", WHEN, reason="no answer")
    assert again.text() == "calibrated (2026-11-23 05:07): calibration failed: no answer"
    damaged = ProfileStatus(voice, "built-in", reason="the stored profile is damaged (not JSON)")
    assert damaged.text() == "built-in profile: the stored profile is damaged (not JSON)"
