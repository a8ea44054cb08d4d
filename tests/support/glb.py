"""Reading a GLB back in tests: the JSON document, the binary chunk and accessor data as numpy arrays."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import numpy.typing as npt

_COMPONENTS = {5126: "<f4", 5125: "<u4", 5123: "<u2", 5121: "u1"}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}


def parse_glb(data: bytes) -> tuple[dict[str, Any], bytes]:
    magic, version, length = struct.unpack_from("<4sII", data)
    assert (magic, version, length) == (b"glTF", 2, len(data))
    json_length, json_type = struct.unpack_from("<II", data, 12)
    assert json_type == 0x4E4F534A and json_length % 4 == 0
    document = json.loads(data[20 : 20 + json_length])
    offset = 20 + json_length
    bin_length, bin_type = struct.unpack_from("<II", data, offset)
    assert bin_type == 0x004E4942 and bin_length % 4 == 0 and offset + 8 + bin_length == len(data)
    return document, data[offset + 8 :]


def accessor_array(document: dict[str, Any], blob: bytes, index: int) -> npt.NDArray[Any]:
    accessor = document["accessors"][index]
    view = document["bufferViews"][accessor["bufferView"]]
    width = _WIDTH[accessor["type"]]
    values = np.frombuffer(
        blob, _COMPONENTS[accessor["componentType"]], accessor["count"] * width, view.get("byteOffset", 0)
    )
    return values.reshape(accessor["count"], width) if width > 1 else values
