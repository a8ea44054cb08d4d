"""Inspecting and importing a 200 MB VRM, against hashing the same file with hashlib.sha256 alone (same process).

Import is the whole user-visible operation: inspect the original, copy it into the library while hashing, fsync,
inspect the copy, rename, fsync the folder, write the index. Its floor on this disk is a plain copy with fsync, which
is printed too, so the figures can be read against both the CPU bound (hashing) and the disk bound (durable write).
``python -m benchmarks.models [--mib N] [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from app.models.library import ModelLibrary
from app.models.store import hash_file
from app.models.vrm_inspection import inspect_model
from tests.vrm_factory import build_vrm

MiB = 1 << 20


def best_of(runs: int, job: Callable[[int], object]) -> float:
    times = []
    for run in range(runs):
        started = time.perf_counter()
        job(run)
        times.append(time.perf_counter() - started)
    return min(times)


PEAK_RSS_SCRIPT = """
import resource, sys
from pathlib import Path
from app.models.library import ModelLibrary
library = ModelLibrary(Path(sys.argv[1]))
library.open()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if sys.argv[2] != "-":
    library.import_file(Path(sys.argv[2]))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def extra_peak_rss_kib(work: Path, source: Path | None) -> int:
    """Peak resident memory an import adds in a fresh process (mapped file pages included), in KiB."""
    completed = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_SCRIPT, str(work / f"rss-{source is None}"), str(source or "-")],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(completed.stdout.strip())


def copy_with_fsync(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    descriptor = os.open(target, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-models-"))
    try:
        source = work / "big.vrm"
        source.write_bytes(build_vrm("1.0", title="Big", thumbnail=os.urandom(args.mib * MiB)))
        size_mb = source.stat().st_size / 1e6
        hash_file(source)  # warm the page cache, as it is for a file the user just downloaded

        hashing = best_of(args.runs, lambda _run: hash_file(source))
        inspecting = best_of(args.runs, lambda _run: inspect_model(source))

        def import_once(run: int) -> None:
            library = ModelLibrary(work / f"library-{run}")
            library.open()
            library.import_file(source)

        importing = best_of(args.runs, import_once)
        for run in range(args.runs):
            shutil.rmtree(work / f"library-{run}")
        copying = best_of(args.runs, lambda run: copy_with_fsync(source, work / f"copy-{run}.vrm"))

        tracemalloc.start()
        import_once(args.runs)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        json_bytes = _json_length(source)

        print(f"file: {size_mb:,.1f} MB VRM 1.0 (JSON chunk {json_bytes:,} bytes), best of {args.runs} runs")
        print(f"hash only (sha256):       {size_mb / hashing:8,.0f} MB/s   (baseline, {hashing * 1000:.0f} ms)")
        print(
            f"inspect:                  {size_mb / inspecting:8,.0f} MB/s   ({inspecting * 1000:.2f} ms, "
            f"{hashing / inspecting:,.0f}x hash-only speed: only headers, JSON and thumbnail are read)"
        )
        print(
            f"import (durable):         {size_mb / importing:8,.0f} MB/s   ({importing * 1000:.0f} ms, "
            f"{hashing / importing:.2f}x hash-only speed; goal >= 0.8)"
        )
        print(
            f"disk floor, cp + fsync:   {size_mb / copying:8,.0f} MB/s   ({copying * 1000:.0f} ms; import reaches "
            f"{copying / importing:.2f}x of it)"
        )
        rss = extra_peak_rss_kib(work, source) - extra_peak_rss_kib(work, None)
        print(f"import peak Python allocations: {peak / MiB:.1f} MiB (tracemalloc)")
        print(f"import peak resident memory added: {rss / 1024:.1f} MiB in a fresh process (goal < 64 MiB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _json_length(path: Path) -> int:
    with path.open("rb") as reader:
        reader.seek(12)
        return int.from_bytes(reader.read(4), "little")


if __name__ == "__main__":
    main()
