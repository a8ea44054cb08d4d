"""The Khronos glTF validator (npm ``gltf-validator``, pinned), run through node on a file, for tests.

``scripts/setup.sh --test`` installs it with ``python -m tests.support.gltf_validator --install`` into a cache folder
outside the source tree (``$XDG_CACHE_HOME`` or ``~/.cache``, ``stage-tamagotchi/gltf-validator-VERSION``);
``validate`` runs ``validate_gltf.cjs`` (ours), which calls the validator's ``validateBytes`` and prints its report.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

VERSION = "2.0.0-dev.3.10"
SCRIPT = Path(__file__).with_name("validate_gltf.cjs")
TIMEOUT_S = 120


class ValidatorMissing(RuntimeError):
    """node or the validator package is not there; the message says how to get it."""


def validator_dir(env: Mapping[str, str] = os.environ) -> Path:
    cache = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return cache / "stage-tamagotchi" / f"gltf-validator-{VERSION}"


def _package_json(prefix: Path) -> Path:
    return prefix / "node_modules" / "gltf-validator" / "package.json"


def installed_version(prefix: Path) -> str | None:
    try:
        version = json.loads(_package_json(prefix).read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError):
        return None
    return version if isinstance(version, str) else None


def install(prefix: Path | None = None) -> Path:
    """Install the pinned validator unless it is already there (no install scripts run)."""
    prefix = prefix or validator_dir()
    if installed_version(prefix) == VERSION:
        return prefix
    npm = shutil.which("npm")
    if npm is None:
        raise ValidatorMissing("npm is not installed (apt-get install npm)")
    command = [npm, "install", "--prefix", str(prefix), f"gltf-validator@{VERSION}", "--ignore-scripts"]
    completed = subprocess.run(
        [*command, "--no-audit", "--no-fund", "--silent"], capture_output=True, text=True, timeout=600, check=False
    )
    if completed.returncode != 0 or installed_version(prefix) != VERSION:
        raise ValidatorMissing(f"npm install gltf-validator@{VERSION} failed: {completed.stderr.strip()[-500:]}")
    return prefix


def validate(path: Path, prefix: Path | None = None) -> dict[str, Any]:
    """The validator's report on ``path`` (``issues.numErrors``, ``issues.messages``, ...)."""
    prefix = prefix or validator_dir()
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        raise ValidatorMissing("node is not installed (apt-get install nodejs), so the glTF validator cannot run")
    if installed_version(prefix) != VERSION:
        raise ValidatorMissing(f"gltf-validator {VERSION} is not installed in {prefix}: run make setup-test")
    completed = subprocess.run(
        [node, str(SCRIPT), str(prefix), str(path)], capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the glTF validator failed on {path}: {completed.stderr.strip()}")
    report: dict[str, Any] = json.loads(completed.stdout)
    return report


if __name__ == "__main__":
    if sys.argv[1:] != ["--install"]:
        sys.exit("usage: python -m tests.support.gltf_validator --install")
    try:
        print(install())
    except (ValidatorMissing, OSError, subprocess.SubprocessError) as error:
        sys.exit(f"the glTF validator could not be installed: {error}")
