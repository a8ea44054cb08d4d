"""The user-data model store: the chosen file's bytes, content-addressed by sha256, written atomically.

``models/<sha256>.vrm`` never holds a partial file: bytes go to a temporary file in the same folder, are flushed to
disk, and only then renamed into place. Storing the same bytes twice is a no-op.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredModel:
    sha256: str
    path: Path
    size: int
    name: str

    @property
    def model_id(self) -> str:
        return f"sha256:{self.sha256}"


class ModelStore:
    def __init__(self, user_data: Path) -> None:
        self.root = user_data / "models"

    def path_for(self, sha256: str) -> Path | None:
        """The stored file for a hash, or None. Only 64-hex names are ever looked up (the bridge serves these)."""
        if not _SHA256.match(sha256):
            return None
        path = self.root / f"{sha256}.vrm"
        return path if path.is_file() else None

    def put(self, source: Path) -> StoredModel:
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        descriptor, temporary = tempfile.mkstemp(dir=self.root, prefix=".incoming-", suffix=".part")
        try:
            with source.open("rb") as reader, os.fdopen(descriptor, "wb") as writer:
                while chunk := reader.read(_CHUNK):
                    digest.update(chunk)
                    writer.write(chunk)
                    size += len(chunk)
                writer.flush()
                os.fsync(writer.fileno())
            sha256 = digest.hexdigest()
            final = self.root / f"{sha256}.vrm"
            os.replace(temporary, final)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_dir(self.root)
        return StoredModel(sha256=sha256, path=final, size=size, name=source.name)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the directory entry is on disk (POSIX); Windows has no directory fsync.
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
