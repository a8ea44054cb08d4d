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
        # Each array is checked for shape once; every lookup after that is O(1) (a file may hold 100k accessors).
        self.arrays = {key: objects(document, key) for key in TOP_LEVEL_ARRAYS}
        self.counts = {key: len(items) for key, items in self.arrays.items()}
        self.problems: list[str] = []
        self._morph_counts: dict[int, int] = {}

    def morph_targets(self, mesh: int) -> int:
        """Morph targets of ``meshes[mesh]`` (an index already checked), computed once per mesh."""
        if mesh not in self._morph_counts:
            self._morph_counts[mesh] = morph_target_count(self.arrays["meshes"][mesh])
        return self._morph_counts[mesh]

    def size(self, where: str, value: Any, *, default: int = 0) -> int:
        """A byte count, offset or element count: a non-negative integer, else a problem is recorded (and 0 used)."""
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.problems.append(f"{where} is {value!r}, not a size")
            return 0
        return value

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

    def position(self, where: str, value: Any, items: list[Any], what: str) -> None:
        """An index into a list inside an extension (``what`` names it in the message)."""
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(items):
            self.problems.append(f"{where} is {value!r} but there are {len(items)} {what}")

    def check_gltf(self) -> None:
        arrays = self.arrays
        for i, buffer in enumerate(arrays["buffers"]):
            self._buffer(i, buffer)
        for i, view in enumerate(arrays["bufferViews"]):
            offset = self.size(f"bufferViews[{i}].byteOffset", view.get("byteOffset"))
            length = self.size(f"bufferViews[{i}].byteLength", view.get("byteLength"))
            self.size(f"bufferViews[{i}].byteStride", view.get("byteStride"))
            if self.index(f"bufferViews[{i}].buffer", view.get("buffer"), "buffers", optional=False):
                available = _int(arrays["buffers"][view["buffer"]].get("byteLength"))
                if offset + length > available:
                    self.problems.append(
                        f"bufferViews[{i}] ends at byte {offset + length:,} of a {available:,}-byte buffer"
                    )
        for i, accessor in enumerate(arrays["accessors"]):
            self._accessor(i, accessor)
        for i, image in enumerate(arrays["images"]):
            self.index(f"images[{i}].bufferView", image.get("bufferView"), "bufferViews")
            uri = image.get("uri")
            if isinstance(uri, str) and not uri.startswith("data:"):
                self.problems.append(f"images[{i}] is an outside file ({uri[:60]}) that the .vrm does not contain")
        for i, texture in enumerate(arrays["textures"]):
            self.index(f"textures[{i}].source", texture.get("source"), "images")
            self.index(f"textures[{i}].sampler", texture.get("sampler"), "samplers")
        for i, material in enumerate(arrays["materials"]):
            for where, value in _texture_refs(material, f"materials[{i}]"):
                self.index(where, value, "textures", optional=False)
        for i, mesh in enumerate(arrays["meshes"]):
            self._mesh(i, mesh)
        self._nodes()
        for i, skin in enumerate(arrays["skins"]):
            for j, joint in enumerate(as_list(skin.get("joints"))):
                self.index(f"skins[{i}].joints[{j}]", joint, "nodes", optional=False)
            self.index(f"skins[{i}].skeleton", skin.get("skeleton"), "nodes")
            self.index(f"skins[{i}].inverseBindMatrices", skin.get("inverseBindMatrices"), "accessors")
        for i, animation in enumerate(arrays["animations"]):
            self._animation(i, animation)
        for i, scene in enumerate(arrays["scenes"]):
            for j, node in enumerate(as_list(scene.get("nodes"))):
                self.index(f"scenes[{i}].nodes[{j}]", node, "nodes", optional=False)
        self.index("scene", self.document.get("scene"), "scenes")

    def _animation(self, i: int, animation: dict[str, Any]) -> None:
        samplers = as_list(animation.get("samplers"))
        for j, sampler in enumerate(dicts(samplers)):
            for key in ("input", "output"):
                self.index(f"animations[{i}].samplers[{j}].{key}", sampler.get(key), "accessors", optional=False)
        for j, channel in enumerate(dicts(animation.get("channels"))):
            where = f"animations[{i}].channels[{j}]"
            chosen = channel.get("sampler")
            if isinstance(chosen, bool) or not isinstance(chosen, int) or not 0 <= chosen < len(samplers):
                self.problems.append(f"{where}.sampler is {chosen!r} but the animation has {len(samplers)} samplers")
            self.index(f"{where}.target.node", as_dict(channel.get("target")).get("node"), "nodes")

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
        where = f"accessors[{i}]"
        count = self.size(f"{where}.count", accessor.get("count"))
        offset = self.size(f"{where}.byteOffset", accessor.get("byteOffset"))
        sparse = accessor.get("sparse")
        if isinstance(sparse, dict):
            self.size(f"{where}.sparse.count", sparse.get("count"))
            for part in ("indices", "values"):
                section = sparse.get(part)
                view = section.get("bufferView") if isinstance(section, dict) else None
                self.index(f"{where}.sparse.{part}.bufferView", view, "bufferViews", optional=False)
        if not self.index(f"{where}.bufferView", accessor.get("bufferView"), "bufferViews"):
            return
        element = _COMPONENT_BYTES.get(_int(accessor.get("componentType")), 0) * _COMPONENTS.get(
            str(accessor.get("type")), 0
        )
        if not element or not count:
            return
        view = self.arrays["bufferViews"][accessor["bufferView"]]
        stride = _int(view.get("byteStride")) or element
        end = offset + stride * (count - 1) + element
        if end > _int(view.get("byteLength")):
            self.problems.append(
                f"{where} needs {end:,} bytes of bufferViews[{accessor['bufferView']}], "
                f"which has {_int(view.get('byteLength')):,}"
            )

    def _mesh(self, i: int, mesh: dict[str, Any]) -> None:
        for j, primitive in enumerate(as_list(mesh.get("primitives"))):
            if not isinstance(primitive, dict):
                self.problems.append(f"meshes[{i}].primitives[{j}] is not an object")
                continue
            where = f"meshes[{i}].primitives[{j}]"
            attributes = primitive.get("attributes")
            for name, accessor in attributes.items() if isinstance(attributes, dict) else ():
                self.index(f"{where}.attributes.{name}", accessor, "accessors", optional=False)
            self.index(f"{where}.indices", primitive.get("indices"), "accessors")
            self.index(f"{where}.material", primitive.get("material"), "materials")
            for k, target in enumerate(as_list(primitive.get("targets"))):
                for name, accessor in target.items() if isinstance(target, dict) else ():
                    self.index(f"{where}.targets[{k}].{name}", accessor, "accessors", optional=False)

    def _nodes(self) -> None:
        nodes = self.arrays["nodes"]
        parents: dict[int, int] = {}
        for i, node in enumerate(nodes):
            self.index(f"nodes[{i}].mesh", node.get("mesh"), "meshes")
            self.index(f"nodes[{i}].skin", node.get("skin"), "skins")
            self.index(f"nodes[{i}].camera", node.get("camera"), "cameras")
            for j, child in enumerate(as_list(node.get("children"))):
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


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (lenient reading of optional parts)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def dicts(value: Any) -> list[dict[str, Any]]:
    """A list's items, with anything that is not an object read as an empty one."""
    return [as_dict(item) for item in as_list(value)]


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _are(count: int, kind: str) -> str:
    singular = kind[:-2] if kind.endswith("shes") else kind[:-1]
    return f"is 1 {singular}" if count == 1 else f"are {count} {kind}"
