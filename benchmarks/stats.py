"""Summary statistics shared by the benchmarks."""

from __future__ import annotations

import statistics


def percentiles(samples: list[float]) -> dict[str, float]:
    """Nearest-rank p50 and p99, with the mean and the maximum; ``samples`` must not be empty."""
    ordered = sorted(samples)

    def nearest_rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {"p50": nearest_rank(0.50), "p99": nearest_rank(0.99), "mean": statistics.fmean(ordered), "max": ordered[-1]}
