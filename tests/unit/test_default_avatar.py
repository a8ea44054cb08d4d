"""The built-in avatar: reproducible bytes, a well-formed glTF, a complete humanoid, expressions whose morph targets
really move the mouth and close the eyes, sensible size and facing, a decodable thumbnail."""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import sys
import zlib
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pytest

from app.models.default_avatar import build_default_avatar
from app.models.default_avatar.design import PALETTE
from app.models.default_avatar.png import stored_zlib
from tests.support.glb import accessor_array, parse_glb

VERSIONS: tuple[Literal["1.0"], Literal["0.x"]] = ("1.0", "0.x")
MOUTH = ("aa", "ih", "ou", "ee", "oh")
VRM1_REQUIRED_BONES = {
    "hips", "spine", "head",
    *(f"{side}{part}" for side in ("left", "right")
      for part in ("UpperLeg", "LowerLeg", "Foot", "UpperArm", "LowerArm", "Hand")),
}  # fmt: skip
VRM1_PARENT = {
    "spine": "hips", "chest": "spine", "neck": "chest", "head": "neck",
    "leftShoulder": "chest", "leftUpperArm": "leftShoulder", "leftLowerArm": "leftUpperArm",
    "leftHand": "leftLowerArm", "leftUpperLeg": "hips", "leftLowerLeg": "leftUpperLeg", "leftFoot": "leftLowerLeg",
}  # fmt: skip
"""The humanoid parent of each bone we write (VRMC_vrm-1.0 humanoid.md; upperChest is absent, so chest stands in)."""

Points = npt.NDArray[np.float64]


@pytest.fixture(scope="module", params=VERSIONS)
def avatar(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any], bytes]:
    version: str = request.param
    document, blob = parse_glb(build_default_avatar(request.param))
    return version, document, blob


def _parents(document: dict[str, Any]) -> dict[int, int]:
    parents: dict[int, int] = {}
    for index, node in enumerate(document["nodes"]):
        for child in node.get("children", []):
            assert child not in parents, f"node {child} has two parents"
            parents[child] = index
    return parents


def _world_offset(document: dict[str, Any], node: int) -> Points:
    parents = _parents(document)
    offset = np.zeros(3)
    while True:
        assert set(document["nodes"][node]) <= {"name", "translation", "children", "mesh"}  # no rotation or scale
        offset += document["nodes"][node].get("translation", [0.0, 0.0, 0.0])
        if node not in parents:
            return offset
        node = parents[node]


def _node_named(document: dict[str, Any], name: str) -> int:
    return next(index for index, node in enumerate(document["nodes"]) if node.get("name") == name)


def _face_feature(document: dict[str, Any], blob: bytes, material: str, target: str | None = None) -> Points:
    """World positions of one face primitive (by material name), with a morph target applied at weight 1."""
    face = document["meshes"][document["nodes"][_node_named(document, "Face")]["mesh"]]
    names = face["extras"]["targetNames"]
    for primitive in face["primitives"]:
        if document["materials"][primitive["material"]]["name"].lower() == material:
            points = accessor_array(document, blob, primitive["attributes"]["POSITION"]).astype(np.float64)
            if target is not None:
                points = points + accessor_array(document, blob, primitive["targets"][names.index(target)]["POSITION"])
            result: Points = points + _world_offset(document, _node_named(document, "Face"))
            return result
    raise AssertionError(f"no face primitive with material {material}")


def _extent(points: Points) -> Points:
    extent: Points = points.max(axis=0) - points.min(axis=0)
    return extent


def test_the_bytes_are_the_same_every_time_and_in_another_process() -> None:
    for version in VERSIONS:
        assert build_default_avatar(version) == build_default_avatar(version)
    script = (
        "import hashlib, sys; from app.models.default_avatar import build_default_avatar as b; "
        "print(*(hashlib.sha256(b(v)).hexdigest() for v in ('1.0', '0.x')))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert other.stdout.split() == [hashlib.sha256(build_default_avatar(v)).hexdigest() for v in VERSIONS]
    assert build_default_avatar("1.0") != build_default_avatar("0.x")


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported VRM version"):
        build_default_avatar("2.0")  # type: ignore[arg-type]


def test_every_index_points_at_something_that_exists(avatar: tuple[str, dict[str, Any], bytes]) -> None:
    _version, document, blob = avatar
    counts = {key: len(document.get(key, [])) for key in ("nodes", "meshes", "materials", "accessors", "images")}
    assert document["asset"]["version"] == "2.0" and document["buffers"] == [{"byteLength": len(blob)}]
    for view in document["bufferViews"]:
        assert view["buffer"] == 0 and view["byteOffset"] % 4 == 0
        assert view["byteOffset"] + view["byteLength"] <= len(blob)
    for accessor in document["accessors"]:
        assert 0 <= accessor["bufferView"] < len(document["bufferViews"])
    assert all(0 <= node < counts["nodes"] for node in document["scenes"][document["scene"]]["nodes"])
    assert len(_parents(document)) == counts["nodes"] - 1  # one tree: every node but the root has one parent
    for node in document["nodes"]:
        assert all(0 <= child < counts["nodes"] for child in node.get("children", []))
        assert 0 <= node.get("mesh", 0) < counts["meshes"]
    for mesh in document["meshes"]:
        targets = {len(primitive.get("targets", [])) for primitive in mesh["primitives"]}
        assert len(targets) == 1, "every primitive of a mesh has the same number of morph targets"
        for primitive in mesh["primitives"]:
            assert 0 <= primitive["material"] < counts["materials"]
            used = [*primitive["attributes"].values(), primitive["indices"]]
            used += [target["POSITION"] for target in primitive.get("targets", [])]
            assert all(0 <= accessor < counts["accessors"] for accessor in used)
            vertices = document["accessors"][primitive["attributes"]["POSITION"]]["count"]
            assert int(accessor_array(document, blob, primitive["indices"]).max()) < vertices
    for image in document["images"]:
        assert 0 <= image["bufferView"] < len(document["bufferViews"]) and image["mimeType"] == "image/png"
    for texture in document.get("textures", []):
        assert 0 <= texture["source"] < counts["images"]


def test_positions_match_their_bounds_and_normals_are_unit_length(avatar: tuple[str, dict[str, Any], bytes]) -> None:
    _version, document, blob = avatar
    for mesh in document["meshes"]:
        for primitive in mesh["primitives"]:
            position = primitive["attributes"]["POSITION"]
            values = accessor_array(document, blob, position)
            assert values.min(axis=0).tolist() == document["accessors"][position]["min"]
            assert values.max(axis=0).tolist() == document["accessors"][position]["max"]
            normals = accessor_array(document, blob, primitive["attributes"]["NORMAL"]).astype(np.float64)
            assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-4)


def test_the_humanoid_has_every_required_bone_in_the_right_order(avatar: tuple[str, dict[str, Any], bytes]) -> None:
    version, document, _blob = avatar
    bones = _bone_nodes(version, document)
    if version == "0.x":
        assert len(bones) == len(document["extensions"]["VRM"]["humanoid"]["humanBones"])
        assert set(bones) >= {"chest", "neck"}  # required by VRM 0.x as well
    assert set(bones) >= VRM1_REQUIRED_BONES
    assert len(set(bones.values())) == len(bones), "one node per bone"
    parents = _parents(document)
    for bone, parent in VRM1_PARENT.items():
        mirrored = (bone.replace("left", "right"), parent.replace("left", "right"))
        for side_bone, side_parent in {(bone, parent), mirrored}:
            assert parents[bones[side_bone]] == bones[side_parent], side_bone
    assert parents[bones["hips"]] not in bones.values()


def test_size_feet_and_facing(avatar: tuple[str, dict[str, Any], bytes]) -> None:
    version, document, blob = avatar
    everything = []
    for index, node in enumerate(document["nodes"]):
        if "mesh" in node:
            for primitive in document["meshes"][node["mesh"]]["primitives"]:
                points = accessor_array(document, blob, primitive["attributes"]["POSITION"])
                everything.append(points + _world_offset(document, index))
    world = np.concatenate(everything)
    assert abs(world[:, 1].min()) < 1e-4, "feet on the ground"
    assert 1.4 <= world[:, 1].max() <= 1.6
    eyes = _face_feature(document, blob, "eyes")
    forward = 1.0 if version == "1.0" else -1.0  # VRM 1.0 faces +Z, VRM 0.x faces -Z
    assert forward * eyes[:, 2].mean() > 0.15
    bones = _bone_nodes(version, document)
    left_hand = _world_offset(document, bones["leftHand"])
    assert forward * left_hand[0] > 0.2, "the avatar's left hand is on its left"


def _bone_nodes(version: str, document: dict[str, Any]) -> dict[str, int]:
    if version == "1.0":
        return {name: b["node"] for name, b in document["extensions"]["VRMC_vrm"]["humanoid"]["humanBones"].items()}
    return {b["bone"]: b["node"] for b in document["extensions"]["VRM"]["humanoid"]["humanBones"]}


def test_visemes_shape_the_mouth_and_blink_closes_the_eyes(avatar: tuple[str, dict[str, Any], bytes]) -> None:
    _version, document, blob = avatar
    width, height = _extent(_face_feature(document, blob, "mouth"))[:2]
    size = {name: _extent(_face_feature(document, blob, "mouth", name)) for name in MOUTH}
    assert size["aa"][1] > 3 * height and size["aa"][1] > size["aa"][0] * 0.8, "aa: tall and open"
    assert size["ih"][0] > width * 1.3 and size["ih"][1] < size["aa"][1] / 2, "ih: wide and narrow"
    assert size["ou"][0] < width * 0.7 and size["ou"][0] < size["ee"][0] / 2, "ou: small and round"
    assert size["ee"][0] > width * 1.3, "ee: wide"
    assert 0.7 < size["oh"][1] / size["oh"][0] < 1.6 and size["oh"][1] > 2 * height, "oh: round and open"
    assert len({tuple(np.round(s, 3)) for s in size.values()}) == 5, "five different shapes"
    eyes_open = _extent(_face_feature(document, blob, "eyes"))[1]
    eyes_closed = _extent(_face_feature(document, blob, "eyes", "blink"))[1]
    assert eyes_closed < eyes_open * 0.6  # the closed eyes curve, so their extent is more than their thickness
    highlights = _extent(_face_feature(document, blob, "highlight", "blink"))
    assert highlights[1] < 0.004, "the eye highlights shrink away into the closed eyes"
    unchanged = _face_feature(document, blob, "mouth", "blink") - _face_feature(document, blob, "mouth")
    assert not unchanged.any(), "blinking leaves the mouth alone"


def test_vrm1_expressions_bind_the_face_morph_targets() -> None:
    document, _blob = parse_glb(build_default_avatar("1.0"))
    vrm = document["extensions"]["VRMC_vrm"]
    assert vrm["specVersion"] == "1.0" and document["extensionsUsed"] == ["KHR_materials_unlit", "VRMC_vrm"]
    face = _node_named(document, "Face")
    names = document["meshes"][document["nodes"][face]["mesh"]]["extras"]["targetNames"]
    preset = vrm["expressions"]["preset"]
    assert {*MOUTH, "blink", "happy"} == set(preset)
    for name, expression in preset.items():
        assert expression["morphTargetBinds"] == [{"node": face, "index": names.index(name), "weight": 1.0}]


def test_vrm0_blend_shapes_bind_the_face_mesh() -> None:
    document, _blob = parse_glb(build_default_avatar("0.x"))
    vrm = document["extensions"]["VRM"]
    face_mesh = document["nodes"][_node_named(document, "Face")]["mesh"]
    names = document["meshes"][face_mesh]["extras"]["targetNames"]
    groups = {group["presetName"]: group for group in vrm["blendShapeMaster"]["blendShapeGroups"]}
    assert set(groups) == {"a", "i", "u", "e", "o", "blink", "joy"}
    vrm1_name = {"a": "aa", "i": "ih", "u": "ou", "e": "ee", "o": "oh", "blink": "blink", "joy": "happy"}
    for preset, group in groups.items():
        assert group["binds"] == [{"mesh": face_mesh, "index": names.index(vrm1_name[preset]), "weight": 100}]
    assert len(vrm["materialProperties"]) == len(document["materials"])


def test_meta_license_and_thumbnail() -> None:
    for version in VERSIONS:
        document, blob = parse_glb(build_default_avatar(version))
        if version == "1.0":
            meta = document["extensions"]["VRMC_vrm"]["meta"]
            assert meta["name"] == "Tama" and meta["authors"] == ["Stage Tamagotchi contributors"]
            assert meta["licenseUrl"] == "https://vrm.dev/licenses/1.0/"
            assert meta["allowRedistribution"] is True and meta["commercialUsage"] == "corporation"
            assert meta["modification"] == "allowModificationRedistribution" and meta["avatarPermission"] == "everyone"
            image = document["images"][meta["thumbnailImage"]]
        else:
            meta = document["extensions"]["VRM"]["meta"]
            assert meta["title"] == "Tama" and meta["licenseName"] == "CC0"
            assert meta["allowedUserName"] == "Everyone" and meta["commercialUssageName"] == "Allow"
            image = document["images"][document["textures"][meta["texture"]]["source"]]
        view = document["bufferViews"][image["bufferView"]]
        png = blob[view["byteOffset"] : view["byteOffset"] + view["byteLength"]]
        width, height, pixels = _decode_png(png)
        assert width == height == 128
        colours = {tuple(int(c) for c in pixel) for pixel in pixels.reshape(-1, 3)}
        for part in ("hair", "skin", "eyes", "mouth"):
            assert _rgb(PALETTE[part]) in colours, part


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16)


def _decode_png(png: bytes) -> tuple[int, int, npt.NDArray[np.uint8]]:
    """A strict reader for the PNGs we write: signature, chunk CRCs, 8-bit RGB, filter 0 on every row."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks = 8, []
    while offset < len(png):
        (length,) = struct.unpack_from(">I", png, offset)
        kind, data = png[offset + 4 : offset + 8], png[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack_from(">I", png, offset + 8 + length)
        assert crc == zlib.crc32(kind + data)
        chunks.append((kind, data))
        offset += 12 + length
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour) == (8, 2)
    rows = np.frombuffer(zlib.decompress(chunks[1][1]), np.uint8).reshape(height, 1 + width * 3)
    assert not rows[:, 0].any()
    return width, height, rows[:, 1:].reshape(height, width, 3)


@pytest.mark.parametrize("size", [0, 1, 0xFFFF, 0x10000, 200_000])
def test_stored_zlib_round_trips(size: int) -> None:
    data = bytes(i * 7 % 251 for i in range(size))
    assert zlib.decompress(stored_zlib(data)) == data
