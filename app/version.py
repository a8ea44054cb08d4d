"""The app's version, from the installed package's metadata (a PyInstaller bundle carries a copy of it)."""

from __future__ import annotations

from importlib import metadata


def app_version() -> str:
    try:
        return metadata.version("stage-tamagotchi")
    except metadata.PackageNotFoundError:
        return "unknown"
