"""Is this file a VRM avatar the app can use, and what is in it? The gate in front of the library and the stage.

:func:`inspect_model` reads the GLB header, the chunk headers, the JSON chunk and (when asked) the thumbnail's bytes;
never the mesh data. It either returns a :class:`ModelInspection` (with warnings for harmless deviations) or raises
:class:`~app.models.refusals.ModelRefused` with one of the documented codes. Nothing else escapes it.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from app.models.glb import DEFAULT_LIMITS, GLB_MAGIC, GlbLayout, InspectionLimits, MiB, read_glb
from app.models.gltf_refs import ReferenceChecker, as_dict, as_list, dicts, morph_target_count, objects
from app.models.refusals import ModelRefused, RefusalCode
from app.models.sniff import SNIFF_BYTES, detect_format
from app.models.vrm_meta import ModelMeta, VrmVersion, clean_text, read_vrm0_meta, read_vrm1_meta

VISEMES = ("aa", "ih", "ou", "ee", "oh")
MAX_WARNINGS = 50
VRM0_PRESETS = {
    "a": "aa",
    "i": "ih",
    "u": "ou",
    "e": "ee",
    "o": "oh",
    "blink": "blink",
    "blink_l": "blinkLeft",
    "blink_r": "blinkRight",
    "joy": "happy",
    "angry": "angry",
    "sorrow": "sad",
    "fun": "relaxed",
    "lookup": "lookUp",
    "lookdown": "lookDown",
    "lookleft": "lookLeft",
    "lookright": "lookRight",
    "neutral": "neutral",
}
"""VRM 0.x preset names to the VRM 1.0 names, which the app uses everywhere."""
VRM1_REQUIRED_BONES = (
    "hips",
    "spine",
    "head",
    "leftUpperLeg",
    "leftLowerLeg",
    "leftFoot",
    "rightUpperLeg",
    "rightLowerLeg",
    "rightFoot",
    "leftUpperArm",
    "leftLowerArm",
    "leftHand",
    "rightUpperArm",
    "rightLowerArm",
    "rightHand",
)


@dataclass(frozen=True)
class ExpressionInfo:
    name: str
    """VRM 1.0 name for presets (``aa``, ``blink``, ``happy``...), the file's own name for custom ones."""
    preset: bool
    binds: int
    """Morph-target, material and texture binds together; 0 means the expression moves nothing."""


@dataclass(frozen=True)
class ModelCounts:
    meshes: int
    morph_targets: int
    bones: int
    nodes: int
    materials: int
    textures: int
    images: int


@dataclass(frozen=True)
class ModelInspection:
    vrm_version: VrmVersion
    spec_version: str | None
    exporter: str | None
    generator: str | None
    size: int
    meta: ModelMeta
    expressions: tuple[ExpressionInfo, ...]
    counts: ModelCounts
    warnings: tuple[str, ...]
    thumbnail: bytes | None = None
    thumbnail_mime: str | None = None

    @property
    def mouth_ready(self) -> bool:
        """All five visemes move something."""
        bound = {e.name for e in self.expressions if e.binds}
        return all(viseme in bound for viseme in VISEMES)

    @property
    def blink_ready(self) -> bool:
        return any(e.name == "blink" and e.binds for e in self.expressions)

    def to_json(self) -> dict[str, Any]:
        """Everything but the thumbnail's bytes, JSON-ready (the library index stores this)."""
        data = asdict(self)
        data.pop("thumbnail")
        data["mouth_ready"] = self.mouth_ready
        data["blink_ready"] = self.blink_ready
        # Lists, not tuples: the same value whether it comes from here or from the index file. Every string from
        # the file was cleaned on the way in and numbers are ours, so this never fails (allow_nan guards that).
        plain: dict[str, Any] = json.loads(json.dumps(data, allow_nan=False))
        return plain


def inspect_model(
    path: Path, limits: InspectionLimits = DEFAULT_LIMITS, *, with_thumbnail: bool = True
) -> ModelInspection:
    """Inspect ``path``; raises :class:`ModelRefused` (and nothing else) when it is not a usable VRM."""
    name = clean_text(path.name, 200)
    try:
        # Checked before opening: opening a FIFO or a device for reading can block forever.
        kind = path.stat().st_mode
        if stat.S_ISDIR(kind):
            raise ModelRefused(RefusalCode.UNREADABLE, f"{name} is a folder, not a file.")
        if not stat.S_ISREG(kind):
            raise ModelRefused(RefusalCode.UNREADABLE, f"{name} is not a regular file (a pipe, socket or device).")
        with path.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            return inspect_stream(stream, size, limits, path=path, with_thumbnail=with_thumbnail)
    except ModelRefused:
        raise
    except OSError as error:
        raise ModelRefused(RefusalCode.UNREADABLE, f"{name} could not be read: {error.strerror or error}.") from None


def inspect_stream(
    stream: BinaryIO,
    size: int,
    limits: InspectionLimits = DEFAULT_LIMITS,
    *,
    path: Path | None = None,
    with_thumbnail: bool = True,
) -> ModelInspection:
    if size == 0:
        raise ModelRefused(RefusalCode.EMPTY, "The file is empty (0 bytes): the download or copy failed.")
    if size > limits.max_file_bytes:
        raise ModelRefused(
            RefusalCode.TOO_LARGE,
            f"The file is {size / MiB:,.0f} MiB; the app accepts avatars up to {limits.max_file_bytes / MiB:,.0f} MiB.",
        )
    head = stream.read(SNIFF_BYTES)
    if not head.startswith(GLB_MAGIC):
        detected = detect_format(head, path)
        if detected is None:
            raise ModelRefused(
                RefusalCode.NOT_GLB, "This is not a VRM file: VRM avatars are glTF binaries starting with 'glTF'."
            )
        advice = f" {detected.advice}" if detected.advice else ""
        raise ModelRefused(
            RefusalCode.WRONG_FORMAT, f"This is {detected.description}, not a VRM avatar.{advice}", detected.name
        )
    stream.seek(0)
    layout, document = read_glb(stream, size, limits)
    try:
        inspection = _inspect_document(document, layout, size)
    except RecursionError:
        raise ModelRefused(RefusalCode.BAD_JSON, "The model's JSON is nested too deeply to be a real model.") from None
    if with_thumbnail and inspection.meta.thumbnail_image is not None:
        thumbnail = _read_thumbnail(stream, document, layout, inspection.meta.thumbnail_image, limits)
        if thumbnail is not None:
            mime, data = thumbnail
            return replace(inspection, thumbnail=data, thumbnail_mime=mime)
    return inspection


def _inspect_document(document: dict[str, Any], layout: GlbLayout, size: int) -> ModelInspection:
    warnings = list(layout.warnings)
    asset = document.get("asset")
    version = asset.get("version") if isinstance(asset, dict) else None
    if not isinstance(version, str):
        warnings.append("asset.version is missing (glTF requires it); assuming 2.0")
    elif not version.startswith("2."):
        raise ModelRefused(
            RefusalCode.UNSUPPORTED_GLB_VERSION, f"The model says it is glTF {version}; VRM needs glTF 2.0."
        )
    extensions = document.get("extensions")
    extensions = extensions if isinstance(extensions, dict) else {}
    checker = ReferenceChecker(document, layout)
    if isinstance(extensions.get("VRMC_vrm"), dict):
        vrm_version: VrmVersion = "1.0"
        vrm = extensions["VRMC_vrm"]
        spec = vrm.get("specVersion")
        if spec != "1.0":
            raise ModelRefused(
                RefusalCode.UNSUPPORTED_VRM_VERSION,
                f"The model is VRM specVersion {spec!r}; this app reads VRM 0.x and VRM 1.0 ('1.0')."
                + (" Re-export it with a current VRM exporter." if isinstance(spec, str) and "beta" in spec else ""),
            )
        meta = read_vrm1_meta(as_dict(vrm.get("meta")), warnings)
        bones = _vrm1_bones(vrm, checker, warnings)
        expressions = _vrm1_expressions(vrm, checker)
        exporter = None
    elif isinstance(extensions.get("VRM"), dict):
        vrm_version = "0.x"
        vrm = extensions["VRM"]
        spec_raw = vrm.get("specVersion")
        if isinstance(spec_raw, str) and spec_raw and not spec_raw.startswith("0."):
            raise ModelRefused(
                RefusalCode.UNSUPPORTED_VRM_VERSION,
                f"The model's VRM extension says specVersion {spec_raw!r}; VRM 0.x files say '0.0'.",
            )
        spec = spec_raw if isinstance(spec_raw, str) else None
        meta = read_vrm0_meta(as_dict(vrm.get("meta")), objects(document, "textures"), warnings)
        bones = _vrm0_bones(vrm, checker)
        expressions = _vrm0_expressions(vrm, checker)
        exporter = vrm.get("exporterVersion") if isinstance(vrm.get("exporterVersion"), str) else None
        checker.index("VRM.meta.texture", as_dict(vrm.get("meta")).get("texture"), "textures", allow_minus_one=True)
    elif isinstance(extensions.get("VRMC_vrm_animation"), dict):
        raise ModelRefused(
            RefusalCode.WRONG_FORMAT,
            "This is a VRM animation (.vrma), not an avatar: it moves an avatar but has no body to show.",
            "vrma",
        )
    else:
        raise ModelRefused(
            RefusalCode.NOT_VRM,
            "This is a plain glTF binary model without VRM data (no VRM or VRMC_vrm extension). "
            "Export it as VRM (for example with UniVRM, VRoid Studio or the VRM add-on for Blender).",
            "glb",
        )
    checker.index(f"VRM {vrm_version} thumbnail", meta.thumbnail_image, "images")
    if vrm_version == "1.0":
        _vrm1_extension_refs(vrm, as_dict(extensions.get("VRMC_springBone")), checker)
    else:
        _vrm0_extension_refs(vrm, checker)
    checker.check_gltf()
    checker.raise_if_broken(f"This VRM {vrm_version} model")
    _check_humanoid(bones, vrm_version, warnings)
    generator = asset.get("generator") if isinstance(asset, dict) else None
    meshes = objects(document, "meshes")
    counts = ModelCounts(
        meshes=len(meshes),
        morph_targets=sum(morph_target_count(mesh) for mesh in meshes),
        bones=len(bones),
        nodes=checker.counts["nodes"],
        materials=checker.counts["materials"],
        textures=checker.counts["textures"],
        images=checker.counts["images"],
    )
    return ModelInspection(
        vrm_version=vrm_version,
        spec_version=spec if isinstance(spec, str) else None,
        exporter=exporter,
        generator=generator if isinstance(generator, str) else None,
        size=size,
        meta=meta,
        expressions=tuple(expressions),
        counts=counts,
        warnings=tuple(clean_text(w, 500) for w in warnings[:MAX_WARNINGS]),
    )


def _check_humanoid(bones: set[str], vrm_version: VrmVersion, warnings: list[str]) -> None:
    if "hips" not in bones or "head" not in bones:
        missing = " and ".join(bone for bone in ("hips", "head") if bone not in bones)
        raise ModelRefused(
            RefusalCode.MISSING_HUMANOID,
            f"The avatar's humanoid skeleton has no {missing} bone, so it cannot be posed or framed.",
        )
    if vrm_version == "1.0":
        absent = [bone for bone in VRM1_REQUIRED_BONES if bone not in bones]
        if absent:
            warnings.append(f"humanoid bones that VRM 1.0 requires are missing: {', '.join(absent)}")


def _vrm1_bones(vrm: dict[str, Any], checker: ReferenceChecker, warnings: list[str]) -> set[str]:
    bones = as_dict(as_dict(vrm.get("humanoid")).get("humanBones"))
    found: set[str] = set()
    for name, bone in bones.items():
        if checker.index(
            f"VRMC_vrm.humanoid.humanBones.{name}.node", as_dict(bone).get("node"), "nodes", optional=False
        ):
            found.add(name)
    return found


def _vrm0_bones(vrm: dict[str, Any], checker: ReferenceChecker) -> set[str]:
    found: set[str] = set()
    for i, bone in enumerate(dicts(as_dict(vrm.get("humanoid")).get("humanBones"))):
        if checker.index(f"VRM.humanoid.humanBones[{i}].node", bone.get("node"), "nodes", optional=False) and (
            isinstance(bone.get("bone"), str)
        ):
            found.add(bone["bone"])
    return found


def _vrm1_expressions(vrm: dict[str, Any], checker: ReferenceChecker) -> list[ExpressionInfo]:
    nodes = checker.arrays["nodes"]
    found: list[ExpressionInfo] = []
    expressions = as_dict(vrm.get("expressions"))
    for group, is_preset in (("preset", True), ("custom", False)):
        for name, raw_expression in as_dict(expressions.get(group)).items():
            expression = as_dict(raw_expression)
            where = f"VRMC_vrm.expressions.{group}.{name}"
            binds = 0
            for i, bind in enumerate(dicts(expression.get("morphTargetBinds"))):
                if checker.index(f"{where}.morphTargetBinds[{i}].node", bind.get("node"), "nodes", optional=False):
                    mesh = nodes[bind["node"]].get("mesh")
                    if isinstance(mesh, bool) or not (isinstance(mesh, int) and 0 <= mesh < checker.counts["meshes"]):
                        checker.problems.append(f"{where}.morphTargetBinds[{i}] names node {bind['node']}, no mesh")
                        continue
                    _check_target(checker, f"{where}.morphTargetBinds[{i}].index", bind.get("index"), mesh)
                binds += 1
            for kind in ("materialColorBinds", "textureTransformBinds"):
                for i, bind in enumerate(as_list(expression.get(kind))):
                    checker.index(f"{where}.{kind}[{i}].material", as_dict(bind).get("material"), "materials")
                    binds += 1
            found.append(ExpressionInfo(clean_text(name, 100), is_preset, binds))
    return found


def _vrm0_expressions(vrm: dict[str, Any], checker: ReferenceChecker) -> list[ExpressionInfo]:
    found: list[ExpressionInfo] = []
    for g, group in enumerate(dicts(as_dict(vrm.get("blendShapeMaster")).get("blendShapeGroups"))):
        preset = str(group.get("presetName") or "unknown").lower()
        name = VRM0_PRESETS.get(preset) or clean_text(str(group.get("name") or f"group{g}"), 100)
        where = f"VRM.blendShapeMaster.blendShapeGroups[{g}]"
        binds = 0
        for i, bind in enumerate(dicts(group.get("binds"))):
            if checker.index(f"{where}.binds[{i}].mesh", bind.get("mesh"), "meshes", optional=False):
                _check_target(checker, f"{where}.binds[{i}].index", bind.get("index"), bind["mesh"])
            binds += 1
        binds += len(as_list(group.get("materialValues")))
        found.append(ExpressionInfo(name, preset in VRM0_PRESETS, binds))
    return found


def _vrm1_extension_refs(vrm: dict[str, Any], spring: dict[str, Any], checker: ReferenceChecker) -> None:
    """First-person annotations and VRMC_springBone: Godot's VRM add-ons walk these nodes."""
    for i, annotation in enumerate(dicts(as_dict(vrm.get("firstPerson")).get("meshAnnotations"))):
        checker.index(f"VRMC_vrm.firstPerson.meshAnnotations[{i}].node", annotation.get("node"), "nodes")
    colliders = as_list(spring.get("colliders"))
    groups = as_list(spring.get("colliderGroups"))
    for i, collider in enumerate(dicts(colliders)):
        checker.index(f"VRMC_springBone.colliders[{i}].node", collider.get("node"), "nodes", optional=False)
    for i, group in enumerate(dicts(groups)):
        for j, collider_index in enumerate(as_list(group.get("colliders"))):
            checker.position(
                f"VRMC_springBone.colliderGroups[{i}].colliders[{j}]", collider_index, colliders, "colliders"
            )
    for i, chain in enumerate(dicts(spring.get("springs"))):
        where = f"VRMC_springBone.springs[{i}]"
        for j, joint in enumerate(dicts(chain.get("joints"))):
            checker.index(f"{where}.joints[{j}].node", joint.get("node"), "nodes", optional=False)
        for j, group_index in enumerate(as_list(chain.get("colliderGroups"))):
            checker.position(f"{where}.colliderGroups[{j}]", group_index, groups, "collider groups")
        checker.index(f"{where}.center", chain.get("center"), "nodes")


def _vrm0_extension_refs(vrm: dict[str, Any], checker: ReferenceChecker) -> None:
    """VRM 0.x first person and secondary animation (spring bones); -1 means "none" there."""
    first_person = as_dict(vrm.get("firstPerson"))
    checker.index("VRM.firstPerson.firstPersonBone", first_person.get("firstPersonBone"), "nodes", allow_minus_one=True)
    for i, annotation in enumerate(dicts(first_person.get("meshAnnotations"))):
        checker.index(
            f"VRM.firstPerson.meshAnnotations[{i}].mesh", annotation.get("mesh"), "meshes", allow_minus_one=True
        )
    secondary = as_dict(vrm.get("secondaryAnimation"))
    groups = as_list(secondary.get("colliderGroups"))
    for i, group in enumerate(dicts(groups)):
        checker.index(
            f"VRM.secondaryAnimation.colliderGroups[{i}].node", group.get("node"), "nodes", allow_minus_one=True
        )
    for i, bones in enumerate(dicts(secondary.get("boneGroups"))):
        where = f"VRM.secondaryAnimation.boneGroups[{i}]"
        for j, bone in enumerate(as_list(bones.get("bones"))):
            checker.index(f"{where}.bones[{j}]", bone, "nodes", optional=False)
        checker.index(f"{where}.center", bones.get("center"), "nodes", allow_minus_one=True)
        for j, group_index in enumerate(as_list(bones.get("colliderGroups"))):
            checker.position(f"{where}.colliderGroups[{j}]", group_index, groups, "collider groups")


def _check_target(checker: ReferenceChecker, where: str, index: Any, mesh: int) -> None:
    count = checker.morph_targets(mesh)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
        checker.problems.append(f"{where} is {index!r} but that mesh has {count} morph targets")


def _read_thumbnail(
    stream: BinaryIO, document: dict[str, Any], layout: GlbLayout, image: int, limits: InspectionLimits
) -> tuple[str, bytes] | None:
    """The thumbnail's bytes when it lives in the BIN chunk (the usual case); only that slice is read."""
    source = objects(document, "images")[image]
    view_index = source.get("bufferView")
    if not isinstance(view_index, int) or layout.bin_offset is None:
        return None
    view = objects(document, "bufferViews")[view_index]
    if view.get("buffer") != 0:
        return None
    offset = view.get("byteOffset", 0)
    length = view.get("byteLength", 0)
    # References were checked, but sizes are read here again: only a slice inside the BIN chunk, within the limit.
    valid = all(isinstance(n, int) and not isinstance(n, bool) for n in (offset, length))
    if not valid or offset < 0 or not 0 < length <= limits.max_thumbnail_bytes or offset + length > layout.bin_length:
        return None
    stream.seek(layout.bin_offset + offset)
    data = stream.read(length)
    mime = source.get("mimeType")
    return (clean_text(mime, 100) if isinstance(mime, str) else "application/octet-stream"), data
