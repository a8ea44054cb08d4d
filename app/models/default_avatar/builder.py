"""Turns the design into a VRM: glTF nodes for the skeleton, one rigid mesh per bone, the morphing face mesh,
materials, the thumbnail, and the VRM 1.0 (``VRMC_vrm``) or VRM 0.x (``VRM``) extension."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from app.models.default_avatar import design
from app.models.default_avatar.glb import GltfWriter
from app.models.default_avatar.png import draw_thumbnail
from app.models.default_avatar.shapes import Decal, Points, Triangles, ellipsoid, lattice, quantize, vertex_normals

VrmVersion = Literal["1.0", "0.x"]
NAME = "Tama"
AUTHORS = ["Stage Tamagotchi contributors"]
MODEL_VERSION = "1"
GENERATOR = "Stage Tamagotchi default avatar 1"
LICENSE_URL = "https://vrm.dev/licenses/1.0/"
TRIANGLES = 4  # glTF primitive mode
LIT_ALBEDO, LIT_GLOW = 0.4, 0.45

_BODY = lattice(16, 24)
_HEAD = lattice(28, 40)
_HAIR = lattice(48, 120)  # fine enough for the fringe's strands
_DECAL = lattice(10, 24)


def build_default_avatar(vrm_version: VrmVersion = "1.0") -> bytes:
    """The built-in avatar as VRM bytes; the same bytes on every call and every machine."""
    if vrm_version not in ("1.0", "0.x"):
        raise ValueError(f"unsupported VRM version {vrm_version!r}")
    return _Builder(vrm_version).build()


def _linear(hex_colour: str) -> list[float]:
    """An sRGB colour as glTF's linear RGBA factor, rounded so that it prints the same everywhere."""
    channels = []
    for start in (1, 3, 5):
        c = int(hex_colour[start : start + 2], 16) / 255.0
        channels.append(round(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4, 4))
    return [*channels, 1.0]


def _node_name(bone: str) -> str:
    return bone[0].upper() + bone[1:]  # leftUpperArm -> LeftUpperArm


def _merge(pieces: list[tuple[Points, Triangles]]) -> tuple[Points, Triangles]:
    points, triangles, offset = [], [], 0
    for piece_points, piece_triangles in pieces:
        points.append(piece_points)
        triangles.append(piece_triangles + offset)
        offset += len(piece_points)
    return np.concatenate(points), np.concatenate(triangles).astype(np.uint32)


def _decals(decals: list[Decal]) -> tuple[Points, Triangles]:
    return _merge([(decal.points(design.HEAD, _DECAL), _DECAL.triangles) for decal in decals])


def _hair() -> Points:
    points = ellipsoid(design.HAIR.centre, design.HAIR.semi, _HAIR)
    floor = np.array([design.hair_floor(x, z) for x, _y, z in points])
    points[:, 1] = np.maximum(points[:, 1], floor)
    return quantize(points)


class _Builder:
    def __init__(self, vrm_version: VrmVersion) -> None:
        self.version = vrm_version
        self.gltf = GltfWriter(GENERATOR)
        self.doc = self.gltf.document
        self.doc.update(
            {"scene": 0, "scenes": [{"nodes": [0]}], "nodes": [], "meshes": [], "materials": [], "extensionsUsed": []}
        )
        self.materials: dict[str, int] = {}
        # VRM 0.x avatars face -Z: the same model turned half a turn about y.
        self.turn = np.array([-1.0, 1.0, -1.0]) if vrm_version == "0.x" else np.array([1.0, 1.0, 1.0])

    def build(self) -> bytes:
        self.doc["nodes"].append({"name": "Root", "children": []})
        bone_nodes = self._skeleton()
        face_node, face_mesh = self._face(bone_nodes["head"])
        self._body(bone_nodes)
        thumbnail = self.gltf.image(draw_thumbnail(design.PALETTE), "Thumbnail")
        if self.version == "1.0":
            self.doc["extensionsUsed"].append("VRMC_vrm")
            self.doc["extensions"] = {"VRMC_vrm": self._vrm1(bone_nodes, face_node, thumbnail)}
        else:
            self.doc["samplers"] = [{"magFilter": 9729, "minFilter": 9729}]
            self.doc["textures"] = [{"source": thumbnail, "sampler": 0}]
            self.doc["extensionsUsed"].append("VRM")
            self.doc["extensions"] = {"VRM": self._vrm0(bone_nodes, face_mesh, texture=0)}
        self.doc["extensionsUsed"].sort()
        return self.gltf.glb()

    def _turned(self, points: Points) -> Points:
        return quantize(points * self.turn)

    def _node(self, node: dict[str, Any], parent: int) -> int:
        self.doc["nodes"].append(node)
        index = len(self.doc["nodes"]) - 1
        self.doc["nodes"][parent].setdefault("children", []).append(index)
        return index

    def _skeleton(self) -> dict[str, int]:
        nodes: dict[str, int] = {}
        positions = {bone.name: np.array(bone.position) for bone in design.BONES}
        for bone in design.BONES:
            parent = nodes[bone.parent] if bone.parent else 0
            offset = positions[bone.name] - (positions[bone.parent] if bone.parent else 0.0)
            translation = [float(v) for v in self._turned(offset[None, :])[0]]
            nodes[bone.name] = self._node({"name": _node_name(bone.name), "translation": translation}, parent)
        return nodes

    def _material(self, name: str) -> int:
        if name not in self.materials:
            colour = _linear(design.PALETTE[name])
            material: dict[str, Any] = {"name": name.capitalize()}
            if name in design.FACE_MATERIALS:
                material["pbrMetallicRoughness"] = {"baseColorFactor": colour, "metallicFactor": 0.0}
                material["extensions"] = {"KHR_materials_unlit": {}}
                if "KHR_materials_unlit" not in self.doc["extensionsUsed"]:
                    self.doc["extensionsUsed"].append("KHR_materials_unlit")
            else:
                # Part of the colour glows and part takes the light: soft shading that neither washes out in
                # the key light nor goes muddy in the shade, in any lighting a viewer chooses.
                material["pbrMetallicRoughness"] = {
                    "baseColorFactor": [round(c * LIT_ALBEDO, 4) for c in colour[:3]] + [1.0],
                    "metallicFactor": 0.0,
                    "roughnessFactor": 0.85,
                }
                material["emissiveFactor"] = [round(c * LIT_GLOW, 4) for c in colour[:3]]
            self.doc["materials"].append(material)
            self.materials[name] = len(self.doc["materials"]) - 1
        return self.materials[name]

    def _primitive(self, material: str, points: Points, triangles: Triangles, origin: Points) -> dict[str, Any]:
        local = self._turned(points - origin)
        normals = self._turned(vertex_normals(points, triangles))
        return {
            "attributes": {"POSITION": self.gltf.vec3(local), "NORMAL": self.gltf.vec3(normals)},
            "indices": self.gltf.indices(triangles),
            "material": self._material(material),
            "mode": TRIANGLES,
        }

    def _body(self, bone_nodes: dict[str, int]) -> None:
        """One mesh per bone, one primitive per colour, hung on the bone's node (rigid, no skin)."""
        for bone in design.BONES:
            groups: dict[str, list[tuple[Points, Triangles]]] = {}
            for part in design.PARTS:
                if part.bone == bone.name:
                    shape = _HEAD if part.bone == "head" else _BODY
                    piece = (ellipsoid(part.centre, part.semi, shape), shape.triangles)
                    groups.setdefault(part.material, []).append(piece)
            if bone.name == "head":
                groups.setdefault("hair", []).insert(0, (_hair(), _HAIR.triangles))
                groups["blush"] = [_decals(design.CHEEKS)]
            if not groups:
                continue
            origin = np.array(bone.position)
            primitives = [self._primitive(material, *_merge(pieces), origin) for material, pieces in groups.items()]
            name = _node_name(bone.name) + "Mesh"
            self.doc["meshes"].append({"name": name, "primitives": primitives})
            self._node({"name": name, "mesh": len(self.doc["meshes"]) - 1}, bone_nodes[bone.name])

    def _face(self, head_node: int) -> tuple[int, int]:
        """The face mesh: eyes, eye highlights and mouth, with one morph target per expression."""
        origin = np.array(next(bone.position for bone in design.BONES if bone.name == "head"))
        primitives = []
        for feature, decals in design.NEUTRAL_FACE.items():
            points, triangles = _decals(decals)
            primitive = self._primitive(feature, points, triangles, origin)
            targets = []
            for expression in design.EXPRESSIONS:
                shaped = design.EXPRESSION_FACES[expression].get(feature, decals)
                moved = _decals(shaped)[0]
                targets.append({"POSITION": self.gltf.vec3(self._turned(moved - points))})
            primitive["targets"] = targets
            primitives.append(primitive)
        self.doc["meshes"].append(
            {
                "name": "Face",
                "primitives": primitives,
                "weights": [0.0] * len(design.EXPRESSIONS),
                "extras": {"targetNames": list(design.EXPRESSIONS)},
            }
        )
        mesh = len(self.doc["meshes"]) - 1
        return self._node({"name": "Face", "mesh": mesh}, head_node), mesh

    def _vrm1(self, bones: dict[str, int], face_node: int, thumbnail: int) -> dict[str, Any]:
        preset = {
            name: {
                "morphTargetBinds": [{"node": face_node, "index": index, "weight": 1.0}],
                "isBinary": False,
                "overrideBlink": "block" if name == "happy" else "none",
                "overrideLookAt": "none",
                "overrideMouth": "none",
            }
            for index, name in enumerate(design.EXPRESSIONS)
        }
        return {
            "specVersion": "1.0",
            "meta": {
                "name": NAME,
                "version": MODEL_VERSION,
                "authors": AUTHORS,
                "copyrightInformation": "Generated by Stage Tamagotchi's own code; no third-party assets.",
                "thumbnailImage": thumbnail,
                "licenseUrl": LICENSE_URL,
                "avatarPermission": "everyone",
                "allowExcessivelyViolentUsage": False,
                "allowExcessivelySexualUsage": False,
                "commercialUsage": "corporation",
                "allowPoliticalOrReligiousUsage": False,
                "allowAntisocialOrHateUsage": False,
                "creditNotation": "unnecessary",
                "allowRedistribution": True,
                "modification": "allowModificationRedistribution",
            },
            "humanoid": {"humanBones": {name: {"node": node} for name, node in bones.items()}},
            "expressions": {"preset": preset},
        }

    def _vrm0(self, bones: dict[str, int], face_mesh: int, texture: int) -> dict[str, Any]:
        groups = [
            {
                "name": design.VRM0_PRESETS[name].capitalize(),
                "presetName": design.VRM0_PRESETS[name],
                "binds": [{"mesh": face_mesh, "index": index, "weight": 100}],
                "materialValues": [],
                "isBinary": False,
            }
            for index, name in enumerate(design.EXPRESSIONS)
        ]
        return {
            "exporterVersion": GENERATOR,
            "specVersion": "0.0",
            "meta": {
                "title": NAME,
                "version": MODEL_VERSION,
                "author": ", ".join(AUTHORS),
                "contactInformation": "",
                "reference": "",
                "texture": texture,
                "allowedUserName": "Everyone",
                "violentUssageName": "Disallow",
                "sexualUssageName": "Disallow",
                "commercialUssageName": "Allow",
                "otherPermissionUrl": "",
                "licenseName": "CC0",
                "otherLicenseUrl": "",
            },
            "humanoid": {
                "humanBones": [{"bone": name, "node": node, "useDefaultValues": True} for name, node in bones.items()]
            },
            "firstPerson": {
                "firstPersonBone": bones["head"],
                "firstPersonBoneOffset": {"x": 0.0, "y": 0.06, "z": 0.0},
                "meshAnnotations": [],
                "lookAtTypeName": "BlendShape",
            },
            "blendShapeMaster": {"blendShapeGroups": groups},
            "secondaryAnimation": {"boneGroups": [], "colliderGroups": []},
            "materialProperties": [
                {
                    "name": material["name"],
                    "shader": "VRM_USE_GLTFSHADER",
                    "renderQueue": 2000,
                    "floatProperties": {},
                    "vectorProperties": {},
                    "textureProperties": {},
                    "keywordMap": {},
                    "tagMap": {},
                }
                for material in self.doc["materials"]
            ],
        }
