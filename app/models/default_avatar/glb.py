"""A small glTF 2.0 binary writer: accessors, buffer views and images appended to one buffer, packed as a GLB.

The JSON is written with sorted keys and no spaces, and floats through Python's shortest round-trip repr, so the
same document always gives the same bytes.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import numpy.typing as npt

FLOAT = 5126
UNSIGNED_SHORT = 5123
UNSIGNED_INT = 5125
ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963
GLB_MAGIC = b"glTF"
CHUNK_JSON = 0x4E4F534A
CHUNK_BIN = 0x004E4942


class GltfWriter:
    def __init__(self, generator: str) -> None:
        self.document: dict[str, Any] = {
            "asset": {"version": "2.0", "generator": generator},
            "accessors": [],
            "bufferViews": [],
            "buffers": [],
        }
        self._blob = bytearray()

    def _view(self, data: bytes, target: int | None) -> int:
        self._blob += b"\0" * (-len(self._blob) % 4)
        view: dict[str, Any] = {"buffer": 0, "byteOffset": len(self._blob), "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self._blob += data
        self.document["bufferViews"].append(view)
        return len(self.document["bufferViews"]) - 1

    def vec3(self, points: npt.NDArray[np.float64]) -> int:
        """A float VEC3 vertex attribute accessor, with the min and max glTF requires for positions."""
        values = np.ascontiguousarray(points, dtype="<f4")
        accessor = {
            "bufferView": self._view(values.tobytes(), ARRAY_BUFFER),
            "componentType": FLOAT,
            "count": len(values),
            "type": "VEC3",
            "min": [float(v) for v in values.min(axis=0)],
            "max": [float(v) for v in values.max(axis=0)],
        }
        self.document["accessors"].append(accessor)
        return len(self.document["accessors"]) - 1

    def indices(self, triangles: npt.NDArray[np.uint32]) -> int:
        flat = triangles.reshape(-1)
        small = int(flat.max()) < 0xFFFF
        values = flat.astype("<u2" if small else "<u4")
        accessor = {
            "bufferView": self._view(values.tobytes(), ELEMENT_ARRAY_BUFFER),
            "componentType": UNSIGNED_SHORT if small else UNSIGNED_INT,
            "count": len(values),
            "type": "SCALAR",
        }
        self.document["accessors"].append(accessor)
        return len(self.document["accessors"]) - 1

    def image(self, png: bytes, name: str) -> int:
        images = self.document.setdefault("images", [])
        images.append({"name": name, "bufferView": self._view(png, None), "mimeType": "image/png"})
        return len(images) - 1

    def glb(self) -> bytes:
        blob = bytes(self._blob) + b"\0" * (-len(self._blob) % 4)
        self.document["buffers"] = [{"byteLength": len(blob)}]
        text = json.dumps(self.document, separators=(",", ":"), sort_keys=True, ensure_ascii=True).encode()
        text += b" " * (-len(text) % 4)
        body = struct.pack("<II", len(text), CHUNK_JSON) + text + struct.pack("<II", len(blob), CHUNK_BIN) + blob
        return GLB_MAGIC + struct.pack("<II", 2, 12 + len(body)) + body
