"""The model library: the stored VRM files plus a versioned index (``library.json``) of what they are.

Rules that keep the library whole whatever happens (crashes, full disks, several processes):
- A model file is complete before the index mentions it, and leaves the index before its file goes (see
  :mod:`app.models.store`). Every index write is atomic.
- Each change re-reads the index under a lock file, so the app and the command line can both change the library.
- At start, leftovers are settled: temporary files removed, unfinished removals rolled back or finished, model files
  the index does not know (an import cut short after its copy) adopted after checking their hash.
- An index that cannot be read, or one written by a newer version of the app, is moved aside (never deleted) with a
  warning and rebuilt from the model files, keeping what can be salvaged from it (original names, import times).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.models.glb import DEFAULT_LIMITS, InspectionLimits
from app.models.refusals import ModelRefused
from app.models.store import ModelFiles, fsync_dir, hash_file, unused_name, write_file_atomically
from app.models.vrm_inspection import ModelInspection, inspect_model
from app.models.vrm_meta import clean_text

log = logging.getLogger("app.models")

INDEX_NAME = "library.json"
INDEX_FORMAT = "stage-tamagotchi.library"
INDEX_VERSION = 1
LOCK_NAME = "library.lock"

LibraryErrorCode = Literal["store_failed", "not_found", "ambiguous", "in_use", "read_only"]


class LibraryError(Exception):
    """A library operation failed; the library is as it was before. ``message`` is for a person."""

    def __init__(self, code: LibraryErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class IndexEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    file_name: str = Field(alias="fileName", min_length=1)
    imported_at: str = Field(alias="importedAt")
    builtin: bool = False
    inspection: dict[str, Any]


class LibraryIndex(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    format: Literal["stage-tamagotchi.library"] = "stage-tamagotchi.library"
    version: Literal[1] = 1
    selected: str | None = None
    models: list[IndexEntry] = []


@dataclass(frozen=True)
class LibraryEntry:
    """One model as the app shows it."""

    sha256: str
    size: int
    file_name: str
    imported_at: str
    builtin: bool
    inspection: dict[str, Any]
    path: Path

    @property
    def model_id(self) -> str:
        return f"sha256:{self.sha256}"

    def _meta(self) -> dict[str, Any]:
        meta = self.inspection.get("meta")
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        """What to call it: the avatar's own title, else the file it came from."""
        title = self._meta().get("title")
        return title if isinstance(title, str) and title else self.file_name

    @property
    def vrm_version(self) -> str:
        version = self.inspection.get("vrm_version")
        return version if isinstance(version, str) else "?"

    @property
    def authors(self) -> list[str]:
        authors = self._meta().get("authors")
        return [a for a in authors if isinstance(a, str)] if isinstance(authors, list) else []

    @property
    def license_summary(self) -> str:
        license_info = self._meta().get("license")
        summary = license_info.get("summary") if isinstance(license_info, dict) else None
        return summary if isinstance(summary, str) else "Unknown license"


@dataclass(frozen=True)
class ImportResult:
    entry: LibraryEntry
    added: bool
    """False when the same bytes were already in the library (one copy is kept)."""
    warnings: tuple[str, ...]


BuiltinAvatar = Callable[[], tuple[str, bytes]]
"""Returns (file name, VRM bytes) of the avatar a new library starts with."""


class ModelLibrary:
    def __init__(
        self,
        user_data: Path,
        *,
        limits: InspectionLimits = DEFAULT_LIMITS,
        builtin_avatar: BuiltinAvatar | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.root = user_data
        self.files = ModelFiles(user_data / "models")
        self.index_path = user_data / INDEX_NAME
        self._limits = limits
        self._builtin_avatar = builtin_avatar
        self._clock = clock
        self._index = LibraryIndex()
        self._salvage: dict[str, dict[str, Any]] = {}
        """Entries of an index that had to be set aside, by hash: names and times to keep when rebuilding."""
        self.warnings: list[str] = []
        """What :meth:`open` had to repair, for the UI and the log."""

    # Reading -------------------------------------------------------------------------------------------------

    def entries(self) -> list[LibraryEntry]:
        return [self._entry(item) for item in self._index.models]

    @property
    def selected(self) -> LibraryEntry | None:
        return next((e for e in self.entries() if e.sha256 == self._index.selected), None)

    def find(self, reference: str) -> LibraryEntry:
        """An entry by ``sha256:<hex>``, full hash or a unique prefix of at least 4 hex digits."""
        wanted = reference.strip().lower().removeprefix("sha256:")
        matches = [e for e in self.entries() if e.sha256.startswith(wanted)] if len(wanted) >= 4 else []
        if not matches:
            raise LibraryError("not_found", f"No model in the library matches {reference!r}.")
        if len(matches) > 1:
            raise LibraryError("ambiguous", f"{reference!r} matches {len(matches)} models; give more of the id.")
        return matches[0]

    def path_for(self, sha256: str) -> Path | None:
        """The stored file the stage may fetch; only models in the library are served."""
        if not any(item.sha256 == sha256 for item in self._index.models):
            return None
        return self.files.path_for(sha256)

    # Opening and repairing ------------------------------------------------------------------------------------

    def open(self) -> list[str]:
        """Load the library, settling whatever an earlier crash left; returns warnings (also kept in ``warnings``)."""
        self.warnings = []
        first_start = not self.index_path.exists() and not self.files.stored_hashes()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with self._locked():
                self._index = self._load_and_repair()
        except OSError as error:
            # A read-only or vanished folder: show what can be read, change nothing.
            self._warn(f"the library folder cannot be changed ({error.strerror or error}); it is read-only for now")
            self._index = self._read_index_quietly()
            return self.warnings
        except Exception as error:  # a defect must not keep the app from starting; the files stay as they are
            log.exception("model library: could not open %s", self.root)
            self._warn(f"the library could not be opened ({error}); showing what the index lists")
            self._index = self._read_index_quietly()
            return self.warnings
        if first_start and self._builtin_avatar is not None:
            self._add_builtin()
        return self.warnings

    def _warn(self, message: str) -> None:
        log.warning("model library: %s", message)
        self.warnings.append(message)

    def _read_index_quietly(self) -> LibraryIndex:
        with contextlib.suppress(OSError, ValueError, ValidationError):
            return LibraryIndex.model_validate_json(self.index_path.read_bytes())
        return LibraryIndex()

    def _load_and_repair(self) -> LibraryIndex:
        """Called with the lock held: the index as it should be, written back if anything had to change."""
        for path in self.files.clean_orphans():
            log.info("model library: removed the unfinished copy %s", path.name)
        for pattern in (f"{INDEX_NAME}.tmp-*.part", ".builtin-*.vrm"):
            for path in self.root.glob(pattern):
                path.unlink(missing_ok=True)
        index, changed = self._load_index()
        unique = {item.sha256: item for item in reversed(index.models)}
        if len(unique) != len(index.models):
            index.models = [item for item in index.models if unique.get(item.sha256) is item]
            changed = True
        known = {item.sha256 for item in index.models} | set(self._salvage)
        rebuilt = changed and not index.models
        for sha256 in self.files.pending_removals():
            if sha256 in known or rebuilt:
                # The index still lists it, or cannot say: the removal never happened (nothing is lost).
                self.files.undo_removal(sha256)
            else:
                self.files.finish_removal(sha256)
        kept = []
        for item in index.models:
            stored = self.files.path_for(item.sha256)
            if stored is None:
                self._warn(f"{item.file_name} ({item.sha256[:12]}) is missing from the models folder; dropped")
                changed = True
            elif stored.stat().st_size != item.size:
                self.files.set_aside(stored, "damaged")
                self._warn(f"{item.file_name} ({item.sha256[:12]}) has the wrong size; set aside as .damaged")
                changed = True
            else:
                kept.append(item)
        index.models = kept
        listed = {item.sha256 for item in kept}
        for sha256 in self.files.stored_hashes():
            if sha256 not in listed:
                adopted = self._adopt(sha256, self._salvage.get(sha256, {}))
                if adopted is not None:
                    index.models.append(adopted)
                    changed = True
        if index.selected is not None and index.selected not in {item.sha256 for item in index.models}:
            self._warn("the selected model is no longer in the library; nothing is selected")
            index.selected = None
            changed = True
        if changed:
            self._write(index)
        return index

    def _load_index(self) -> tuple[LibraryIndex, bool]:
        """The index on disk, or an empty one to rebuild into; True when it must be written back."""
        self._salvage = {}
        try:
            raw = self.index_path.read_bytes()
        except FileNotFoundError:
            if self.files.stored_hashes():
                self._warn("the library index is missing; rebuilding it from the model files")
            return LibraryIndex(), True
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            return self._set_aside_index("corrupt", "is not valid JSON", None), True
        version = data.get("version") if isinstance(data, dict) else None
        if isinstance(version, int) and not isinstance(version, bool) and version > INDEX_VERSION:
            return self._set_aside_index(f"v{version}", f"was written by a newer app (format {version})", data), True
        try:
            return LibraryIndex.model_validate(data), False
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            return self._set_aside_index("corrupt", f"is damaged ({where}: {problem['msg']})", data), True

    def _set_aside_index(self, label: str, why: str, data: Any) -> LibraryIndex:
        stamp = self._clock().strftime("%Y%m%dT%H%M%SZ")
        target = unused_name(self.index_path.with_name(f"{INDEX_NAME}.{label}-{stamp}"))
        os.replace(self.index_path, target)
        fsync_dir(self.root)
        self._warn(f"the library index {why}; it was moved to {target.name} and the library rebuilt from the files")
        index = LibraryIndex()
        # Keep what can be trusted from it: the names users gave, when they imported, what they had selected.
        for item in data.get("models", []) if isinstance(data, dict) and isinstance(data.get("models"), list) else []:
            if isinstance(item, dict) and isinstance(item.get("sha256"), str):
                self._salvage[item["sha256"]] = item
        selected = data.get("selected") if isinstance(data, dict) else None
        index.selected = selected if isinstance(selected, str) else None
        return index

    def _adopt(self, sha256: str, salvaged: dict[str, Any]) -> IndexEntry | None:
        """A complete model file the index does not list: verify it, then list it (losing nothing)."""
        path = self.files.path(sha256)
        try:
            actual = hash_file(path)
            if actual != sha256:
                self.files.set_aside(path, "damaged")
                self._warn(f"models/{path.name} does not match its hash; set aside as .damaged")
                return None
            inspection = inspect_model(path, self._limits, with_thumbnail=False)
        except ModelRefused as refused:
            self._warn(f"models/{path.name} is not a usable VRM ({refused.message}); left out of the library")
            return None
        except (OSError, ValueError) as error:
            self._warn(f"models/{path.name} could not be read back ({error}); left where it is, out of the library")
            return None
        name = salvaged.get("fileName")
        imported = salvaged.get("importedAt")
        entry = IndexEntry(
            sha256=sha256,
            size=path.stat().st_size,
            file_name=name if isinstance(name, str) and name else f"{sha256[:12]}.vrm",
            imported_at=imported if isinstance(imported, str) else self._now(),
            builtin=salvaged.get("builtin") is True,
            inspection=inspection.to_json(),
        )
        log.info("model library: recovered %s into the index", entry.file_name)
        return entry

    def _add_builtin(self) -> None:
        assert self._builtin_avatar is not None
        name, data = self._builtin_avatar()
        staging = self.root / f".builtin-{os.getpid()}.vrm"
        try:
            write_file_atomically(staging, data)
            result = self.import_file(staging, file_name=name, builtin=True)
            self.select(result.entry.sha256)
        except (OSError, LibraryError, ModelRefused) as error:
            self._warn(f"the built-in avatar could not be added: {error}")
        finally:
            with contextlib.suppress(OSError):
                staging.unlink(missing_ok=True)

    # Changing -------------------------------------------------------------------------------------------------

    def import_file(self, source: Path, *, file_name: str | None = None, builtin: bool = False) -> ImportResult:
        """Check ``source``, copy its bytes into the library and list it. Raises :class:`ModelRefused` for files
        that are not usable VRMs and :class:`LibraryError` when saving fails; either way nothing changes."""
        inspect_model(source, self._limits, with_thumbnail=False)  # refuses most bad files before any copying
        try:
            staged = self.files.stage_copy(source)
        except OSError as error:
            raise self._store_failed(source, error) from None
        try:
            # The copy is checked, not the original: the bytes stored are the bytes inspected.
            inspection = inspect_model(staged.temporary, self._limits, with_thumbnail=False)
        except ModelRefused:
            self.files.discard(staged)
            raise
        try:
            with self._locked():
                _path, created = self.files.commit(staged)
                index = self._reload()
                existing = next((item for item in index.models if item.sha256 == staged.sha256), None)
                if existing is not None:
                    self._index = index
                    return ImportResult(self._entry(existing), False, inspection.warnings)
                try:
                    item = IndexEntry(
                        sha256=staged.sha256,
                        size=staged.size,
                        file_name=clean_text(file_name or source.name, 255) or f"{staged.sha256[:12]}.vrm",
                        imported_at=self._now(),
                        builtin=builtin,
                        inspection=inspection.to_json(),
                    )
                    index.models.append(item)
                    self._write(index)
                except (OSError, ValueError):
                    # Not listed, so not kept: a model file the index does not know would be adopted at start.
                    if created:
                        with contextlib.suppress(OSError):
                            self.files.delete(staged.sha256)
                    raise
                self._index = index
                return ImportResult(self._entry(item), True, inspection.warnings)
        except OSError as error:
            self.files.discard(staged)
            raise self._store_failed(source, error) from None
        except ValueError as error:
            self.files.discard(staged)
            log.exception("model library: could not record %s", source)
            raise LibraryError("store_failed", f"Could not record {source.name} in the library ({error}).") from None

    def select(self, reference: str) -> LibraryEntry:
        entry = self.find(reference)
        self._change(lambda index: setattr(index, "selected", entry.sha256), f"select {entry.name}")
        return entry

    def remove(self, reference: str) -> LibraryEntry:
        entry = self.find(reference)
        try:
            with self._locked():
                index = self._reload()
                if index.selected == entry.sha256:
                    raise LibraryError(
                        "in_use", f"{entry.name} is the avatar in use; select another one before removing it."
                    )
                self.files.begin_removal(entry.sha256)
                index.models = [item for item in index.models if item.sha256 != entry.sha256]
                try:
                    self._write(index)
                except OSError:
                    self.files.undo_removal(entry.sha256)
                    raise
                self._index = index
                self.files.finish_removal(entry.sha256)
        except OSError as error:
            raise LibraryError(
                "read_only" if _is_read_only(error) else "store_failed",
                f"Could not remove {entry.name}: {error.strerror or error}. The library is unchanged.",
            ) from None
        return entry

    def reload(self) -> None:
        """Pick up changes another process made (the command line while the app runs); keeps what it has if the
        index cannot be read right now."""
        try:
            self._index = LibraryIndex.model_validate_json(self.index_path.read_bytes())
        except (OSError, ValueError) as error:
            log.warning("model library: kept the library as it was; the index could not be read again: %s", error)

    def _change(self, mutate: Callable[[LibraryIndex], None], what: str) -> None:
        try:
            with self._locked():
                index = self._reload()
                mutate(index)
                self._write(index)
                self._index = index
        except OSError as error:
            raise LibraryError(
                "read_only" if _is_read_only(error) else "store_failed",
                f"Could not {what}: {error.strerror or error}. The library is unchanged.",
            ) from None

    def _reload(self) -> LibraryIndex:
        """The index as on disk now (under the lock); falls back to ours if it vanished."""
        try:
            return LibraryIndex.model_validate_json(self.index_path.read_bytes())
        except FileNotFoundError:
            return self._index.model_copy(deep=True)
        except (ValueError, ValidationError):
            # Damaged since we opened it: repair as at start rather than overwrite what is there.
            return self._load_and_repair()

    def _write(self, index: LibraryIndex) -> None:
        data = index.model_dump_json(by_alias=True, indent=1).encode()
        write_file_atomically(self.index_path, data)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock on the library across processes and threads (``flock``; ``msvcrt.locking`` on Windows)."""
        self.root.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if sys.platform == "win32":
                import msvcrt  # noqa: PLC0415 - Windows only

                while True:
                    try:
                        msvcrt.locking(descriptor, msvcrt.LK_LOCK, 1)  # retries for about 10 s, then raises
                        break
                    except OSError:
                        continue
            else:
                import fcntl  # noqa: PLC0415 - POSIX only

                fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # closing releases the lock on both

    def _store_failed(self, source: Path, error: OSError) -> LibraryError:
        reason = error.strerror or str(error)
        return LibraryError(
            "read_only" if _is_read_only(error) else "store_failed",
            f"Could not save {source.name} in {self.files.root}: {reason}. The library is unchanged.",
        )

    def _entry(self, item: IndexEntry) -> LibraryEntry:
        return LibraryEntry(
            sha256=item.sha256,
            size=item.size,
            file_name=item.file_name,
            imported_at=item.imported_at,
            builtin=item.builtin,
            inspection=item.inspection,
            path=self.files.path(item.sha256),
        )

    def _now(self) -> str:
        return self._clock().isoformat(timespec="seconds")

    def inspect_entry(self, entry: LibraryEntry) -> ModelInspection:
        """A fresh inspection of the stored copy, with its thumbnail (the index keeps no image bytes)."""
        return inspect_model(entry.path, self._limits)


def _is_read_only(error: OSError) -> bool:
    return error.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
