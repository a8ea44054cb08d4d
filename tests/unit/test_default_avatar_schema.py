"""The built-in avatar against the parts of the VRM schemas that matter, written out in our own code for CI.

The official JSON Schema files (vrm-c/vrm-specification) cannot be fetched here. What this test encodes comes from
the specification text (specification/VRMC_vrm-1.0/meta.md, humanoid.md, expressions.md and the VRM 0.0 README):
required fields, the enums of the license and permission fields, the humanoid bone names and the required bones,
expression and blend-shape preset names, override modes and weight ranges.

Checked in the session that wrote this (not repeated in CI, it needs packages from npm): the VRMC_vrm and VRM
extension objects of both outputs type-check with TypeScript (``tsc --strict``, excess-property checks on) against
pixiv's ``@pixiv/types-vrmc-vrm-1.0`` and ``@pixiv/types-vrm-0.0`` 3.5.5, which are generated from those schemas;
the only diagnostic was the typings' own ``preset`` field on an expression, which the official schema does not have.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.models.default_avatar import build_default_avatar
from tests.support.glb import parse_glb

_SIDES = ("left", "right")
_FINGERS_1 = [
    f"{side}{finger}{joint}"
    for side in _SIDES
    for finger, joints in (
        ("Thumb", ("Metacarpal", "Proximal", "Distal")),
        *((name, ("Proximal", "Intermediate", "Distal")) for name in ("Index", "Middle", "Ring", "Little")),
    )
    for joint in joints
]
VRM1_BONES = {
    "hips", "spine", "chest", "upperChest", "neck", "head", "leftEye", "rightEye", "jaw",
    *(f"{side}{part}" for side in _SIDES for part in (
        "UpperLeg", "LowerLeg", "Foot", "Toes", "Shoulder", "UpperArm", "LowerArm", "Hand")),
    *_FINGERS_1,
}  # fmt: skip
VRM1_REQUIRED = {
    "hips", "spine", "head",
    *(f"{side}{part}" for side in _SIDES for part in ("UpperLeg", "LowerLeg", "Foot", "UpperArm", "LowerArm", "Hand")),
}  # fmt: skip
VRM0_REQUIRED = VRM1_REQUIRED | {"chest", "neck"}
VRM1_PRESETS = {
    "happy", "angry", "sad", "relaxed", "surprised", "aa", "ih", "ou", "ee", "oh",
    "blink", "blinkLeft", "blinkRight", "lookUp", "lookDown", "lookLeft", "lookRight", "neutral",
}  # fmt: skip
VRM0_PRESETS = {
    "unknown", "neutral", "a", "i", "u", "e", "o", "blink", "joy", "angry", "sorrow", "fun",
    "lookup", "lookdown", "lookleft", "lookright", "blink_l", "blink_r",
}  # fmt: skip
VRM1_META_ENUMS = {
    "avatarPermission": {"onlyAuthor", "onlySeparatelyLicensedPerson", "everyone"},
    "commercialUsage": {"personalNonProfit", "personalProfit", "corporation"},
    "creditNotation": {"required", "unnecessary"},
    "modification": {"prohibited", "allowModification", "allowModificationRedistribution"},
}
VRM1_META_FLAGS = {
    "allowExcessivelyViolentUsage", "allowExcessivelySexualUsage", "allowPoliticalOrReligiousUsage",
    "allowAntisocialOrHateUsage", "allowRedistribution",
}  # fmt: skip
VRM1_META_TEXT = {"name", "version", "copyrightInformation", "contactInformation", "thirdPartyLicenses", "licenseUrl"}
VRM1_META_KEYS = {*VRM1_META_ENUMS, *VRM1_META_FLAGS, *VRM1_META_TEXT, "authors", "references", "thumbnailImage"}
VRM0_META_ENUMS = {
    "allowedUserName": {"OnlyAuthor", "ExplicitlyLicensedPerson", "Everyone"},
    "violentUssageName": {"Disallow", "Allow"},
    "sexualUssageName": {"Disallow", "Allow"},
    "commercialUssageName": {"Disallow", "Allow"},
    "licenseName": {
        "Redistribution_Prohibited", "CC0", "CC_BY", "CC_BY_NC", "CC_BY_SA", "CC_BY_NC_SA", "CC_BY_ND", "CC_BY_NC_ND",
        "Other",
    },
}  # fmt: skip
VRM0_META_TEXT = {
    "title",
    "version",
    "author",
    "contactInformation",
    "reference",
    "otherPermissionUrl",
    "otherLicenseUrl",
}
OVERRIDES = {"none", "block", "blend"}


def _vrm(version: str) -> tuple[dict[str, Any], dict[str, Any]]:
    document, _blob = parse_glb(build_default_avatar(version))  # type: ignore[arg-type]
    return document, document["extensions"]["VRMC_vrm" if version == "1.0" else "VRM"]


def _index(value: Any, count: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < count


def check_vrm1_meta(document: dict[str, Any], vrm: dict[str, Any]) -> None:
    assert "VRMC_vrm" in document["extensionsUsed"] and "VRMC_vrm" not in document.get("extensionsRequired", [])
    assert {"specVersion", "meta", "humanoid"} <= set(vrm) and vrm["specVersion"] == "1.0"
    meta = vrm["meta"]
    assert set(meta) <= VRM1_META_KEYS, set(meta) - VRM1_META_KEYS
    assert isinstance(meta["name"], str) and meta["name"]
    assert isinstance(meta["authors"], list) and any(isinstance(a, str) and a for a in meta["authors"])
    assert meta["licenseUrl"] == "https://vrm.dev/licenses/1.0/"  # the only value VRM 1.0 accepts
    for key, allowed in VRM1_META_ENUMS.items():
        assert meta.get(key) in allowed, key
    assert all(isinstance(meta[key], bool) for key in VRM1_META_FLAGS & set(meta))
    assert all(isinstance(meta[key], str) for key in VRM1_META_TEXT & set(meta))
    assert _index(meta["thumbnailImage"], len(document["images"]))
    assert document["images"][meta["thumbnailImage"]]["mimeType"] in {"image/png", "image/jpeg"}


def check_vrm1_humanoid(document: dict[str, Any], vrm: dict[str, Any]) -> None:
    bones = vrm["humanoid"]["humanBones"]
    assert set(bones) <= VRM1_BONES and set(bones) >= VRM1_REQUIRED
    assert all(set(bone) == {"node"} and _index(bone["node"], len(document["nodes"])) for bone in bones.values())
    assert len({bone["node"] for bone in bones.values()}) == len(bones)
    for bone in bones.values():  # humanoid.md: scale components must be positive
        assert all(value > 0 for value in document["nodes"][bone["node"]].get("scale", [1.0, 1.0, 1.0]))


def check_vrm1_expressions(document: dict[str, Any], vrm: dict[str, Any]) -> None:
    preset = vrm["expressions"]["preset"]
    assert set(preset) <= VRM1_PRESETS
    for expression in preset.values():
        for key in ("overrideBlink", "overrideLookAt", "overrideMouth"):
            assert expression.get(key, "none") in OVERRIDES
        assert isinstance(expression.get("isBinary", False), bool)
        for bind in expression["morphTargetBinds"]:
            assert set(bind) == {"node", "index", "weight"}
            assert _index(bind["node"], len(document["nodes"])) and "mesh" in document["nodes"][bind["node"]]
            assert 0.0 <= bind["weight"] <= 1.0 and isinstance(bind["index"], int) and bind["index"] >= 0


def test_vrm1_meta_humanoid_and_expressions() -> None:
    for check in (check_vrm1_meta, check_vrm1_humanoid, check_vrm1_expressions):
        check(*_vrm("1.0"))


def test_vrm0_meta_humanoid_and_blend_shapes() -> None:
    document, vrm = _vrm("0.x")
    assert "VRM" in document["extensionsUsed"] and vrm["specVersion"] == "0.0"
    meta = vrm["meta"]
    assert set(meta) <= {*VRM0_META_ENUMS, *VRM0_META_TEXT, "texture"}
    for key, allowed in VRM0_META_ENUMS.items():
        assert meta[key] in allowed, key
    assert all(isinstance(meta[key], str) for key in VRM0_META_TEXT)
    assert _index(meta["texture"], len(document["textures"]))  # 0.x points at a texture, not an image
    human_bones = vrm["humanoid"]["humanBones"]
    names = [bone["bone"] for bone in human_bones]
    assert len(set(names)) == len(names) and set(names) >= VRM0_REQUIRED
    assert set(names) <= VRM1_BONES - {"leftThumbMetacarpal", "rightThumbMetacarpal"}
    assert all(_index(bone["node"], len(document["nodes"])) for bone in human_bones)
    assert _index(vrm["firstPerson"]["firstPersonBone"], len(document["nodes"]))
    for group in vrm["blendShapeMaster"]["blendShapeGroups"]:
        assert group["presetName"] in VRM0_PRESETS and isinstance(group["name"], str)
        for bind in group["binds"]:
            assert _index(bind["mesh"], len(document["meshes"])) and 0 <= bind["weight"] <= 100
    assert [prop["shader"] for prop in vrm["materialProperties"]] == ["VRM_USE_GLTFSHADER"] * len(document["materials"])


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("meta", "commercialUsage"), "corporate"),
        (("meta", "licenseUrl"), "https://example.invalid/"),
        (("meta", "authors"), [""]),
        (("humanoid", "humanBones", "hip"), {"node": 1}),
        (("expressions", "preset", "smile"), {"morphTargetBinds": []}),
        (("expressions", "preset", "aa", "overrideMouth"), "mute"),
    ],
)
def test_the_checks_catch_schema_violations(path: tuple[str, ...], value: Any) -> None:
    """The checks fail on what the schema forbids (run against a mutated copy)."""
    document, vrm = _vrm("1.0")
    target = vrm
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    checks = {"meta": check_vrm1_meta, "humanoid": check_vrm1_humanoid, "expressions": check_vrm1_expressions}
    with pytest.raises(AssertionError):
        checks[path[0]](document, vrm)
