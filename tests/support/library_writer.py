"""A process that changes a model library as fast as it can, forever, saying what it is doing; the crash-safety test
kills it with SIGKILL at random moments.

Usage: ``python -m tests.support.library_writer DATA_DIR SEED MODEL...``. Lines on stdout (flushed at once):
``ready``; ``phase <name>`` before each step; ``committed <sha256>`` once an import is in the index;
``removing <sha256>`` before a removal starts; ``removed <sha256>`` once it is done.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from app.models import library as library_module
from app.models.library import LibraryError, ModelLibrary


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    folder, seed, *models = sys.argv[1:]
    chooser = random.Random(int(seed))
    library = ModelLibrary(Path(folder))
    library.open()
    # Mark the steps inside an import, so the test knows where each kill landed.
    real_write = getattr(library_module, "write_file_atomically")  # noqa: B009

    def traced_write(path: Path, data: bytes) -> None:
        say("phase index-write")
        real_write(path, data)

    setattr(library_module, "write_file_atomically", traced_write)  # noqa: B010 - a deliberate patch
    say("ready")
    while True:
        action = chooser.random()
        entries = library.entries()
        if action < 0.6 or not entries:
            say("phase import")
            result = library.import_file(Path(chooser.choice(models)))
            say(f"committed {result.entry.sha256}")
        elif action < 0.8:
            say("phase select")
            library.select(chooser.choice(entries).sha256)
        else:
            selected = library.selected
            candidates = [e for e in entries if selected is None or e.sha256 != selected.sha256]
            if candidates:
                victim = chooser.choice(candidates)
                say(f"removing {victim.sha256}")
                try:
                    library.remove(victim.sha256)
                except LibraryError:
                    continue
                say(f"removed {victim.sha256}")


if __name__ == "__main__":
    main()
