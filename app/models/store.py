"""The model files in the user-data folder: ``models/<sha256>.vrm``, content-addressed, never partially written.

A file reaches its final name only by a rename, after its bytes are on disk (temporary file in the same folder,
fsync, rename, fsync of the folder), so a crash at any moment leaves either the whole file or no file under that
name. Leftover temporary files (``.incoming-*.part``) are removed by :meth:`ModelFiles.clean_orphans` at start.
Removal renames the file to ``.removing-<sha256>.vrm`` first, so the library can tell an unfinished removal (roll
back or finish it) from a model that was never indexed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import re
import threading
from dataclasses import dataclass
from pathlib import Path

SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
COPY_CHUNK_BYTES = 4 << 20
QUEUED_CHUNKS = 4
"""Bytes read and hashed but not yet written are bounded by this many chunks (16 MiB)."""
WRITEBACK_BYTES = 64 << 20
"""Flush to disk every so often while copying, so the final fsync does not wait for the whole file at once."""
INCOMING_PREFIX = ".incoming-"
REMOVING_PREFIX = ".removing-"


@dataclass(frozen=True)
class StagedCopy:
    """A complete, fsynced copy under a temporary name, not yet visible as a model."""

    temporary: Path
    sha256: str
    size: int


def fsync_dir(folder: Path) -> None:
    # A rename is durable only once the folder's entry is on disk (POSIX); Windows has no folder fsync.
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_file_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: readers see the old or the new file, never a mix, even after a crash."""
    descriptor, temporary = _make_temporary(path.parent, f"{path.name}.tmp-")
    try:
        with os.fdopen(descriptor, "wb") as writer:
            writer.write(data)
            writer.flush()
            os.fsync(writer.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    fsync_dir(path.parent)


def _make_temporary(folder: Path, prefix: str) -> tuple[int, str]:
    import tempfile  # noqa: PLC0415 - tempfile is slow to import and only writers need it

    return tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".part")


class ModelFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if not SHA256_PATTERN.match(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.root / f"{sha256}.vrm"

    def path_for(self, sha256: str) -> Path | None:
        """The stored file for a hash, or None. Only 64-hex names are ever looked up (the bridge serves these)."""
        if not SHA256_PATTERN.match(sha256):
            return None
        path = self.root / f"{sha256}.vrm"
        return path if path.is_file() else None

    def stored_hashes(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.iterdir() if p.suffix == ".vrm" and SHA256_PATTERN.match(p.stem))

    def pending_removals(self) -> list[str]:
        if not self.root.is_dir():
            return []
        names = (p.name for p in self.root.iterdir() if p.name.startswith(REMOVING_PREFIX))
        return sorted(name[len(REMOVING_PREFIX) : -len(".vrm")] for name in names if name.endswith(".vrm"))

    def clean_orphans(self) -> list[Path]:
        """Delete temporary files that a crashed writer left behind; returns what was deleted."""
        if not self.root.is_dir():
            return []
        removed = []
        for path in self.root.iterdir():
            if path.name.startswith(INCOMING_PREFIX) and path.name.endswith(".part"):
                path.unlink(missing_ok=True)
                removed.append(path)
        return removed

    def stage_copy(self, source: Path) -> StagedCopy:
        """Copy ``source`` to a temporary file here while hashing it; raises OSError (nothing is left behind)."""
        self.root.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = _make_temporary(self.root, INCOMING_PREFIX)
        try:
            with source.open("rb") as reader:
                sha256, size = _copy_hashing(reader.fileno(), descriptor)
        except BaseException:
            os.close(descriptor)
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        os.close(descriptor)
        return StagedCopy(Path(temporary), sha256, size)

    def commit(self, staged: StagedCopy) -> tuple[Path, bool]:
        """Give the staged copy its final name; returns the path and whether it is new (same bytes: kept once)."""
        final = self.path(staged.sha256)
        if final.is_file():
            self.discard(staged)
            return final, False
        os.replace(staged.temporary, final)
        fsync_dir(self.root)
        return final, True

    def discard(self, staged: StagedCopy) -> None:
        staged.temporary.unlink(missing_ok=True)

    def begin_removal(self, sha256: str) -> None:
        os.replace(self.path(sha256), self.root / f"{REMOVING_PREFIX}{sha256}.vrm")
        fsync_dir(self.root)

    def finish_removal(self, sha256: str) -> None:
        (self.root / f"{REMOVING_PREFIX}{sha256}.vrm").unlink(missing_ok=True)
        fsync_dir(self.root)

    def undo_removal(self, sha256: str) -> None:
        os.replace(self.root / f"{REMOVING_PREFIX}{sha256}.vrm", self.path(sha256))
        fsync_dir(self.root)

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)
        fsync_dir(self.root)

    def set_aside(self, path: Path, reason: str) -> Path:
        """Move a damaged file out of the way under a telling name; never deletes the user's bytes."""
        target = path.with_name(f"{path.name}.{reason}")
        os.replace(path, target)
        return target


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(COPY_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_hashing(source: int, target: int) -> tuple[str, int]:
    """Copy with the hashing (this thread) and the writing (a writer thread) overlapped; fsyncs ``target``.

    Both sides release the GIL on large buffers, so on two cores a copy costs about the slower of the two instead of
    their sum. At most ``QUEUED_CHUNKS`` chunks wait in between, whatever the file's size.
    """
    chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUED_CHUNKS)
    failure: list[BaseException] = []

    def write_all() -> None:
        unsynced = 0
        try:
            while (chunk := chunks.get()) is not None:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(target, view) :]
                unsynced += len(chunk)
                if unsynced >= WRITEBACK_BYTES:
                    os.fsync(target)
                    unsynced = 0
            os.fsync(target)
        except BaseException as error:
            failure.append(error)
            # Keep draining so the reader never blocks on a full queue after a write error.
            while chunks.get() is not None:
                pass

    writer = threading.Thread(target=write_all, name="model-copy-writer", daemon=True)
    writer.start()
    digest = hashlib.sha256()
    size = 0
    try:
        while not failure and (chunk := os.read(source, COPY_CHUNK_BYTES)):
            chunks.put(chunk)
            digest.update(chunk)
            size += len(chunk)
    finally:
        chunks.put(None)
        writer.join()
    if failure:
        raise failure[0]
    return digest.hexdigest(), size
