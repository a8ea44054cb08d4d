"""Reading ``godot --version`` and deciding whether that Godot can run the stage (4.3 or newer)."""

from __future__ import annotations

import re
from dataclasses import dataclass

MINIMUM = (4, 3)
_VERSION = re.compile(
    r"^(?P<major>\d+)\.(?P<minor>\d+)(?:\.(?P<patch>\d+))?"
    r"\.(?P<status>stable|(?:dev|alpha|beta|rc)\d*)"
    r"(?:\.(?P<build>[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*?))?"
    r"(?:\.(?P<commit>[0-9a-f]{7,40}))?$"
)


class GodotVersionError(ValueError):
    """The output is not a Godot version this stage can use; the message says why, for a person."""


@dataclass(frozen=True)
class GodotVersion:
    major: int
    minor: int
    patch: int
    status: str
    build: str
    commit: str
    raw: str

    @property
    def number(self) -> str:
        return f"{self.major}.{self.minor}" + (f".{self.patch}" if self.patch else "")

    def __str__(self) -> str:
        return self.raw


def parse_godot_version(output: str) -> GodotVersion:
    """The first line of ``output`` that is a Godot version string; raises :class:`GodotVersionError` otherwise."""
    for line in output.splitlines():
        match = _VERSION.match(line.strip())
        if match:
            return GodotVersion(
                major=int(match["major"]),
                minor=int(match["minor"]),
                patch=int(match["patch"] or 0),
                status=match["status"],
                build=match["build"] or "",
                commit=match["commit"] or "",
                raw=line.strip(),
            )
    shown = output.strip()[:200] or "(nothing)"
    raise GodotVersionError(f"'--version' did not print a Godot version; it printed: {shown}")


def check_godot_version(output: str) -> GodotVersion:
    version = parse_godot_version(output)
    if (version.major, version.minor) < MINIMUM:
        generation = "Godot 3" if version.major == 3 else f"Godot {version.number}"
        raise GodotVersionError(
            f"{generation} ({version.raw}) is too old: the stage needs Godot {MINIMUM[0]}.{MINIMUM[1]} or newer"
        )
    return version
