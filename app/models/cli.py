"""``python -m app models inspect|list|import|select|remove``: the model library without a window.

Human text by default, one JSON object with ``--json``; exit code 1 with a one-line reason on failure, and never a
traceback for a bad file. ``import`` goes on with the other files when one is refused, and fails if any was.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.models.library import LibraryEntry, LibraryError, ModelLibrary
from app.models.refusals import ModelRefused
from app.models.vrm_inspection import ModelInspection, inspect_model


def add_parser(commands: Any, user_data_option: Callable[[argparse.ArgumentParser], None]) -> None:
    models = commands.add_parser("models", help="inspect files and manage the model library")
    actions = models.add_subparsers(dest="models_command", required=True)
    inspect = actions.add_parser("inspect", help="is this file a usable VRM, and what is in it?")
    inspect.add_argument("path", type=Path)
    listing = actions.add_parser("list", help="the models in the library")
    load = actions.add_parser("import", help="check files and add them to the library")
    load.add_argument("paths", type=Path, nargs="+", metavar="PATH")
    load.add_argument("--select", action="store_true", help="select the (last) imported model")
    select = actions.add_parser("select", help="make a model the one the stage shows")
    select.add_argument("model", metavar="ID", help="sha256, a unique prefix of it (4+ hex digits), or sha256:...")
    remove = actions.add_parser("remove", help="delete a model from the library (not the one in use)")
    remove.add_argument("model", metavar="ID")
    for parser in (inspect, listing, load, select, remove):
        user_data_option(parser)
        parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace, open_library: Callable[[], ModelLibrary]) -> int:
    """``open_library`` comes from the composition root, so a new library starts as it does in the app."""
    as_json: bool = args.json
    if args.models_command == "inspect":
        return _inspect(args.path, as_json)
    library = open_library()
    warnings = library.warnings
    handlers: dict[str, Callable[[], int]] = {
        "list": lambda: _list(library, warnings, as_json),
        "import": lambda: _import(library, args.paths, args.select, as_json),
        "select": lambda: _change(library, "select", args.model, as_json),
        "remove": lambda: _change(library, "remove", args.model, as_json),
    }
    return handlers[args.models_command]()


def _print(as_json: bool, result: dict[str, Any], human: str) -> int:
    print(json.dumps(result) if as_json else human)
    return 0 if result.get("ok") else 1


def _refusal(path: Path, refused: ModelRefused) -> dict[str, Any]:
    return {"ok": False, "path": str(path), **refused.as_dict()}


def _inspect(path: Path, as_json: bool) -> int:
    try:
        result = inspect_model(path)
    except ModelRefused as refused:
        return _print(as_json, _refusal(path, refused), f"{path.name}: refused ({refused.code}): {refused.message}")
    thumbnail = {"mimeType": result.thumbnail_mime, "bytes": len(result.thumbnail)} if result.thumbnail else None
    data = {"ok": True, "path": str(path), "inspection": result.to_json(), "thumbnail": thumbnail}
    return _print(as_json, data, _describe(path.name, result))


def _describe(name: str, result: ModelInspection) -> str:
    meta, counts = result.meta, result.counts
    bound = [e.name for e in result.expressions if e.binds]
    unbound = [e.name for e in result.expressions if not e.binds]
    lines = [
        f"{name}: VRM {result.vrm_version} avatar" + (f" '{meta.title}'" if meta.title else ""),
        f"  version:     {meta.version or '-'}",
        f"  authors:     {', '.join(meta.authors) or '-'}",
        f"  contact:     {meta.contact or '-'}",
        f"  license:     {meta.license.summary}",
    ]
    lines += [
        f"               {key}: {value}" for key, value in meta.license.permissions.items() if value not in ("", None)
    ]
    lines += [
        f"  expressions: {', '.join(bound) or 'none that move anything'}"
        + (f" (without binds: {', '.join(unbound)})" if unbound else ""),
        f"  lip sync:    {'ready (aa ih ou ee oh)' if result.mouth_ready else 'no full set of mouth visemes'}; "
        f"blink {'ready' if result.blink_ready else 'missing'}",
        f"  contents:    {counts.meshes} meshes, {counts.morph_targets} morph targets, {counts.bones} humanoid bones, "
        f"{counts.textures} textures",
        f"  made with:   {result.exporter or result.generator or 'unknown'}"
        + (f" (spec {result.spec_version})" if result.spec_version else ""),
        f"  thumbnail:   {f'{result.thumbnail_mime}, {len(result.thumbnail):,} bytes' if result.thumbnail else 'none'}",
    ]
    lines += [f"  warning:     {warning}" for warning in result.warnings]
    return "\n".join(lines)


def _entry_json(entry: LibraryEntry, selected: LibraryEntry | None) -> dict[str, Any]:
    return {
        "id": entry.sha256,
        "name": entry.name,
        "fileName": entry.file_name,
        "vrmVersion": entry.vrm_version,
        "authors": entry.authors,
        "license": entry.license_summary,
        "size": entry.size,
        "importedAt": entry.imported_at,
        "builtin": entry.builtin,
        "selected": selected is not None and selected.sha256 == entry.sha256,
        "path": str(entry.path),
    }


def _list(library: ModelLibrary, warnings: list[str], as_json: bool) -> int:
    selected = library.selected
    entries = library.entries()
    rows = [
        f"{'*' if selected and e.sha256 == selected.sha256 else ' '} {e.sha256[:12]}  {e.name}  (VRM {e.vrm_version}, "
        f"{', '.join(e.authors) or 'unknown author'}; {e.license_summary}; from {e.file_name})"
        for e in entries
    ]
    human = "\n".join(rows) if rows else f"The library in {library.root} is empty: models import FILE.vrm adds one."
    human += "".join(f"\nwarning: {warning}" for warning in warnings)
    data = {"ok": True, "models": [_entry_json(e, selected) for e in entries], "warnings": warnings}
    return _print(as_json, data, human)


def _import(library: ModelLibrary, paths: list[Path], select: bool, as_json: bool) -> int:
    results: list[dict[str, Any]] = []
    lines: list[str] = []
    last: LibraryEntry | None = None
    for path in paths:
        try:
            imported = library.import_file(path)
        except ModelRefused as refused:
            results.append(_refusal(path, refused))
            lines.append(f"{path.name}: refused ({refused.code}): {refused.message}")
            continue
        except LibraryError as error:
            results.append({"ok": False, "path": str(path), "code": error.code, "message": error.message})
            lines.append(f"{path.name}: not saved ({error.code}): {error.message}")
            continue
        last = imported.entry
        verb = "imported" if imported.added else "already in the library"
        results.append(
            {"ok": True, "path": str(path), "added": imported.added, "warnings": list(imported.warnings)}
            | {"model": _entry_json(imported.entry, None)}
        )
        lines.append(f"{path.name}: {verb} as {imported.entry.sha256[:12]} ({imported.entry.name})")
        lines += [f"  warning: {warning}" for warning in imported.warnings]
    if select and last is not None:
        try:
            library.select(last.sha256)
            lines.append(f"selected {last.name}")
        except LibraryError as error:
            results.append({"ok": False, "code": error.code, "message": error.message})
            lines.append(error.message)
    ok = all(result["ok"] for result in results)
    return _print(as_json, {"ok": ok, "results": results}, "\n".join(lines))


def _change(library: ModelLibrary, action: str, reference: str, as_json: bool) -> int:
    try:
        entry = library.select(reference) if action == "select" else library.remove(reference)
    except LibraryError as error:
        return _print(as_json, {"ok": False, "code": error.code, "message": error.message}, error.message)
    done = "selected" if action == "select" else "removed"
    return _print(as_json, {"ok": True, done: _entry_json(entry, library.selected)}, f"{done} {entry.name}")
