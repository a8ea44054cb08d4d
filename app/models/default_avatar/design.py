"""What Tama looks like: the skeleton, the rounded body parts on it, the face and its expressions, the colours.

Coordinates are VRM 1.0's: metres, y up, the avatar faces +Z, so its left hand is on +X. Feet touch y = 0 and the
top of the hair is about 1.55 m up. Proportions are chibi (a big head, stubby arms) so that the whole T-pose fits the
stage's upper-body framing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.models.default_avatar.shapes import Decal, Surface, Vec3

# sRGB colours; the writer converts them to glTF's linear baseColorFactor.
PALETTE = {
    "skin": "#ffdcc6",
    "hair": "#ff6fae",
    "shirt": "#3fb4ff",
    "badge": "#ffe45c",
    "skirt": "#ffc23d",
    "white": "#fff7f0",
    "shoes": "#ff5c5c",
    "eyes": "#2d2452",
    "highlight": "#ffffff",
    "mouth": "#c8364f",
    "blush": "#ff9eb5",
    # Thumbnail only.
    "background": "#fff4fa",
    "halo": "#c9f0ff",
}
FACE_MATERIALS = frozenset({"eyes", "highlight", "mouth", "blush"})
"""Drawn unlit, so the face reads the same under any light."""


@dataclass(frozen=True)
class Bone:
    name: str  # the VRM 1.0 humanoid bone name
    parent: str | None
    position: Vec3  # in model space


@dataclass(frozen=True)
class Part:
    bone: str
    material: str
    centre: Vec3
    semi: Vec3


def _mirrored(bones: list[Bone]) -> list[Bone]:
    """The left-side bones, and the same bones on the right (x mirrored)."""
    result = list(bones)
    for bone in bones:
        parent = bone.parent.replace("left", "right") if bone.parent and bone.parent.startswith("left") else bone.parent
        x, y, z = bone.position
        result.append(Bone(bone.name.replace("left", "right"), parent, (-x, y, z)))
    return result


BONES: list[Bone] = [
    Bone("hips", None, (0.0, 0.64, 0.0)),
    Bone("spine", "hips", (0.0, 0.74, 0.0)),
    Bone("chest", "spine", (0.0, 0.88, 0.0)),
    Bone("neck", "chest", (0.0, 1.04, 0.0)),
    Bone("head", "neck", (0.0, 1.1, 0.0)),
    *_mirrored(
        [
            Bone("leftShoulder", "chest", (0.06, 1.0, 0.0)),
            Bone("leftUpperArm", "leftShoulder", (0.14, 1.0, 0.0)),
            Bone("leftLowerArm", "leftUpperArm", (0.225, 1.0, 0.0)),
            Bone("leftHand", "leftLowerArm", (0.29, 1.0, 0.0)),
            Bone("leftUpperLeg", "hips", (0.09, 0.6, 0.0)),
            Bone("leftLowerLeg", "leftUpperLeg", (0.09, 0.33, 0.0)),
            Bone("leftFoot", "leftLowerLeg", (0.09, 0.07, 0.0)),
        ]
    ),
]

HEAD = Surface(centre=(0.0, 1.3, 0.0), semi=(0.21, 0.2, 0.195))
HAIR = Part("head", "hair", (0.0, 1.318, -0.012), (0.226, 0.218, 0.214))


def _smoothstep(edge0: float, edge1: float, value: float) -> float:
    t = min(max((value - edge0) / (edge1 - edge0), 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


def hair_floor(x: float, z: float) -> float:
    """Below this height the hair sphere is cut off: a bob with a fringe of pointed strands above the eyes and side
    locks down to the cheeks, falling to the nape at the back."""
    slope = 1.372 + 0.5 * (z - 0.2)
    strands = 0.03 * math.pow(abs(math.sin(math.pi * x / 0.07)), 0.6) * _smoothstep(0.06, 0.16, z)
    fringe = slope + strands
    side_locks = fringe - 0.11 * _smoothstep(0.13, 0.19, abs(x))
    return min(fringe, max(side_locks, 1.19))


def _limbs() -> list[Part]:
    parts: list[Part] = []
    for side, sign in (("left", 1.0), ("right", -1.0)):
        parts += [
            Part(f"{side}UpperArm", "shirt", (sign * 0.19, 1.0, 0.0), (0.065, 0.056, 0.056)),
            Part(f"{side}LowerArm", "shirt", (sign * 0.25, 1.0, 0.0), (0.05, 0.048, 0.048)),  # the sleeve goes on
            Part(f"{side}Hand", "skin", (sign * 0.305, 1.0, 0.0), (0.045, 0.045, 0.042)),
            Part(f"{side}UpperLeg", "skin", (sign * 0.085, 0.46, 0.0), (0.064, 0.16, 0.064)),
            Part(f"{side}LowerLeg", "white", (sign * 0.085, 0.21, 0.0), (0.055, 0.15, 0.055)),
            Part(f"{side}Foot", "shoes", (sign * 0.085, 0.045, 0.03), (0.066, 0.045, 0.1)),
            Part("head", "hair", (sign * 0.16, 1.47, -0.06), (0.075, 0.075, 0.075)),  # hair buns
        ]
    return parts


PARTS: list[Part] = [
    Part("head", "skin", HEAD.centre, HEAD.semi),
    Part("neck", "skin", (0.0, 1.08, 0.0), (0.05, 0.07, 0.05)),
    Part("spine", "shirt", (0.0, 0.87, 0.0), (0.165, 0.235, 0.125)),
    Part("chest", "white", (0.0, 1.085, 0.0), (0.105, 0.026, 0.085)),  # collar
    Part("chest", "badge", (0.0, 0.95, 0.112), (0.034, 0.034, 0.018)),
    Part("hips", "skirt", (0.0, 0.67, 0.0), (0.19, 0.11, 0.145)),
    *_limbs(),
]

# The face, as decals on the head. Each feature is a list of decals sharing one material.
EYE_X, EYE_Y = 0.075, 1.312
MOUTH_Y = 1.212


def _eyes(height: float, bend: float = 0.0, drop: float = 0.0) -> list[Decal]:
    return [Decal((side * EYE_X, EYE_Y - drop), (0.028, height), bend, 0.006) for side in (1.0, -1.0)]


def _highlights(shown: bool) -> list[Decal]:
    if not shown:  # shrunk into the middle of the eye and sunk below its surface
        return [Decal((side * EYE_X, EYE_Y - 0.01), (0.001, 0.001), 0.0, 0.001) for side in (1.0, -1.0)]
    return [Decal((side * EYE_X + 0.01, EYE_Y + 0.014), (0.01, 0.012), 0.0, 0.004, 0.004) for side in (1.0, -1.0)]


def _mouth(width: float, height: float, bend: float) -> list[Decal]:
    # The upper lip stays put: a taller mouth opens downwards.
    return [Decal((0.0, MOUTH_Y - (height - 0.008)), (width, height), bend, 0.005)]


NEUTRAL_FACE: dict[str, list[Decal]] = {
    "eyes": _eyes(0.04),
    "highlight": _highlights(True),
    "mouth": _mouth(0.032, 0.008, 9.0),
}
EXPRESSION_FACES: dict[str, dict[str, list[Decal]]] = {
    # Visemes: aa tall and open, ih wide and narrow, ou small and round, ee wide, oh round.
    "aa": {"mouth": _mouth(0.034, 0.04, 2.0)},
    "ih": {"mouth": _mouth(0.05, 0.013, 5.0)},
    "ou": {"mouth": _mouth(0.016, 0.02, 0.0)},
    "ee": {"mouth": _mouth(0.047, 0.022, 4.0)},
    "oh": {"mouth": _mouth(0.026, 0.032, 0.0)},
    # Closed eyes curve down like a sleeping smile.
    "blink": {"eyes": _eyes(0.006, 12.0, 0.012), "highlight": _highlights(False)},
    "happy": {
        "eyes": _eyes(0.007, -14.0, -0.008),
        "highlight": _highlights(False),
        "mouth": _mouth(0.045, 0.026, 10.0),
    },
}
EXPRESSIONS = tuple(EXPRESSION_FACES)
VRM0_PRESETS = {"aa": "a", "ih": "i", "ou": "u", "ee": "e", "oh": "o", "blink": "blink", "happy": "joy"}
CHEEKS = [Decal((side * 0.125, 1.245), (0.034, 0.02), 0.0, 0.003) for side in (1.0, -1.0)]
