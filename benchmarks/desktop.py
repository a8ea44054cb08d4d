"""The desktop app's cold start and idle memory.

- **cold start**: from launching ``python -m app`` (a new process, an existing profile; the very first start, which
  also creates the library and builds Tama, is printed apart) to the tamagotchi window shown (``window shown``),
  as a ratio to a bare ``python -c "import PySide6.QtWidgets"`` run the same way in the same run, and the difference
  in seconds (goal: the app adds at most 0.5 s). Median of N runs each, alternating.
- **idle memory**: resident memory of the app's own process, the stage excluded, after ``--idle`` seconds (goal: at
  most 150 MB). Measured offscreen with ``--runtime native`` and no Godot installed (the app alone), and on Xvfb
  without a stage and with ``--runtime embedded``: the Godot web runtime runs in the stage host process
  (``web-stage-host``, whose QtWebEngine never loads into the app) and the tamagotchi window shows the host's window
  (the app's memory with the stage excluded is the app process's). The host's own resident
  memory, and the proportional memory (PSS) of the host with its web engine helper processes, are printed apart.

The cold start runs offscreen (``QT_QPA_PLATFORM=offscreen``), ``--runtime native`` with no Godot: the app's own cost.

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
import threading
import time
from pathlib import Path

from tests.support.xvfb import XvfbUnavailable, running_xvfb

GOAL_ADDED_S = 0.5
GOAL_RSS_MB = 150.0
ROOT = Path(__file__).resolve().parents[1]


def _env(display: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"GODOT4", "GODOT", "DISPLAY", "WAYLAND_DISPLAY"}}
    if display is None:
        env["QT_QPA_PLATFORM"] = "offscreen"
    else:
        env.pop("QT_QPA_PLATFORM", None)
        env["DISPLAY"] = display
    env["PATH"] = "/usr/bin:/bin"  # no Godot on the path: the stage is not part of these figures
    return env


def bare_import_s() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import PySide6.QtWidgets"], env=_env(), check=True)
    return time.perf_counter() - started


def _start_app(
    user_data: str, runtime: str = "native", display: str | None = None, until: str = "window shown"
) -> tuple[subprocess.Popen[str], float]:
    started = time.perf_counter()
    app = subprocess.Popen(
        [sys.executable, "-m", "app", "-v", "--runtime", runtime, "--user-data", user_data],
        cwd=ROOT,
        env=_env(display),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert app.stderr is not None
    for line in app.stderr:
        if until in line:
            seconds = time.perf_counter() - started
            # Keep reading in the background: a full pipe would block the app's logging.
            threading.Thread(target=app.stderr.read, daemon=True).start()
            return app, seconds
    raise RuntimeError(f"the app exited ({app.wait()}) before {until!r}")


def _stop(app: subprocess.Popen[str]) -> None:
    app.send_signal(signal.SIGTERM)
    try:
        app.wait(30)
    except subprocess.TimeoutExpired:
        app.kill()
        app.wait()


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _tree(pid: int) -> list[int]:
    return [pid, *(p for child in _children(pid) for p in _tree(child))]


def stage_host_pid(app_pid: int) -> int:
    for child in _children(app_pid):
        if b"web-stage-host" in Path(f"/proc/{child}/cmdline").read_bytes():
            return child
    raise RuntimeError("the app runs no stage host")


def embedded_idle(idle_s: float, profile: str) -> dict[str, float]:
    """The app with the stage embedded (web runtime in the stage host) on Xvfb, idle for ``idle_s``, and the app
    without a stage on the same X server (the X11 platform costs more than offscreen)."""
    with running_xvfb(screen="1024x768x24") as display:
        alone, _ = _start_app(profile, "native", display)  # the same X server without a stage: the baseline
        try:
            time.sleep(idle_s)
            alone_rss = rss_mb(alone.pid)
        finally:
            _stop(alone)
        app, ready_s = _start_app(profile, "embedded", display, until="stage: applied")
        try:
            time.sleep(idle_s)
            host = stage_host_pid(app.pid)
            return {
                "app_rss_mb": round(rss_mb(app.pid), 1),
                "app_alone_rss_mb": round(alone_rss, 1),
                "host_rss_mb": round(rss_mb(host), 1),
                "host_tree_pss_mb": round(sum(pss_mb(pid) for pid in _tree(host)), 1),
                "avatar_shown_s": round(ready_s, 3),
            }
        finally:
            _stop(app)


def pss_mb(pid: int) -> float:
    """Proportional set size: shared pages split between the processes sharing them, so a sum over processes that
    share libraries (the host and its web engine helpers) counts each page once."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no Pss")


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
        try:
            embedded = embedded_idle(args.idle, profile)
        except XvfbUnavailable as missing:
            print(f"(no embedded-stage figures: {missing})", file=sys.stderr)
            embedded = {}
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
        "embedded": embedded,
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
        if embedded:
            print(
                f"desktop idle memory with the embedded stage: app {embedded['app_rss_mb']:.1f} MB (goal <= "
                f"{GOAL_RSS_MB:g} MB; {embedded['app_alone_rss_mb']:.1f} MB without a stage on the same X server); "
                f"stage host {embedded['host_rss_mb']:.1f} MB resident, "
                f"{embedded['host_tree_pss_mb']:.1f} MB proportional with its web engine processes [on Xvfb, after "
                f"{args.idle:g} s; Tama shown {embedded['avatar_shown_s']:.1f} s after launch]"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
