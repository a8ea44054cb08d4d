"""Where the app keeps its data. Tests, scripts and benchmarks pass ``--user-data`` (or set the environment variable)
so that they never touch the user's real profile."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

USER_DATA_ENV = "STAGE_TAMAGOTCHI_USER_DATA"
APP_DIR_NAME = "stage-tamagotchi"


def default_user_data_dir(env: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Path:
    home = Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
    if platform.startswith("win"):
        return Path(env.get("APPDATA") or home / "AppData" / "Roaming") / "Stage Tamagotchi"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "Stage Tamagotchi"
    return Path(env.get("XDG_DATA_HOME") or home / ".local" / "share") / APP_DIR_NAME


def resolve_user_data_dir(explicit: str | Path | None, env: Mapping[str, str] = os.environ) -> Path:
    """``--user-data`` wins, then ``STAGE_TAMAGOTCHI_USER_DATA``, then the platform's usual place."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    if env.get(USER_DATA_ENV):
        return Path(env[USER_DATA_ENV]).expanduser().resolve()
    return default_user_data_dir(env)


def stage_project_dir() -> Path:
    """The Godot stage project shipped beside the Python packages (``engines/stage-godot`` in a checkout)."""
    return Path(__file__).resolve().parents[1] / "engines" / "stage-godot"
