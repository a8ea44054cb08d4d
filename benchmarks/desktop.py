"""The desktop app's cold start and idle memory.

- **cold start**: from launching ``python -m app`` (a new process, an existing profile; the very first start, which
  also creates the library and builds Tama, is printed apart) to the tamagotchi window shown (``window shown``),
  as a ratio to a bare ``python -c "import PySide6.QtWidgets"`` run the same way in the same run, and the difference
  in seconds (goal: the app adds at most 0.5 s). Median of N runs each, alternating.
- **idle memory**: resident memory of the app's own process (the stage excluded: no Godot runs, and the embedded
  stage's renderer is a separate QtWebEngine process) after ``--idle`` seconds (goal: at most 150 MB).

Runs offscreen (``QT_QPA_PLATFORM=offscreen``), ``--runtime native`` with no Godot installed: the app's own cost.

``python -m benchmarks.desktop [--runs N] [--idle SECONDS] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_ADDED_S = 0.5
GOAL_RSS_MB = 150.0
ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"GODOT4", "GODOT", "DISPLAY", "WAYLAND_DISPLAY"}}
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["PATH"] = "/usr/bin:/bin"  # no Godot on the path: the stage is not part of these figures
    return env


def bare_import_s() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import PySide6.QtWidgets"], env=_env(), check=True)
    return time.perf_counter() - started


def _start_app(user_data: str) -> tuple[subprocess.Popen[str], float]:
    started = time.perf_counter()
    app = subprocess.Popen(
        [sys.executable, "-m", "app", "-v", "--runtime", "native", "--user-data", user_data],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert app.stderr is not None
    for line in app.stderr:
        if "window shown" in line:
            return app, time.perf_counter() - started
    raise RuntimeError(f"the app exited ({app.wait()}) before showing its window")


def _stop(app: subprocess.Popen[str]) -> None:
    app.send_signal(signal.SIGTERM)
    try:
        app.wait(30)
    except subprocess.TimeoutExpired:
        app.kill()
        app.wait()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    bare: list[float] = []
    cold: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-desktop-") as folder:
        profile = str(Path(folder) / "profile")
        app, first_s = _start_app(profile)  # a new profile: the library is created and Tama is built
        _stop(app)
        for _run in range(args.runs):
            bare.append(bare_import_s())
            app, seconds = _start_app(profile)
            cold.append(seconds)
            _stop(app)
        app, _ = _start_app(profile)
        try:
            time.sleep(args.idle)
            idle_rss = rss_mb(app.pid)
        finally:
            _stop(app)
    bare_s, cold_s = statistics.median(bare), statistics.median(cold)
    result = {
        "bare_import_s": round(bare_s, 3),
        "cold_start_s": round(cold_s, 3),
        "first_start_s": round(first_s, 3),
        "ratio": round(cold_s / bare_s, 2),
        "added_s": round(cold_s - bare_s, 3),
        "added_goal_s": GOAL_ADDED_S,
        "idle_s": args.idle,
        "idle_rss_mb": round(idle_rss, 1),
        "rss_goal_mb": GOAL_RSS_MB,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"desktop cold start: {cold_s:.3f} s to the window shown vs {bare_s:.3f} s for a bare "
            f"'import PySide6.QtWidgets' = x{cold_s / bare_s:.2f}, adds {cold_s - bare_s:.3f} s "
            f"(goal <= {GOAL_ADDED_S} s) [median of {args.runs}; first start with Tama built: {first_s:.3f} s]\n"
            f"desktop idle memory: {idle_rss:.1f} MB resident after {args.idle:g} s (goal <= {GOAL_RSS_MB:g} MB)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
