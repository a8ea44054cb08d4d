"""The content-addressed model files (copy while hashing, atomic commit) and where the user data lives."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from app.models import store as store_module
from app.models.store import ModelFiles, write_file_atomically
from app.paths import USER_DATA_ENV, default_user_data_dir, resolve_user_data_dir
from tests.vrm_factory import build_vrm


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("size", [0, 1, store_module.COPY_CHUNK_BYTES - 1, 5 * store_module.COPY_CHUNK_BYTES + 7])
def test_staged_copies_hash_and_copy_every_byte(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    files = ModelFiles(tmp_path / "models")
    staged = files.stage_copy(write(tmp_path, "src.bin", data))
    assert staged.sha256 == hashlib.sha256(data).hexdigest() and staged.size == size
    assert staged.temporary.parent == files.root and staged.temporary.name.startswith(".incoming-")
    final, created = files.commit(staged)
    assert created and final.read_bytes() == data and not staged.temporary.exists()


def test_commit_is_content_addressed_and_keeps_one_copy(tmp_path: Path) -> None:
    data = build_vrm("1.0")
    files = ModelFiles(tmp_path / "models")
    first, created = files.commit(files.stage_copy(write(tmp_path, "Ada.vrm", data)))
    again, created_again = files.commit(files.stage_copy(write(tmp_path, "copy.vrm", data)))
    assert created and not created_again and first == again
    assert first == files.root / f"{hashlib.sha256(data).hexdigest()}.vrm"
    assert sorted(p.name for p in files.root.iterdir()) == [first.name]


@pytest.mark.parametrize("name", ["../secret", "A" * 64, "a" * 63, "", "a" * 64 + "/.."])
def test_only_well_formed_hashes_resolve(tmp_path: Path, name: str) -> None:
    files = ModelFiles(tmp_path)
    (tmp_path / "secret").write_text("x")
    assert files.path_for(name) is None


def test_a_failed_copy_leaves_no_partial_file(tmp_path: Path) -> None:
    files = ModelFiles(tmp_path / "models")
    kept, _ = files.commit(files.stage_copy(write(tmp_path, "a.vrm", build_vrm("0.x"))))
    with pytest.raises(OSError):
        files.stage_copy(tmp_path / "does-not-exist.vrm")
    with pytest.raises(OSError):
        files.stage_copy(tmp_path)  # a folder: reading fails after the temporary file exists
    assert sorted(p.name for p in files.root.iterdir()) == [kept.name]


def test_orphaned_temporary_files_are_cleaned(tmp_path: Path) -> None:
    files = ModelFiles(tmp_path)
    (tmp_path / ".incoming-x1.part").write_bytes(b"half")
    (tmp_path / "keep.txt").write_bytes(b"not ours")
    assert [p.name for p in files.clean_orphans()] == [".incoming-x1.part"]
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_atomic_replace_keeps_the_old_file_when_writing_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = write(tmp_path, "index.json", b"old")

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError):
        write_file_atomically(target, b"new")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["index.json"]


def test_user_data_resolution_order(tmp_path: Path) -> None:
    env = {USER_DATA_ENV: str(tmp_path / "from-env"), "HOME": str(tmp_path)}
    assert resolve_user_data_dir(tmp_path / "explicit", env) == tmp_path / "explicit"
    assert resolve_user_data_dir(None, env) == tmp_path / "from-env"
    assert resolve_user_data_dir(None, {"HOME": str(tmp_path)}) == tmp_path / ".local/share/stage-tamagotchi"
    assert default_user_data_dir({"HOME": "/h", "XDG_DATA_HOME": "/x"}, "linux") == Path("/x/stage-tamagotchi")
    assert default_user_data_dir({"HOME": "/h"}, "darwin") == Path("/h/Library/Application Support/Stage Tamagotchi")
    assert default_user_data_dir({"HOME": "/h", "APPDATA": "C:/R"}, "win32") == Path("C:/R/Stage Tamagotchi")
