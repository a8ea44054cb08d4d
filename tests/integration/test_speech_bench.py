"""The speech benchmark must keep working (its numbers are read by people, not asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_speech_bench_runs_and_reports_every_figure() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.speech", "--runs", "2", "--aborts", "3", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(completed.stdout)
    assert result["runs"] == 2 and result["aborts"] == 3
    assert result["first_token_to_sample_ms"] > 0 and result["synth_first_segment_ms"] > 0
    assert 0 < result["espeak_rtf"]["median"] < 1
    for key in ("boundary_to_sample_ms", "abort_silence_ms", "abort_call_ms"):
        assert 0 <= result[key]["p50"] <= result[key]["p99"] <= result[key]["max"]
