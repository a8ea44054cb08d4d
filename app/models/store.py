"""The model files in the user-data folder: ``models/<sha256>.vrm``, content-addressed, never partially written.

A file reaches its final name only by a rename, after its bytes are on disk (temporary file in the same folder,
fsync, rename, fsync of the folder), so a crash at any moment leaves either the whole file or no file under that
name. Leftover temporary files (``.incoming-*.part``) are removed by :meth:`ModelFiles.clean_orphans` at start.
Removal renames the file to ``.removing-<sha256>.vrm`` first, so the library can tell an unfinished removal (roll
back or finish it) from a model that was never indexed.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import mmap
import os
import re
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
COPY_CHUNK_BYTES = 16 << 20
"""Copied by the kernel per step; the hashing of one step overlaps the copying of the next."""
HASH_READ_BYTES = 1 << 20
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
        """Delete temporary files whose writer is gone (crashed); returns what was deleted.

        Temporary names carry the writer's process id, so a copy another running process is making (the app while
        the command line starts) is left alone.
        """
        if not self.root.is_dir():
            return []
        removed = []
        for path in self.root.iterdir():
            if not (path.name.startswith(INCOMING_PREFIX) and path.name.endswith(".part")):
                continue
            writer = path.name[len(INCOMING_PREFIX) :].split("-", 1)[0]
            if writer.isdigit() and _process_alive(int(writer)):
                continue
            try:
                path.unlink(missing_ok=True)
            except OSError:
                continue  # Windows: still open in a live writer
            removed.append(path)
        return removed

    def stage_copy(self, source: Path) -> StagedCopy:
        """Copy ``source`` to a temporary file here while hashing it; raises OSError (nothing is left behind)."""
        self.root.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = _make_temporary(self.root, f"{INCOMING_PREFIX}{os.getpid()}-")
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
        """Move a damaged file out of the way under a telling name; never deletes or overwrites anything."""
        target = unused_name(path.with_name(f"{path.name}.{reason}"))
        os.replace(path, target)
        return target


def unused_name(wanted: Path) -> Path:
    """``wanted``, or ``wanted`` with ``-2``, ``-3``... appended, whichever does not exist yet."""
    candidate, number = wanted, 1
    while candidate.exists():
        number += 1
        candidate = wanted.with_name(f"{wanted.name}-{number}")
    return candidate


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        return False  # os.kill would terminate it there; an open file refuses deletion instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(HASH_READ_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_hashing(source: int, target: int) -> tuple[str, int]:
    """Copy ``source`` into ``target`` and hash what landed in ``target``; fsyncs it. Returns (sha256, size).

    The bytes are copied inside the kernel (``copy_file_range``, else ``sendfile``, else plain reads and writes) a
    chunk at a time, while this thread hashes the previous chunk read back from the copy (from the page cache). So
    the name the file gets is the hash of the bytes stored, even if the original changes meanwhile, and copying and
    hashing overlap on two cores. Memory stays at one read buffer whatever the file's size.
    """
    copy_chunk = _chunk_copier(source, target)
    digest = hashlib.sha256()
    size = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-copy") as pool:
        copying = pool.submit(copy_chunk)
        while copied := copying.result():
            copying = pool.submit(copy_chunk)
            _hash_region(digest, target, size, copied)
            size += copied
    os.fsync(target)
    return digest.hexdigest(), size


def _hash_region(digest: Any, descriptor: int, offset: int, length: int) -> None:
    """Hash ``length`` bytes of the file at ``offset`` straight from the page cache (mmap, no copy), else by reads."""
    try:
        with mmap.mmap(descriptor, length, offset=offset, access=mmap.ACCESS_READ) as view:
            digest.update(view)
        return
    except (OSError, ValueError):
        pass  # no mmap for this file or platform: read it instead
    end = offset + length
    while offset < end:
        block = os.pread(descriptor, min(HASH_READ_BYTES, end - offset), offset)
        if not block:
            raise OSError(f"the copy shrank while it was hashed (at byte {offset})")
        digest.update(block)
        offset += len(block)


def _chunk_copier(source: int, target: int) -> Callable[[], int]:
    """A function copying the next chunk (up to ``COPY_CHUNK_BYTES``) and returning how much it copied (0 at the end).

    The first kernel method that works is kept; one that fails on the first chunk has copied nothing, so falling
    back is safe (``copy_file_range`` cannot cross some file systems, ``sendfile`` may be missing off Linux).
    """
    methods: list[Callable[[int], int]] = []
    if hasattr(os, "copy_file_range"):
        methods.append(lambda count: os.copy_file_range(source, target, count))
    if sys.platform.startswith("linux"):
        methods.append(lambda count: os.sendfile(target, source, None, count))
    methods.append(lambda count: _read_write(source, target, count))
    started = False
    offset = 0

    def copy_chunk() -> int:
        nonlocal started, offset
        total = 0
        while total < COPY_CHUNK_BYTES:
            try:
                copied = methods[0](COPY_CHUNK_BYTES - total)
            except OSError as error:
                if started or len(methods) == 1 or error.errno not in _NO_KERNEL_COPY:
                    raise
                methods.pop(0)
                continue
            started = True
            if copied == 0:
                break
            total += copied
        start_writeback(target, offset, total)
        offset += total
        return total

    return copy_chunk


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_SYNC_FILE_RANGE = _sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2


def start_writeback(descriptor: int, offset: int, length: int) -> None:
    """Ask Linux to start writing a range to disk now, without waiting (best effort; a no-op elsewhere).

    The final fsync then has little left to do: the disk works while the next chunk is copied and hashed.
    """
    if _SYNC_FILE_RANGE is not None and length:
        _SYNC_FILE_RANGE(descriptor, offset, length, _SYNC_FILE_RANGE_WRITE)


_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF, errno.EPERM}


def _read_write(source: int, target: int, count: int) -> int:
    data = os.read(source, min(count, HASH_READ_BYTES))
    view = memoryview(data)
    while view:
        view = view[os.write(target, view) :]
    return len(data)
