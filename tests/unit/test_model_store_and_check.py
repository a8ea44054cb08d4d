"""The minimal VRM gate in front of the stage, and the atomic content-addressed store."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytest

from app.models.store import ModelStore
from app.models.vrm_check import NotVrmError, check_vrm
from app.paths import USER_DATA_ENV, default_user_data_dir, resolve_user_data_dir
from tests.vrm_factory import build_vrm, pack_glb


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("version", ["0.x", "1.0"])
def test_generated_vrms_pass_with_their_version(tmp_path: Path, version: Literal["0.x", "1.0"]) -> None:
    summary = check_vrm(write(tmp_path, "a.vrm", build_vrm(version, title="Ada")))
    assert summary.version == version and summary.title == "Ada" and summary.size > 500


def test_shared_third_party_vrms_pass(vrm_fixture: Callable[[str], Path]) -> None:
    assert check_vrm(vrm_fixture("Godette_vrm_v4.vrm")).version == "0.x"
    assert check_vrm(vrm_fixture("debug_robot.vrm")).version == "1.0"
    assert check_vrm(vrm_fixture("VRMC_vrm_expressions_isBinary_Overrides.vrm")).version == "1.0"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"PK\x03\x04 a live2d zip", "not_glb"),
        (b'{"asset": {"version": "2.0"}}', "not_glb"),
        (b"glTF" + (1).to_bytes(4, "little") + (20).to_bytes(4, "little") + b"\0" * 8, "unsupported_glb_version"),
        (build_vrm("0.x")[:-7], "truncated"),
        (pack_glb({"asset": {"version": "2.0"}}), "not_vrm"),
        (pack_glb({"asset": {}, "extensions": {"VRMC_vrm": {"specVersion": "0.9"}}}), "unsupported_vrm_version"),
        (b"glTF\x02\x00\x00\x00\x18\x00\x00\x00\x04\x00\x00\x00BIN\x00abcd", "bad_chunk"),
        (b"glTF\x02\x00\x00\x00\x18\x00\x00\x00\x04\x00\x00\x00JSON{{{{", "bad_json"),
    ],
)
def test_non_vrm_files_are_refused_with_a_reason(tmp_path: Path, data: bytes, code: str) -> None:
    with pytest.raises(NotVrmError) as refused:
        check_vrm(write(tmp_path, "x.vrm", data))
    assert refused.value.code == code and refused.value.message.endswith(".")


def test_an_unreadable_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotVrmError) as refused:
        check_vrm(tmp_path / "missing.vrm")
    assert refused.value.code == "unreadable"


def test_store_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    data = build_vrm("1.0")
    store = ModelStore(tmp_path / "profile")
    first = store.put(write(tmp_path, "Ada.vrm", data))
    again = store.put(write(tmp_path, "copy.vrm", data))
    assert first.sha256 == again.sha256 == hashlib.sha256(data).hexdigest()
    assert first.path == tmp_path / "profile" / "models" / f"{first.sha256}.vrm"
    assert first.path.read_bytes() == data and first.size == len(data) and first.name == "Ada.vrm"
    assert first.model_id == f"sha256:{first.sha256}"
    assert store.path_for(first.sha256) == first.path
    assert sorted(p.name for p in store.root.iterdir()) == [f"{first.sha256}.vrm"]


@pytest.mark.parametrize("name", ["../secret", "A" * 64, "a" * 63, "", "a" * 64 + "/.."])
def test_store_only_resolves_well_formed_hashes(tmp_path: Path, name: str) -> None:
    store = ModelStore(tmp_path)
    (tmp_path / "secret").write_text("x")
    assert store.path_for(name) is None


def test_a_failed_write_leaves_no_partial_file_and_keeps_earlier_models(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    kept = store.put(write(tmp_path, "a.vrm", build_vrm("0.x")))
    with pytest.raises(OSError):
        store.put(tmp_path / "does-not-exist.vrm")
    assert sorted(p.name for p in store.root.iterdir()) == [f"{kept.sha256}.vrm"]
    assert kept.path.read_bytes() == build_vrm("0.x")


def test_user_data_resolution_order(tmp_path: Path) -> None:
    env = {USER_DATA_ENV: str(tmp_path / "from-env"), "HOME": str(tmp_path)}
    assert resolve_user_data_dir(tmp_path / "explicit", env) == tmp_path / "explicit"
    assert resolve_user_data_dir(None, env) == tmp_path / "from-env"
    assert resolve_user_data_dir(None, {"HOME": str(tmp_path)}) == tmp_path / ".local/share/stage-tamagotchi"
    assert default_user_data_dir({"HOME": "/h", "XDG_DATA_HOME": "/x"}, "linux") == Path("/x/stage-tamagotchi")
    assert default_user_data_dir({"HOME": "/h"}, "darwin") == Path("/h/Library/Application Support/Stage Tamagotchi")
    assert default_user_data_dir({"HOME": "/h", "APPDATA": "C:/R"}, "win32") == Path("C:/R/Stage Tamagotchi")
