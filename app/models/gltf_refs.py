"""Every index in a glTF document, and in its VRM extensions, points at something that exists.

Godot's importer does not check all of these and can crash or silently drop parts on a bad index, so the gate checks
them first. Problems are collected as short phrases ("nodes[3].mesh is 9 but there are 2 meshes"); the caller
refuses the file with ``broken_references`` when any is found.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from app.models.glb import GlbLayout
from app.models.refusals import ModelRefused, RefusalCode

_COMPONENT_BYTES = {5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}
_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
MAX_REPORTED = 8

TOP_LEVEL_ARRAYS = (
    "accessors",
    "animations",
    "buffers",
    "bufferViews",
    "cameras",
    "images",
    "materials",
    "meshes",
    "nodes",
    "samplers",
    "scenes",
    "skins",
    "textures",
)


def objects(document: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """A top-level array whose items are all objects; raises ``bad_json`` for any other shape."""
    value = document.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ModelRefused(RefusalCode.BAD_JSON, f"The model's '{key}' must be a list of objects.")
    return value


def morph_target_count(mesh: dict[str, Any]) -> int:
    primitives = mesh.get("primitives")
    if not isinstance(primitives, list):
        return 0
    return max(
        (len(p["targets"]) for p in primitives if isinstance(p, dict) and isinstance(p.get("targets"), list)), default=0
    )


class ReferenceChecker:
    def __init__(self, document: dict[str, Any], layout: GlbLayout) -> None:
        self.document = document
        self.layout = layout
        self.counts = {key: len(objects(document, key)) for key in TOP_LEVEL_ARRAYS}
        self.problems: list[str] = []

    def index(self, where: str, value: Any, kind: str, *, optional: bool = True, allow_minus_one: bool = False) -> bool:
        """Records a problem unless ``value`` is a valid index into the top-level array ``kind``."""
        if value is None and optional:
            return False
        if allow_minus_one and value == -1:
            return False
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.append(f"{where} is {value!r}, not an index")
            return False
        if not 0 <= value < self.counts[kind]:
            self.problems.append(f"{where} is {value} but there {_are(self.counts[kind], kind)}")
            return False
        return True

    def check_gltf(self) -> None:
        doc = self.document
        buffers = objects(doc, "buffers")
        for i, buffer in enumerate(buffers):
            self._buffer(i, buffer)
        for i, view in enumerate(objects(doc, "bufferViews")):
            if self.index(f"bufferViews[{i}].buffer", view.get("buffer"), "buffers", optional=False):
                end = _int(view.get("byteOffset", 0)) + _int(view.get("byteLength"))
                available = _int(buffers[view["buffer"]].get("byteLength"))
                if end > available:
                    self.problems.append(f"bufferViews[{i}] ends at byte {end:,} of a {available:,}-byte buffer")
        for i, accessor in enumerate(objects(doc, "accessors")):
            self._accessor(i, accessor)
        for i, image in enumerate(objects(doc, "images")):
            self.index(f"images[{i}].bufferView", image.get("bufferView"), "bufferViews")
            uri = image.get("uri")
            if isinstance(uri, str) and not uri.startswith("data:"):
                self.problems.append(f"images[{i}] is an outside file ({uri[:60]}) that the .vrm does not contain")
        for i, texture in enumerate(objects(doc, "textures")):
            self.index(f"textures[{i}].source", texture.get("source"), "images")
            self.index(f"textures[{i}].sampler", texture.get("sampler"), "samplers")
        for i, material in enumerate(objects(doc, "materials")):
            for where, value in _texture_refs(material, f"materials[{i}]"):
                self.index(where, value, "textures", optional=False)
        for i, mesh in enumerate(objects(doc, "meshes")):
            self._mesh(i, mesh)
        self._nodes()
        for i, skin in enumerate(objects(doc, "skins")):
            for j, joint in enumerate(_list(skin.get("joints"))):
                self.index(f"skins[{i}].joints[{j}]", joint, "nodes", optional=False)
            self.index(f"skins[{i}].skeleton", skin.get("skeleton"), "nodes")
            self.index(f"skins[{i}].inverseBindMatrices", skin.get("inverseBindMatrices"), "accessors")
        for i, scene in enumerate(objects(doc, "scenes")):
            for j, node in enumerate(_list(scene.get("nodes"))):
                self.index(f"scenes[{i}].nodes[{j}]", node, "nodes", optional=False)
        self.index("scene", doc.get("scene"), "scenes")

    def _buffer(self, i: int, buffer: dict[str, Any]) -> None:
        uri = buffer.get("uri")
        length = _int(buffer.get("byteLength"))
        if uri is None:
            if i != 0:
                self.problems.append(f"buffers[{i}] has no uri; only buffer 0 may be the file's BIN chunk")
            elif self.layout.bin_offset is None:
                self.problems.append("buffers[0] refers to a BIN chunk that the file does not have")
            elif length > self.layout.bin_length:
                self.problems.append(f"buffers[0] is {length:,} bytes but the BIN chunk has {self.layout.bin_length:,}")
        elif isinstance(uri, str) and not uri.startswith("data:"):
            self.problems.append(f"buffers[{i}] is an outside file ({uri[:60]}) that the .vrm does not contain")

    def _accessor(self, i: int, accessor: dict[str, Any]) -> None:
        if not self.index(f"accessors[{i}].bufferView", accessor.get("bufferView"), "bufferViews"):
            return
        element = _COMPONENT_BYTES.get(_int(accessor.get("componentType")), 0) * _COMPONENTS.get(
            str(accessor.get("type")), 0
        )
        count = _int(accessor.get("count"))
        if not element or not count:
            return
        view = objects(self.document, "bufferViews")[accessor["bufferView"]]
        stride = _int(view.get("byteStride")) or element
        end = _int(accessor.get("byteOffset", 0)) + stride * (count - 1) + element
        if end > _int(view.get("byteLength")):
            self.problems.append(
                f"accessors[{i}] needs {end:,} bytes of bufferViews[{accessor['bufferView']}], "
                f"which has {_int(view.get('byteLength')):,}"
            )

    def _mesh(self, i: int, mesh: dict[str, Any]) -> None:
        for j, primitive in enumerate(_list(mesh.get("primitives"))):
            if not isinstance(primitive, dict):
                self.problems.append(f"meshes[{i}].primitives[{j}] is not an object")
                continue
            where = f"meshes[{i}].primitives[{j}]"
            attributes = primitive.get("attributes")
            for name, accessor in attributes.items() if isinstance(attributes, dict) else ():
                self.index(f"{where}.attributes.{name}", accessor, "accessors", optional=False)
            self.index(f"{where}.indices", primitive.get("indices"), "accessors")
            self.index(f"{where}.material", primitive.get("material"), "materials")
            for k, target in enumerate(_list(primitive.get("targets"))):
                for name, accessor in target.items() if isinstance(target, dict) else ():
                    self.index(f"{where}.targets[{k}].{name}", accessor, "accessors", optional=False)

    def _nodes(self) -> None:
        nodes = objects(self.document, "nodes")
        parents: dict[int, int] = {}
        for i, node in enumerate(nodes):
            self.index(f"nodes[{i}].mesh", node.get("mesh"), "meshes")
            self.index(f"nodes[{i}].skin", node.get("skin"), "skins")
            self.index(f"nodes[{i}].camera", node.get("camera"), "cameras")
            for j, child in enumerate(_list(node.get("children"))):
                if self.index(f"nodes[{i}].children[{j}]", child, "nodes", optional=False):
                    if child in parents or child == i:
                        self.problems.append(f"nodes[{child}] has more than one parent")
                    parents[child] = i
        # A node hierarchy must be a forest; a cycle would hang an importer walking it. Each node is walked once.
        settled: set[int] = set()
        for start in parents:
            path: list[int] = []
            on_path: set[int] = set()
            current: int | None = start
            while current is not None and current not in settled:
                if current in on_path:
                    self.problems.append(f"nodes[{current}] is its own ancestor (a cycle in the node tree)")
                    return
                path.append(current)
                on_path.add(current)
                current = parents.get(current)
            settled.update(path)

    def raise_if_broken(self, what: str) -> None:
        if not self.problems:
            return
        shown = "; ".join(self.problems[:MAX_REPORTED])
        more = f" (and {len(self.problems) - MAX_REPORTED} more)" if len(self.problems) > MAX_REPORTED else ""
        raise ModelRefused(RefusalCode.BROKEN_REFERENCES, f"{what} points at missing parts: {shown}{more}.")


def _texture_refs(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    """Every ``{...}Texture: {"index": n}`` in a material, however deep (extensions included)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("Texture") and isinstance(item, dict) and "index" in item:
                yield f"{where}.{key}.index", item["index"]
            yield from _texture_refs(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _texture_refs(item, f"{where}[{i}]")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _are(count: int, kind: str) -> str:
    singular = kind[:-2] if kind.endswith("shes") else kind[:-1]
    return f"is 1 {singular}" if count == 1 else f"are {count} {kind}"
