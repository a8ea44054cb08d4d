"""Crash safety, tested: a writer process is SIGKILLed at random moments while it imports, selects and removes
models; after every kill the library opens, every indexed model's file exists with the right hash, no partial file
is referenced, no committed import is lost, and the index is never found damaged."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from app.models.library import ModelLibrary
from tests.vrm_factory import build_vrm

KILLS = 60
ROOT = Path(__file__).resolve().parents[2]


def models(tmp_path: Path) -> list[Path]:
    """Models of 1 to 6 MiB, so that copies take long enough for kills to land inside them."""
    paths = []
    for i, mib in enumerate((1, 2, 4, 6)):
        path = tmp_path / f"model{i}.vrm"
        path.write_bytes(build_vrm("1.0" if i % 2 else "0.x", title=f"M{i}", thumbnail=os.urandom(mib << 20)))
        paths.append(path)
    return paths


def run_and_kill(folder: Path, seed: int, sources: list[Path], delay: float) -> list[str]:
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.support.library_writer", str(folder), str(seed), *map(str, sources)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    first = writer.stdout.readline()
    assert first == "ready\n", first + writer.stderr.read() if writer.stderr else ""
    time.sleep(delay)
    writer.send_signal(signal.SIGKILL)
    rest = writer.stdout.read()
    writer.wait()
    assert writer.stderr is not None
    errors = writer.stderr.read()
    writer.stdout.close()
    writer.stderr.close()
    assert "Traceback" not in errors, errors
    return rest.splitlines()


def test_sigkill_at_random_points_never_damages_the_library(tmp_path: Path) -> None:
    sources = models(tmp_path)
    folder = tmp_path / "data"
    chooser = random.Random(20261122)
    committed: set[str] = set()
    where_killed: Counter[str] = Counter()
    for kill in range(KILLS):
        lines = run_and_kill(folder, kill, sources, chooser.uniform(0.0, 0.25))
        in_flight_removal: set[str] = set()
        for line in lines:
            word, _, value = line.partition(" ")
            if word == "committed":
                committed.add(value)
            elif word == "removing":
                in_flight_removal.add(value)
            elif word == "removed":
                committed.discard(value)
                in_flight_removal.discard(value)
        phases = [line for line in lines if line.startswith(("phase", "removing"))]
        where_killed[phases[-1].split()[0 if phases[-1].startswith("removing") else 1] if phases else "start"] += 1

        library = ModelLibrary(folder)
        warnings = library.open()
        assert not [w for w in warnings if "moved to" in w or "damaged" in w or "missing" in w], warnings
        listed = {entry.sha256 for entry in library.entries()}
        for entry in library.entries():
            assert hashlib.sha256(entry.path.read_bytes()).hexdigest() == entry.sha256
            assert entry.path.stat().st_size == entry.size
        assert not any(p.name.startswith(".incoming-") for p in (folder / "models").iterdir())
        # Nothing whose import finished is lost, except a removal that was under way.
        lost = committed - listed - in_flight_removal
        assert not lost, lost
        committed = (committed - in_flight_removal) | (listed & in_flight_removal)
    # The kills landed in every kind of step, not only between them.
    assert {"import", "index-write"} <= set(where_killed), where_killed
