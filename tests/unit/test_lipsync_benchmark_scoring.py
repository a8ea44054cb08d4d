"""The lip-sync benchmark's scoring: what its goal figures count."""

from __future__ import annotations

from benchmarks.lipsync import OnsetScore


def test_missed_onsets_count_as_failures_of_the_onset_goal() -> None:
    score = OnsetScore()
    for error_ms in range(19):  # 19 onsets within 1..19 ms
        score.add(1.0 + (error_ms + 1) / 1000.0, 1.0, "pause")
    score.add(None, 1.0, "m")
    summary = score.summary()
    # Over the opened onsets alone the goal looks met...
    assert summary["abs_error_p95_ms"] <= 20.0
    assert summary["missed"] == 1 and summary["onsets"] == 20
    # ...but one onset in twenty missed leaves 95 % within 20 ms, and a second miss fails the goal.
    assert summary["within_goal_share"] == 0.95
    assert summary["abs_error_p95_counting_missed_ms"] is not None
    score.add(None, 1.0, "b")
    failed = score.summary()
    assert failed["within_goal_share"] < 0.95
    assert failed["abs_error_p95_counting_missed_ms"] is None


def test_late_onsets_beyond_the_goal_are_counted_out_of_all_onsets() -> None:
    score = OnsetScore()
    score.add(1.030, 1.0, "pause")
    score.add(1.010, 1.0, "pause")
    assert score.summary()["within_goal_share"] == 0.5
