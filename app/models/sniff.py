"""What a file that is not a glTF binary is, so a refusal can name it ("a Live2D model", "a PMX model").

Only the first few KiB are looked at, except for zip archives, whose member names are listed (the central directory
only, nothing is extracted). Users mostly meet: Live2D zips, MMD (PMX/PMD), FBX, OBJ, loose .gltf text, a zip that
wraps the .vrm they wanted, a Git LFS pointer or a saved web page instead of the real download.
"""

from __future__ import annotations

import struct
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
            "git-lfs-pointer",
            "a Git LFS pointer (a placeholder for the model)",
            "Download the real file (git lfs pull).",
        )
    if stripped[:15].lower().startswith(("<!doctype html", "<html")):
        return DetectedFormat("html", "a web page", "The download saved a page instead of the file: download it again.")
    if stripped.startswith("{"):
        if '"FileReferences"' in text and '"Moc"' in text:
            return DetectedFormat(
                "live2d", "a Live2D Cubism model description (model3.json)", "Live2D models are 2D; use a VRM avatar."
            )
        if '"asset"' in text:
            return DetectedFormat("gltf-json", "a glTF text file (.gltf)", "Export the model as VRM (a .vrm file).")
        return DetectedFormat("json", "a JSON text file")
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
            return DetectedFormat(name.lower(), f"a {name} image")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return DetectedFormat("webp", "a WebP image")
    return None


def zip_member_names(path: Path, limit: int = _MAX_ZIP_NAMES) -> list[str]:
    """The first ``limit`` member names of a zip, read from its central directory one record at a time.

    ``zipfile`` would load the whole directory (hundreds of MB for a crafted archive); only names are needed here.
    Raises ValueError for a damaged archive.
    """
    with path.open("rb") as stream:
        size = stream.seek(0, 2)
        tail_start = max(0, size - (1 << 16) - 22)
        stream.seek(tail_start)
        tail = stream.read()
        end = tail.rfind(b"PK\x05\x06")
        if end < 0 or len(tail) - end < 22:
            raise ValueError("no end-of-central-directory record")
        _disk, _start_disk, _here, total, directory_size, directory_offset = struct.unpack_from(
            "<HHHHII", tail, end + 4
        )
        if directory_offset + directory_size > size:
            raise ValueError("the central directory lies outside the file")
        stream.seek(directory_offset)
        names: list[str] = []
        for _ in range(min(total, limit)):
            record = stream.read(46)
            if len(record) < 46 or record[:4] != b"PK\x01\x02":
                raise ValueError("a damaged central directory record")
            name_length, extra_length, comment_length = struct.unpack_from("<HHH", record, 28)
            raw = stream.read(name_length)
            names.append(raw.decode("utf-8", "replace"))
            stream.seek(extra_length + comment_length, 1)
        return names


def _zip_format(path: Path | None) -> DetectedFormat:
    try:
        names = zip_member_names(path) if path is not None else []
    except (OSError, ValueError):
        return DetectedFormat("zip", "a damaged zip archive")
    lower = [name.lower() for name in names]
    if any(name.endswith((".moc3", ".model3.json", ".moc", ".model.json")) for name in lower):
        return DetectedFormat("live2d", "a Live2D model (zip)", "Live2D models are 2D; use a VRM avatar.")
    inner_vrm = [name for name in names if name.lower().endswith(".vrm")]
    if inner_vrm:
        shown = ", ".join(Path(name).name for name in inner_vrm[:3])
        return DetectedFormat("zip-with-vrm", f"a zip archive holding {shown}", "Unzip it and import the .vrm inside.")
    if any(name.endswith((".pmx", ".pmd")) for name in lower):
        return DetectedFormat("mmd-zip", "a zip archive with an MMD model", "Convert the model to VRM first.")
    return DetectedFormat("zip", "a zip archive", "If it holds a .vrm, unzip it and import that file.")
