"""Finding a Godot 4 executable, and saying exactly why each place that was looked at did not qualify.

Order: an explicit path (the setting or ``--godot``); the environment variables ``GODOT4`` then ``GODOT``;
``godot4`` then ``godot`` on ``PATH``; then the usual install locations:

- Linux: ``/usr/bin/godot4``, ``/usr/local/bin/godot4``, ``~/.local/bin/godot4``, ``~/.local/bin/godot``, the
  Flatpak exports ``/var/lib/flatpak/exports/bin/org.godotengine.Godot`` and
  ``~/.local/share/flatpak/exports/bin/org.godotengine.Godot``, Snap's ``/snap/bin/godot-4``.
- macOS: ``/Applications/Godot.app/Contents/MacOS/Godot``, ``~/Applications/Godot.app/Contents/MacOS/Godot``,
  Homebrew's ``/opt/homebrew/bin/godot`` and ``/usr/local/bin/godot``.
- Windows: ``%LOCALAPPDATA%\\Programs\\Godot\\Godot.exe``, ``%ProgramFiles%\\Godot\\Godot.exe``, Scoop's
  ``~\\scoop\\apps\\godot\\current\\godot.exe``, WinGet's ``%LOCALAPPDATA%\\Microsoft\\WinGet\\Links\\godot.exe``.

An explicit path that does not work is an error, not a reason to pick another Godot silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from godot_bridge.sidecar.version import GodotVersion, GodotVersionError, check_godot_version

VersionProbe = Callable[[Path], str]
"""Runs ``<godot> --version`` and returns what it printed; raises OSError or TimeoutError."""


def probe_version(executable: Path, timeout_s: float = 15.0) -> str:
    try:
        completed = subprocess.run(
            [str(executable), "--version"], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"'{executable} --version' did not finish within {timeout_s:g} s") from None
    return completed.stdout + completed.stderr


@dataclass(frozen=True)
class Candidate:
    path: Path
    source: str


@dataclass(frozen=True)
class Rejected:
    candidate: Candidate
    reason: str


@dataclass(frozen=True)
class GodotFound:
    path: Path
    version: GodotVersion
    source: str


@dataclass(frozen=True)
class Discovery:
    found: GodotFound | None
    rejected: list[Rejected] = field(default_factory=list)
    explicit_failed: bool = False

    @property
    def reason(self) -> str:
        """Why no Godot is used, in one paragraph for a person (empty when one was found)."""
        if self.found is not None:
            return ""
        if self.explicit_failed:
            only = self.rejected[0]
            return f"The Godot set explicitly ({only.candidate.path}) cannot be used: {only.reason}."
        tried = "; ".join(f"{r.candidate.path} ({r.candidate.source}): {r.reason}" for r in self.rejected)
        return (
            "Godot 4 not found. Install Godot 4.3 or newer (https://godotengine.org/download), then put it on PATH "
            "as godot4, set the GODOT4 environment variable, or choose it with --godot PATH."
            + (f" Looked at: {tried}." if tried else "")
        )


class GodotFinder:
    def __init__(
        self,
        env: Mapping[str, str] = os.environ,
        platform: str = sys.platform,
        home: Path | None = None,
        which: Callable[[str], str | None] = shutil.which,
        probe: VersionProbe = probe_version,
    ) -> None:
        self.env = env
        self.platform = platform
        self.home = home or Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
        self.which = which
        self.probe = probe

    def usual_locations(self) -> list[Path]:
        home = self.home
        if self.platform.startswith("win"):
            local = Path(self.env.get("LOCALAPPDATA") or home / "AppData" / "Local")
            programs = Path(self.env.get("ProgramFiles") or "C:/Program Files")
            return [
                local / "Programs" / "Godot" / "Godot.exe",
                programs / "Godot" / "Godot.exe",
                home / "scoop" / "apps" / "godot" / "current" / "godot.exe",
                local / "Microsoft" / "WinGet" / "Links" / "godot.exe",
            ]
        if self.platform == "darwin":
            return [
                Path("/Applications/Godot.app/Contents/MacOS/Godot"),
                home / "Applications" / "Godot.app" / "Contents" / "MacOS" / "Godot",
                Path("/opt/homebrew/bin/godot"),
                Path("/usr/local/bin/godot"),
            ]
        return [
            Path("/usr/bin/godot4"),
            Path("/usr/local/bin/godot4"),
            home / ".local" / "bin" / "godot4",
            home / ".local" / "bin" / "godot",
            Path("/var/lib/flatpak/exports/bin/org.godotengine.Godot"),
            home / ".local" / "share" / "flatpak" / "exports" / "bin" / "org.godotengine.Godot",
            Path("/snap/bin/godot-4"),
        ]

    def candidates(self) -> list[Candidate]:
        found: list[Candidate] = []
        for variable in ("GODOT4", "GODOT"):
            if self.env.get(variable, "").strip():
                found.append(Candidate(Path(self.env[variable].strip()).expanduser(), f"${variable}"))
        for command in ("godot4", "godot"):
            located = self.which(command)
            if located:
                found.append(Candidate(Path(located), f"{command} on PATH"))
        found += [Candidate(path, "usual install location") for path in self.usual_locations()]
        unique: dict[Path, Candidate] = {}
        for candidate in found:
            unique.setdefault(candidate.path, candidate)
        return list(unique.values())

    def check(self, candidate: Candidate) -> GodotFound | Rejected:
        path = candidate.path
        if not path.exists():
            return Rejected(candidate, "no such file")
        if path.is_dir():
            hint = " (on macOS: Godot.app/Contents/MacOS/Godot)" if path.suffix == ".app" else ""
            return Rejected(candidate, f"this is a folder, not the Godot executable{hint}")
        if not os.access(path, os.X_OK):
            return Rejected(candidate, "the file is not executable")
        try:
            output = self.probe(path)
        except (OSError, TimeoutError) as error:
            return Rejected(candidate, f"running it failed: {error}")
        try:
            version = check_godot_version(output)
        except GodotVersionError as error:
            return Rejected(candidate, str(error))
        return GodotFound(path, version, candidate.source)

    def find(self, explicit: str | Path | None = None) -> Discovery:
        if explicit:
            verdict = self.check(Candidate(Path(explicit).expanduser(), "explicit setting"))
            if isinstance(verdict, GodotFound):
                return Discovery(verdict)
            return Discovery(None, [verdict], explicit_failed=True)
        rejected: list[Rejected] = []
        for candidate in self.candidates():
            verdict = self.check(candidate)
            if isinstance(verdict, GodotFound):
                return Discovery(verdict, rejected)
            if candidate.source != "usual install location" or verdict.reason != "no such file":
                rejected.append(verdict)  # absent usual locations are noise, not news
        return Discovery(None, rejected)
