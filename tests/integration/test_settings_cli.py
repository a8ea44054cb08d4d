"""``python -m app settings show|set``: values, validation with the field named, damaged files reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "settings", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_set_then_show_and_refusals_name_the_field(tmp_path: Path) -> None:
    done = run("set", "window.click_through", "false", "--user-data", str(tmp_path), "--json")
    assert done.returncode == 0 and json.loads(done.stdout) == {
        "ok": True,
        "field": "window.click_through",
        "value": False,
        "changed": True,
        "applies": "now",
    }
    text = run("set", "speech.voice", "en-gb", "--user-data", str(tmp_path))
    assert text.returncode == 0
    assert text.stdout.strip() == 'speech.voice = "en-gb" (applies at once, in a running app too)'
    shown = json.loads(run("show", "--user-data", str(tmp_path), "--json").stdout)
    assert shown["settings"]["window"]["click_through"] is False and shown["settings"]["speech"]["voice"] == "en-gb"
    for field, value, says in (
        ("stage.runtime", "quantum", "stage.runtime"),
        ("window.opacity", "7", "window.opacity"),
        ("nowhere.x", "1", "no settings section"),
        ("window", "1", "is not SECTION.FIELD"),
    ):
        refused = run("set", field, value, "--user-data", str(tmp_path), "--json")
        assert refused.returncode == 1 and says in json.loads(refused.stdout)["message"], refused.stdout
        assert "Traceback" not in refused.stderr


def test_show_reports_a_damaged_file_set_aside(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text("{broken")
    shown = run("show", "--user-data", str(tmp_path))
    assert shown.returncode == 0
    assert (
        "warning: settings.json is not valid JSON" in shown.stdout and "moved to settings.json.damaged-" in shown.stdout
    )
