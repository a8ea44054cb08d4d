"""Small, valid VRM files built from scratch, so the suite does not depend on third-party fixtures.

Each model is a glTF 2.0 binary with a two-bone humanoid (hips, head) and one "Face" mesh: a quad with one morph
target per expression, bound the way the VRM version says (VRM 0.x ``blendShapeMaster`` with weights 0-100 and
preset names a/i/u/e/o/blink; VRM 1.0 ``expressions.preset`` with weights 0-1).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from typing import Any, Literal

VRM0_PRESETS = {"aa": "a", "ih": "i", "ou": "u", "ee": "e", "oh": "o", "blink": "blink"}
DEFAULT_EXPRESSIONS = ("aa", "ih", "ou", "ee", "oh", "blink")

_FLOAT, _ARRAY_BUFFER = 5126, 34962
_QUAD = [(-0.1, 1.4, 0.0), (0.1, 1.4, 0.0), (0.1, 1.6, 0.0), (-0.1, 1.4, 0.0), (0.1, 1.6, 0.0), (-0.1, 1.6, 0.0)]


def _vec3_accessor(doc: dict[str, Any], blob: bytearray, points: list[tuple[float, float, float]]) -> int:
    offset = len(blob)
    for point in points:
        blob += struct.pack("<3f", *point)
    doc["bufferViews"].append(
        {"buffer": 0, "byteOffset": offset, "byteLength": 12 * len(points), "target": _ARRAY_BUFFER}
    )
    doc["accessors"].append(
        {
            "bufferView": len(doc["bufferViews"]) - 1,
            "componentType": _FLOAT,
            "count": len(points),
            "type": "VEC3",
            "min": [min(p[i] for p in points) for i in range(3)],
            "max": [max(p[i] for p in points) for i in range(3)],
        }
    )
    return len(doc["accessors"]) - 1


def build_vrm(
    version: Literal["0.x", "1.0"],
    expressions: tuple[str, ...] = DEFAULT_EXPRESSIONS,
    title: str = "Test Avatar",
    thumbnail: bytes | None = None,
) -> bytes:
    doc: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "stage-tamagotchi tests"},
        "scene": 0,
        "scenes": [{"nodes": [0, 2]}],
        "nodes": [
            {"name": "Hips", "children": [1], "translation": [0.0, 1.0, 0.0]},
            {"name": "Head", "translation": [0.0, 0.5, 0.0]},
            {"name": "Face", "mesh": 0},
        ],
        "meshes": [],
        "accessors": [],
        "bufferViews": [],
        "buffers": [],
    }
    blob = bytearray()
    position = _vec3_accessor(doc, blob, _QUAD)
    targets = []
    for index, _name in enumerate(expressions):
        shift = 0.01 * (index + 1)
        targets.append({"POSITION": _vec3_accessor(doc, blob, [(0.0, -shift, shift)] * len(_QUAD))})
    doc["meshes"].append(
        {
            "name": "Face",
            "primitives": [{"attributes": {"POSITION": position}, "targets": targets, "mode": 4}],
            "weights": [0.0] * len(expressions),
            "extras": {"targetNames": [f"Face.{name}" for name in expressions]},
        }
    )
    if version == "0.x":
        doc["extensionsUsed"] = ["VRM"]
        doc["extensions"] = {
            "VRM": {
                "exporterVersion": "stage-tamagotchi-tests",
                "specVersion": "0.0",
                "meta": {"title": title, "version": "1", "author": "Stage Tamagotchi tests", "licenseName": "CC0"},
                "humanoid": {"humanBones": [{"bone": "hips", "node": 0}, {"bone": "head", "node": 1}]},
                "blendShapeMaster": {
                    "blendShapeGroups": [
                        {
                            "name": VRM0_PRESETS.get(name, name).upper(),
                            "presetName": VRM0_PRESETS.get(name, "unknown"),
                            "binds": [{"mesh": 0, "index": index, "weight": 100}],
                        }
                        for index, name in enumerate(expressions)
                    ]
                },
            }
        }
    else:
        doc["extensionsUsed"] = ["VRMC_vrm"]
        doc["extensions"] = {
            "VRMC_vrm": {
                "specVersion": "1.0",
                "meta": {
                    "name": title,
                    "version": "1",
                    "authors": ["Stage Tamagotchi tests"],
                    "licenseUrl": "https://vrm.dev/licenses/1.0/",
                },
                "humanoid": {"humanBones": {"hips": {"node": 0}, "head": {"node": 1}}},
                "expressions": {
                    "preset": {
                        name: {"morphTargetBinds": [{"node": 2, "index": index, "weight": 1.0}]}
                        for index, name in enumerate(expressions)
                    }
                },
            }
        }
    if thumbnail is not None:
        _add_thumbnail(doc, blob, thumbnail, version)
    doc["buffers"].append({"byteLength": len(blob)})
    return pack_glb(doc, bytes(blob))


def _add_thumbnail(doc: dict[str, Any], blob: bytearray, image: bytes, version: Literal["0.x", "1.0"]) -> None:
    blob += b"\0" * (-len(blob) % 4)
    doc["bufferViews"].append({"buffer": 0, "byteOffset": len(blob), "byteLength": len(image)})
    blob += image
    doc["images"] = [{"bufferView": len(doc["bufferViews"]) - 1, "mimeType": "image/png"}]
    if version == "0.x":
        doc["textures"] = [{"source": 0}]
        doc["extensions"]["VRM"]["meta"]["texture"] = 0
    else:
        doc["extensions"]["VRMC_vrm"]["meta"]["thumbnailImage"] = 0


def pack_glb(document: dict[str, Any], binary: bytes = b"") -> bytes:
    text = json.dumps(document, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), 0x4E4F534A) + text
    if binary:
        binary += b"\0" * (-len(binary) % 4)
        body += struct.pack("<II", len(binary), 0x004E4942) + binary
    return b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid PNG of one colour (for thumbnails)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def glb_document(data: bytes) -> dict[str, Any]:
    length = struct.unpack_from("<I", data, 12)[0]
    document: dict[str, Any] = json.loads(data[20 : 20 + length])
    return document


def rebuilt(version: Literal["0.x", "1.0"], change: Callable[[dict[str, Any]], None]) -> bytes:
    """A generated VRM with its JSON changed by ``change`` (the BIN chunk kept as it was)."""
    data = build_vrm(version)
    document = glb_document(data)
    json_length = struct.unpack_from("<I", data, 12)[0]
    binary = data[20 + json_length + 8 :]
    change(document)
    return pack_glb(document, binary)


def chunk_bytes(kind: bytes, data: bytes) -> bytes:
    """One GLB chunk: length, 4-byte type, data (padded by the caller)."""
    return struct.pack("<I", len(data)) + kind + data
