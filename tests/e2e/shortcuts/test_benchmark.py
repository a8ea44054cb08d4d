"""The shortcut benchmark runs and reports every figure (its numbers are for ``make bench-shortcuts``, not asserted)."""

from __future__ import annotations

import json

import pytest

from benchmarks import shortcuts

pytestmark = pytest.mark.tier3


def test_benchmark_reports_all_figures(x_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert shortcuts.main(["--display", x_server, "--presses", "30", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for figure in ("read_to_action_ms", "send_to_action_ms", "baseline_send_to_event_ms", "qt_loop_send_to_action_ms"):
        assert 0 < result[figure]["p50"] <= result[figure]["p99"] <= result[figure]["max"], figure
    assert result["presses"] == 30 and isinstance(result["goal_met"], bool)
