"""The benchmark itself must keep working (its numbers are read by people, not asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_runs_and_reports_every_figure() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.bridge", "--requests", "50", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(completed.stdout)
    assert result["requests"] == 50
    for side in ("bridge_ms", "echo_baseline_ms"):
        assert 0 < result[side]["p50"] <= result[side]["p99"] <= result[side]["max"]
    for key in ("encode_per_s", "decode_validate_per_s", "json_dumps_per_s", "json_loads_per_s"):
        assert result["codec"][key] > 0
