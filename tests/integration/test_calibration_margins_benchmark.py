"""The calibration margins benchmark runs and agrees with the checks: every real voice accepted, every garbage refused,
each measure on the right side of its limit for the real voices."""

from __future__ import annotations

from app.lipsync.profile import MIN_MODULATION_DB, MIN_RECORDING_S, MIN_VOWEL_LEVEL_DB, MIN_VOWEL_SEPARATION
from benchmarks.calibration_margins import VOICES, run


async def test_real_voices_pass_every_check_and_garbage_none() -> None:
    rows = await run()
    real, garbage = rows[: 2 * len(VOICES)], rows[2 * len(VOICES) :]
    for row in real:
        assert not row.refused and not row.same_audio, row
        assert row.shortest_s > 3 * MIN_RECORDING_S and row.loudness_span_db > 1.5 * MIN_MODULATION_DB, row
        assert row.vowel_level_db is not None and row.vowel_level_db > MIN_VOWEL_LEVEL_DB + 20, row
        assert row.closest_vowels is not None and row.closest_vowels > 2 * MIN_VOWEL_SEPARATION, row
    assert len(garbage) == 7 and all(row.refused for row in garbage), [r for r in garbage if not r.refused]
