"""Is this file a VRM? A strict look at the GLB container and the VRM extension, without reading the mesh data.

This is the gate in front of the stage: Godot imports some invalid glTF files silently, so nothing reaches it that
has not passed here. The model-library work extends it with every refusal reason and the model's metadata.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

GLB_MAGIC = b"glTF"
CHUNK_JSON = 0x4E4F534A
MAX_JSON_BYTES = 64 << 20

VrmVersion = Literal["0.x", "1.0"]


class NotVrmError(Exception):
    """The file is not a VRM this app can use; ``code`` is stable, the message is for a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class VrmSummary:
    version: VrmVersion
    size: int
    title: str | None


def check_vrm(path: Path) -> VrmSummary:
    try:
        size = path.stat().st_size
        with path.open("rb") as stream:
            document = _read_json_chunk(stream, size)
    except NotVrmError:
        raise
    except OSError as error:
        raise NotVrmError("unreadable", f"The file could not be read: {error.strerror or error}.") from None
    extensions = document.get("extensions") if isinstance(document.get("extensions"), dict) else {}
    assert isinstance(extensions, dict)
    if isinstance(extensions.get("VRMC_vrm"), dict):
        vrm = extensions["VRMC_vrm"]
        spec = str(vrm.get("specVersion", ""))
        if not spec.startswith("1."):
            raise NotVrmError("unsupported_vrm_version", f"VRMC_vrm specVersion {spec!r} is not VRM 1.x.")
        meta = vrm.get("meta") if isinstance(vrm.get("meta"), dict) else {}
        return VrmSummary("1.0", size, _text(meta, "name"))
    if isinstance(extensions.get("VRM"), dict):
        meta = extensions["VRM"].get("meta") if isinstance(extensions["VRM"].get("meta"), dict) else {}
        return VrmSummary("0.x", size, _text(meta, "title"))
    raise NotVrmError("not_vrm", "This is a glTF binary model without a VRM extension (VRM or VRMC_vrm).")


def _text(meta: Any, key: str) -> str | None:
    value = meta.get(key) if isinstance(meta, dict) else None
    return value if isinstance(value, str) and value else None


def _read_json_chunk(stream: BinaryIO, size: int) -> dict[str, Any]:
    if size == 0:
        raise NotVrmError("empty", "The file is empty.")
    header = stream.read(20)
    if len(header) < 12 or header[:4] != GLB_MAGIC:
        raise NotVrmError("not_glb", "This is not a VRM file: VRM files are glTF binaries starting with 'glTF'.")
    version, declared = struct.unpack_from("<II", header, 4)
    if version != 2:
        raise NotVrmError("unsupported_glb_version", f"glTF binary version {version} is not supported (only 2).")
    if declared != size:
        raise NotVrmError("truncated", f"The file says it is {declared} bytes long but it has {size}.")
    if len(header) < 20:
        raise NotVrmError("truncated", "The file ends before its first chunk.")
    chunk_length, chunk_type = struct.unpack_from("<II", header, 12)
    if chunk_type != CHUNK_JSON:
        raise NotVrmError("bad_chunk", "The first chunk of a glTF binary must be its JSON.")
    if chunk_length > MAX_JSON_BYTES or 20 + chunk_length > size:
        raise NotVrmError("bad_chunk", "The JSON chunk's length does not fit in the file.")
    try:
        document = json.loads(stream.read(chunk_length))
    except (ValueError, RecursionError):
        raise NotVrmError("bad_json", "The model's JSON chunk is not valid JSON.") from None
    if not isinstance(document, dict):
        raise NotVrmError("bad_json", "The model's JSON chunk is not a JSON object.")
    return document
