"""What a file that is not a glTF binary is, so a refusal can name it ("a Live2D model", "a PMX model").

Only the first few KiB are looked at, except for zip archives, whose member names are listed (the central directory
only, nothing is extracted). Users mostly meet: Live2D zips, MMD (PMX/PMD), FBX, OBJ, loose .gltf text, a zip that
wraps the .vrm they wanted, a Git LFS pointer or a saved web page instead of the real download.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

SNIFF_BYTES = 4096
_MAX_ZIP_NAMES = 10_000


@dataclass(frozen=True)
class DetectedFormat:
    name: str
    """A stable short name (``live2d``, ``pmx``, ``fbx``...), for ``--json`` and tests."""
    description: str
    """For a person: "a Live2D Cubism model (zip with model3.json)"."""
    advice: str = ""


def detect_format(head: bytes, path: Path | None = None) -> DetectedFormat | None:
    """The format of a file that does not start with ``glTF``, from its first bytes; None when unknown."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_format(path)
    if head.startswith(b"PMX "):
        return DetectedFormat("pmx", "an MMD model (PMX)", "Convert it to VRM first, for example with Blender.")
    if head.startswith(b"Pmd"):
        return DetectedFormat("pmd", "an MMD model (PMD)", "Convert it to VRM first, for example with Blender.")
    if head.startswith(b"Kaydara FBX Binary"):
        return DetectedFormat("fbx", "an FBX model", "Export it as VRM, for example with UniVRM or Blender.")
    text = _as_text(head)
    if text is None:
        return _image_format(head)
    stripped = text.lstrip()
    if stripped.startswith("; FBX"):
        return DetectedFormat("fbx", "an FBX model (text)", "Export it as VRM, for example with UniVRM or Blender.")
    if stripped.startswith("version https://git-lfs.github.com/spec/"):
        return DetectedFormat(
            "git-lfs-pointer", "a Git LFS pointer, not the model itself", "Download the real file (git lfs pull)."
        )
    if stripped[:15].lower().startswith(("<!doctype html", "<html")):
        return DetectedFormat(
            "html", "a web page, not a model", "The download saved a page instead of the file: download it again."
        )
    if stripped.startswith("{"):
        if '"FileReferences"' in text and '"Moc"' in text:
            return DetectedFormat(
                "live2d", "a Live2D Cubism model description (model3.json)", "Live2D models are 2D; use a VRM avatar."
            )
        if '"asset"' in text:
            return DetectedFormat(
                "gltf-json", "a glTF text file (.gltf), not a binary VRM", "Export the model as VRM (a .vrm file)."
            )
        return DetectedFormat("json", "a JSON text file, not a model")
    if _looks_like_obj(text):
        return DetectedFormat("obj", "a Wavefront OBJ model", "OBJ has no skeleton or expressions; use a VRM avatar.")
    return None


def _as_text(head: bytes) -> str | None:
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        # The sniffed block may end inside a multi-byte character.
        if error.start < len(head) - 3:
            return None
        text = head[: error.start].decode("utf-8-sig")
    return None if any(ord(c) < 9 for c in text) else text


def _looks_like_obj(text: str) -> bool:
    keywords = ("v ", "vt ", "vn ", "f ", "o ", "g ", "mtllib ", "usemtl ", "s ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return (
        bool(lines)
        and all(line.startswith(keywords) for line in lines[:-1])
        and any(line.startswith(("v ", "mtllib ")) for line in lines)
    )


def _image_format(head: bytes) -> DetectedFormat | None:
    for magic, name in ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF")):
        if head.startswith(magic):
            return DetectedFormat(name.lower(), f"a {name} image, not a model")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return DetectedFormat("webp", "a WebP image, not a model")
    return None


def _zip_format(path: Path | None) -> DetectedFormat:
    names: list[str] = []
    if path is not None:
        try:
            with zipfile.ZipFile(path) as archive:
                names = [info.filename for info in archive.infolist()[:_MAX_ZIP_NAMES]]
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
            return DetectedFormat("zip", "a damaged zip archive, not a model")
    lower = [name.lower() for name in names]
    if any(name.endswith((".moc3", ".model3.json", ".moc", ".model.json")) for name in lower):
        return DetectedFormat("live2d", "a Live2D model (zip)", "Live2D models are 2D; use a VRM avatar.")
    inner_vrm = [name for name in names if name.lower().endswith(".vrm")]
    if inner_vrm:
        shown = ", ".join(Path(name).name for name in inner_vrm[:3])
        return DetectedFormat("zip-with-vrm", f"a zip archive holding {shown}", "Unzip it and import the .vrm inside.")
    if any(name.endswith((".pmx", ".pmd")) for name in lower):
        return DetectedFormat("mmd-zip", "a zip archive with an MMD model", "Convert the model to VRM first.")
    return DetectedFormat("zip", "a zip archive, not a model", "If it holds a .vrm, unzip it and import that file.")
