"""The model library on a real folder: imports, selection, removal, the repairs done at start, and failures (a full
disk, a read-only folder) that must leave everything as it was."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.models.library import INDEX_NAME, LibraryError, ModelLibrary
from app.models.refusals import ModelRefused, RefusalCode
from tests.vrm_factory import build_vrm


def vrm(tmp_path: Path, name: str, title: str = "Ada", version: str = "1.0") -> Path:
    path = tmp_path / name
    path.write_bytes(build_vrm("1.0" if version == "1.0" else "0.x", title=title))
    return path


def opened(folder: Path, **kwargs: object) -> ModelLibrary:
    library = ModelLibrary(folder, **kwargs)  # type: ignore[arg-type]
    library.open()
    return library


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (but the lock) with its bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != "library.lock"
    }


def test_import_select_remove(tmp_path: Path) -> None:
    library = opened(tmp_path / "data")
    first = library.import_file(vrm(tmp_path, "ada.vrm", "Ada"))
    assert first.added and first.entry.name == "Ada" and first.entry.file_name == "ada.vrm"
    assert first.entry.path == tmp_path / "data" / "models" / f"{first.entry.sha256}.vrm"
    assert hashlib.sha256(first.entry.path.read_bytes()).hexdigest() == first.entry.sha256
    again = library.import_file(vrm(tmp_path, "copy-of-ada.vrm", "Ada"))
    assert not again.added and again.entry.sha256 == first.entry.sha256
    assert len(library.entries()) == 1 and len(list((tmp_path / "data" / "models").iterdir())) == 1

    second = library.import_file(vrm(tmp_path, "bea.vrm", "Bea", version="0.x")).entry
    assert second.vrm_version == "0.x" and "CC0" in second.license_summary
    library.select(first.entry.sha256[:8])
    assert library.selected is not None and library.selected.name == "Ada"
    with pytest.raises(LibraryError) as in_use:
        library.remove(first.entry.model_id)
    assert in_use.value.code == "in_use" and "select another" in in_use.value.message
    library.remove(second.sha256)
    assert [e.name for e in library.entries()] == ["Ada"] and not second.path.exists()
    assert library.path_for(second.sha256) is None and library.path_for(first.entry.sha256) == first.entry.path

    reopened = opened(tmp_path / "data")
    assert [e.name for e in reopened.entries()] == ["Ada"] and reopened.selected is not None
    assert reopened.warnings == []


def test_find_needs_a_unique_known_id(tmp_path: Path) -> None:
    library = opened(tmp_path)
    with pytest.raises(LibraryError) as missing:
        library.find("abcdef")
    assert missing.value.code == "not_found"
    library.import_file(vrm(tmp_path, "a.vrm", "A"))
    with pytest.raises(LibraryError):
        library.find("a")  # too short to be a deliberate id


def test_a_refused_file_changes_nothing(tmp_path: Path) -> None:
    library = opened(tmp_path / "data")
    library.import_file(vrm(tmp_path, "ada.vrm"))
    before = snapshot(tmp_path / "data")
    bogus = tmp_path / "bogus.vrm"
    bogus.write_bytes(b"PMX " + b"\0" * 100)
    with pytest.raises(ModelRefused) as refused:
        library.import_file(bogus)
    assert refused.value.code is RefusalCode.WRONG_FORMAT
    assert snapshot(tmp_path / "data") == before


def test_the_stored_copy_is_checked_not_only_the_original(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the file changes between the check and the copy, the bytes stored are checked again."""
    library = opened(tmp_path / "data")
    source = vrm(tmp_path, "ada.vrm")
    real_stage_copy = library.files.stage_copy

    def swap_then_copy(path: Path):  # type: ignore[no-untyped-def]
        path.write_bytes(b"PMX " + b"\0" * 100)
        return real_stage_copy(path)

    monkeypatch.setattr(library.files, "stage_copy", swap_then_copy)
    with pytest.raises(ModelRefused):
        library.import_file(source)
    assert library.entries() == [] and list((tmp_path / "data" / "models").iterdir()) == []


def test_a_new_library_starts_with_the_builtin_avatar_selected(tmp_path: Path) -> None:
    def builtin() -> tuple[str, bytes]:
        return "Tama (built-in).vrm", build_vrm("1.0", title="Tama")

    library = opened(tmp_path, builtin_avatar=builtin)
    assert library.selected is not None and library.selected.name == "Tama" and library.selected.builtin
    other = library.import_file(vrm(tmp_path, "ada.vrm")).entry
    library.select(other.sha256)
    library.remove("sha256:" + hashlib.sha256(build_vrm("1.0", title="Tama")).hexdigest())
    # Removed on purpose: not added back on the next start.
    assert [e.name for e in opened(tmp_path, builtin_avatar=builtin).entries()] == ["Ada"]


def test_start_settles_what_a_crash_left(tmp_path: Path) -> None:
    library = opened(tmp_path)
    kept = library.import_file(vrm(tmp_path, "kept.vrm", "Kept")).entry
    removed = library.import_file(vrm(tmp_path, "removed.vrm", "Removed")).entry
    models = tmp_path / "models"
    # An import cut off mid-copy, a removal cut off before the index changed, one cut off after.
    (models / ".incoming-abc.part").write_bytes(b"half a model")
    os.replace(kept.path, models / f".removing-{kept.sha256}.vrm")
    library.remove(removed.sha256)
    (models / f".removing-{removed.sha256}.vrm").write_bytes(removed.path.with_name("x").name.encode())
    # An import cut off after its copy, before the index update.
    orphan_bytes = build_vrm("0.x", title="Orphan")
    orphan_sha = hashlib.sha256(orphan_bytes).hexdigest()
    (models / f"{orphan_sha}.vrm").write_bytes(orphan_bytes)
    # And a file that does not match its name.
    liar = "0" * 64
    (models / f"{liar}.vrm").write_bytes(build_vrm("1.0", title="Liar"))

    repaired = opened(tmp_path)
    assert sorted(e.name for e in repaired.entries()) == ["Kept", "Orphan"]
    assert kept.path.is_file() and hashlib.sha256(kept.path.read_bytes()).hexdigest() == kept.sha256
    names = sorted(p.name for p in models.iterdir())
    assert names == sorted([f"{kept.sha256}.vrm", f"{orphan_sha}.vrm", f"{liar}.vrm.damaged"])
    assert any("does not match its hash" in w for w in repaired.warnings)
    assert repaired.find(orphan_sha).file_name == f"{orphan_sha[:12]}.vrm"


def test_a_missing_model_file_is_dropped_with_a_warning(tmp_path: Path) -> None:
    library = opened(tmp_path)
    entry = library.import_file(vrm(tmp_path, "ada.vrm")).entry
    library.select(entry.sha256)
    entry.path.unlink()
    repaired = opened(tmp_path)
    assert repaired.entries() == [] and repaired.selected is None
    assert any("missing" in w for w in repaired.warnings) and any("selected" in w for w in repaired.warnings)


@pytest.mark.parametrize("damage", [b"{not json", b'{"format": "stage-tamagotchi.library", "version": 1, "models": 3}'])
def test_a_corrupt_index_is_moved_aside_and_rebuilt(tmp_path: Path, damage: bytes) -> None:
    library = opened(tmp_path)
    entries = [library.import_file(vrm(tmp_path, f"{n}.vrm", n)).entry for n in ("Ada", "Bea")]
    (tmp_path / INDEX_NAME).write_bytes(damage)
    rebuilt = opened(tmp_path)
    assert sorted(e.sha256 for e in rebuilt.entries()) == sorted(e.sha256 for e in entries)
    [aside] = tmp_path.glob(f"{INDEX_NAME}.corrupt-*")
    assert aside.read_bytes() == damage
    assert any("moved to" in w for w in rebuilt.warnings)
    assert json.loads((tmp_path / INDEX_NAME).read_text())["version"] == 1


def test_an_index_from_a_newer_app_is_kept_aside_and_its_names_salvaged(tmp_path: Path) -> None:
    library = opened(tmp_path)
    entry = library.import_file(vrm(tmp_path, "my-avatar.vrm", "Ada")).entry
    library.select(entry.sha256)
    future = json.loads((tmp_path / INDEX_NAME).read_text())
    future["version"] = 7
    future["newField"] = {"something": True}
    (tmp_path / INDEX_NAME).write_text(json.dumps(future))
    rebuilt = opened(tmp_path)
    [again] = rebuilt.entries()
    assert again.file_name == "my-avatar.vrm" and again.imported_at == entry.imported_at
    assert rebuilt.selected is not None and rebuilt.selected.sha256 == entry.sha256
    [aside] = tmp_path.glob(f"{INDEX_NAME}.v7-*")
    assert json.loads(aside.read_text())["newField"] == {"something": True}


def test_a_missing_index_is_rebuilt_from_the_files(tmp_path: Path) -> None:
    library = opened(tmp_path)
    library.import_file(vrm(tmp_path, "ada.vrm"))
    (tmp_path / INDEX_NAME).unlink()
    rebuilt = opened(tmp_path)
    assert [e.name for e in rebuilt.entries()] == ["Ada"]
    assert any("missing" in w for w in rebuilt.warnings)


def test_two_library_objects_do_not_lose_each_others_changes(tmp_path: Path) -> None:
    """The app and the command line each hold a library; changes re-read the index under the lock."""
    app_side, cli_side = opened(tmp_path), opened(tmp_path)
    app_side.import_file(vrm(tmp_path, "a.vrm", "A"))
    cli_side.import_file(vrm(tmp_path, "b.vrm", "B"))
    app_side.import_file(vrm(tmp_path, "c.vrm", "C"))
    assert sorted(e.name for e in opened(tmp_path).entries()) == ["A", "B", "C"]


# Full disks and read-only folders (a real small tmpfs; needs root, as CI has) ------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)], capture_output=True, check=False
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_gives_a_clear_error_and_keeps_the_library(small_disk: Path, tmp_path: Path) -> None:
    library = opened(small_disk / "data")
    library.select(library.import_file(vrm(tmp_path, "ada.vrm")).entry.sha256)
    before = snapshot(small_disk / "data")
    huge = tmp_path / "huge.vrm"
    huge.write_bytes(build_vrm("1.0", title="Big", thumbnail=bytes(400 << 10)))  # more than the disk's 256 KiB
    with pytest.raises(LibraryError) as failed:
        library.import_file(huge)
    assert failed.value.code == "store_failed" and "No space left" in failed.value.message
    assert "unchanged" in failed.value.message
    assert snapshot(small_disk / "data") == before
    assert opened(small_disk / "data").warnings == []


def test_a_read_only_folder_can_be_read_but_not_changed(small_disk: Path, tmp_path: Path) -> None:
    library = opened(small_disk / "data")
    ada = library.import_file(vrm(tmp_path, "ada.vrm", "Ada")).entry
    library.select(ada.sha256)
    bea = library.import_file(vrm(tmp_path, "bea.vrm", "Bea")).entry
    before = snapshot(small_disk / "data")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    read_only = ModelLibrary(small_disk / "data")
    warnings = read_only.open()
    assert [e.name for e in read_only.entries()] == ["Ada", "Bea"] and any("read-only" in w for w in warnings)
    for attempt in (
        lambda: read_only.import_file(vrm(tmp_path, "cat.vrm", "Cat")),
        lambda: read_only.select(bea.sha256),
        lambda: read_only.remove(bea.sha256),
    ):
        with pytest.raises(LibraryError) as failed:
            attempt()
        assert failed.value.code == "read_only" and "unchanged" in failed.value.message
    assert snapshot(small_disk / "data") == before
