"""Reading Godot versions and finding Godot, with injected environment, PATH, home and probe."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from godot_bridge.sidecar.discovery import Candidate, GodotFinder, Rejected
from godot_bridge.sidecar.version import GodotVersionError, check_godot_version, parse_godot_version


@pytest.mark.parametrize(
    ("output", "number", "status", "build", "commit"),
    [
        ("4.6.stable.official.89cea1439", "4.6", "stable", "official", "89cea1439"),
        ("4.3.stable.flathub.77dcf97d8\n", "4.3", "stable", "flathub", "77dcf97d8"),
        ("4.4.1.stable.mono.official.49a5bc7b6", "4.4.1", "stable", "mono.official", "49a5bc7b6"),
        ("4.5.rc2.official.6c9aa4c7d", "4.5", "rc2", "official", "6c9aa4c7d"),
        ("4.7.dev1.custom_build.1a2b3c4d5", "4.7", "dev1", "custom_build", "1a2b3c4d5"),
        ("Godot prints a warning first\n4.6.1.stable.arch_linux\n", "4.6.1", "stable", "arch_linux", ""),
    ],
)
def test_real_version_strings_are_read(output: str, number: str, status: str, build: str, commit: str) -> None:
    version = check_godot_version(output)
    assert (version.number, version.status, version.build, version.commit) == (number, status, build, commit)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("3.5.3.stable.official.6c814135b", "Godot 3 (3.5.3.stable.official.6c814135b) is too old"),
        ("4.2.2.stable.official.15073afe3", "Godot 4.2.2 (4.2.2.stable.official.15073afe3) is too old"),
        ("", "printed: (nothing)"),
        ("garbage\nmore garbage", "printed: garbage"),
        ("Segmentation fault (core dumped)", "did not print a Godot version"),
        ("v4.6", "did not print a Godot version"),
    ],
)
def test_old_or_unreadable_versions_are_refused_with_a_reason(output: str, message: str) -> None:
    with pytest.raises(GodotVersionError) as refused:
        check_godot_version(output)
    assert message in str(refused.value)
    if "too old" in message:
        assert "needs Godot 4.3 or newer" in str(refused.value)


def test_parse_alone_accepts_godot_3() -> None:
    assert parse_godot_version("3.5.3.stable.official.6c814135b").major == 3


def executable(path: Path, version: str = "4.6.stable.official.89cea1439") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def finder(tmp_path: Path, env: dict[str, str], on_path: dict[str, Path] | None = None) -> GodotFinder:
    return GodotFinder(
        env={"HOME": str(tmp_path / "home"), **env},
        platform="linux",
        which=lambda name: str((on_path or {})[name]) if name in (on_path or {}) else None,
        probe=lambda path: path.read_text().split("echo ", 1)[1] if path.suffix != ".crash" else "",
    )


def test_the_search_order_is_env_then_path_then_usual_places(tmp_path: Path) -> None:
    godot4_env = executable(tmp_path / "env" / "godot-from-env")
    on_path = executable(tmp_path / "bin" / "godot4")
    usual = executable(tmp_path / "home" / ".local" / "bin" / "godot4")
    assert finder(tmp_path, {"GODOT4": str(godot4_env)}, {"godot4": on_path}).find().found.path == godot4_env  # type: ignore[union-attr]
    assert finder(tmp_path, {}, {"godot4": on_path}).find().found.path == on_path  # type: ignore[union-attr]
    found = finder(tmp_path, {}).find().found
    assert found is not None and found.path == usual and found.source == "usual install location"


def test_bad_candidates_are_skipped_and_reported(tmp_path: Path) -> None:
    old = executable(tmp_path / "old" / "godot", "3.5.3.stable.official.6c814135b")
    folder = tmp_path / "Godot.app"
    folder.mkdir()
    not_exec = tmp_path / "plain" / "godot4"
    not_exec.parent.mkdir()
    not_exec.write_text("#!/bin/sh\n")
    good = executable(tmp_path / "good" / "godot4")
    result = finder(tmp_path, {"GODOT4": str(folder), "GODOT": str(old)}, {"godot4": not_exec, "godot": good}).find()
    assert result.found is not None and result.found.path == good
    reasons = {r.candidate.source: r.reason for r in result.rejected}
    assert "folder, not the Godot executable" in reasons["$GODOT4"] and "Godot.app/Contents/MacOS" in reasons["$GODOT4"]
    assert "Godot 3" in reasons["$GODOT"] and "too old" in reasons["$GODOT"]
    assert reasons["godot4 on PATH"] == "the file is not executable"


def test_nothing_found_says_how_to_fix_it(tmp_path: Path) -> None:
    old = executable(tmp_path / "godot", "3.5.3.stable.official.6c814135b")
    result = finder(tmp_path, {"GODOT4": str(old)}).find()
    assert result.found is None and not result.explicit_failed
    assert result.reason.startswith("Godot 4 not found. Install Godot 4.3 or newer")
    assert "GODOT4" in result.reason and "--godot PATH" in result.reason and "too old" in result.reason


def test_a_bad_explicit_path_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    good = executable(tmp_path / "bin" / "godot4")
    result = finder(tmp_path, {}, {"godot4": good}).find(explicit=tmp_path / "missing" / "godot")
    assert result.found is None and result.explicit_failed
    assert "cannot be used: no such file" in result.reason


def test_usual_locations_per_platform(tmp_path: Path) -> None:
    home = tmp_path
    mac = GodotFinder(env={"HOME": str(home)}, platform="darwin").usual_locations()
    assert Path("/Applications/Godot.app/Contents/MacOS/Godot") in mac
    windows = GodotFinder(env={"USERPROFILE": str(home), "LOCALAPPDATA": "C:/L"}, platform="win32").usual_locations()
    assert Path("C:/L/Programs/Godot/Godot.exe") in windows
    linux = GodotFinder(env={"HOME": str(home)}, platform="linux").usual_locations()
    assert Path("/var/lib/flatpak/exports/bin/org.godotengine.Godot") in linux


def test_a_real_probe_of_a_crashing_binary_is_reported(tmp_path: Path) -> None:
    crashing = tmp_path / "godot4"
    crashing.write_text("#!/bin/sh\necho 'Segmentation fault' >&2\nexit 139\n")
    crashing.chmod(0o755)
    verdict = GodotFinder(env={"HOME": str(tmp_path)}, platform="linux").check(Candidate(crashing, "test"))
    assert isinstance(verdict, Rejected) and "Segmentation fault" in verdict.reason
