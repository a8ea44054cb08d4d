"""The one percentile summary every benchmark reports with."""

from __future__ import annotations

from benchmarks.stats import percentiles


def test_nearest_rank_percentiles_mean_and_max() -> None:
    summary = percentiles([float(n) for n in range(100, 0, -1)])  # 1..100, unordered
    assert summary == {"p50": 51.0, "p99": 99.0, "mean": 50.5, "max": 100.0}
    assert percentiles([7.0]) == {"p50": 7.0, "p99": 7.0, "mean": 7.0, "max": 7.0}
