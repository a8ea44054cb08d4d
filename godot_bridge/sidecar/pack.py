"""The stage project as a Godot main pack: a plain zip of the project's text resources.

An exported Godot runtime has no importer, but it loads text scenes and scripts straight from a zip given as
``--main-pack``; the stage imports models at run time with GLTFDocument, so nothing needs an editor export.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from pathlib import Path

PACKED_SUFFIXES = frozenset({".godot", ".gd", ".tscn", ".tres", ".cfg", ".gdshader"})
SKIPPED_DIRS = frozenset({".godot", "docs", "tests"})
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def project_files(project_dir: Path) -> list[Path]:
    if not (project_dir / "project.godot").is_file():
        raise FileNotFoundError(f"{project_dir} is not a Godot project (no project.godot)")
    files = []
    for path in sorted(project_dir.rglob("*")):
        relative = path.relative_to(project_dir)
        if path.is_file() and path.suffix in PACKED_SUFFIXES and not SKIPPED_DIRS.intersection(relative.parts[:-1]):
            files.append(path)
    return files


def pack_project(project_dir: Path, extra: Mapping[str, bytes] | None = None) -> bytes:
    """Zip bytes with every project file (sorted, fixed timestamps: the same project gives the same bytes).

    ``extra`` adds or replaces files by their ``res://``-relative name (tests add check scripts this way).
    """
    entries = {path.relative_to(project_dir).as_posix(): path.read_bytes() for path in project_files(project_dir)}
    # The stage uses preload() rather than class_name, so its global class list is empty; without the file the
    # engine logs "Could not load global script cache" at start.
    entries[".godot/global_script_class_cache.cfg"] = b"list=[]\n"
    entries.update(extra or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, _FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name])
    return buffer.getvalue()
