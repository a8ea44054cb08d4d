"""Rounded shapes as triangle meshes: ellipsoids for the body and thin "decals" that hug the head for the face.

Every shape is the same unit-sphere lattice moved somewhere else, so two shapes built from one lattice have the same
vertices in the same order: a morph target is simply the difference of two decals (a closed and an open mouth).

Positions are rounded to 10 micrometres and normals to 1e-5: the trigonometry below may differ in the last bit
between C libraries, and the rounding keeps the avatar's bytes (and so its sha256) the same on every machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

Vec3 = tuple[float, float, float]
Points = npt.NDArray[np.float64]
Triangles = npt.NDArray[np.uint32]
_DECIMALS = 5


@dataclass(frozen=True)
class Lattice:
    """Unit-sphere vertices (one per pole, ``rings - 1`` rings of ``segments``) and outward triangles."""

    points: Points
    triangles: Triangles


@cache
def lattice(rings: int = 14, segments: int = 24) -> Lattice:
    points: list[Vec3] = [(0.0, 1.0, 0.0)]
    for ring in range(1, rings):
        polar = math.pi * ring / rings
        y, radius = math.cos(polar), math.sin(polar)
        for segment in range(segments):
            azimuth = 2.0 * math.pi * segment / segments
            points.append((radius * math.sin(azimuth), y, radius * math.cos(azimuth)))
    points.append((0.0, -1.0, 0.0))
    bottom = len(points) - 1
    triangles: list[tuple[int, int, int]] = []

    def at(ring: int, segment: int) -> int:
        return 1 + (ring - 1) * segments + segment % segments

    for segment in range(segments):
        triangles.append((0, at(1, segment), at(1, segment + 1)))
        triangles.append((bottom, at(rings - 1, segment + 1), at(rings - 1, segment)))
        for ring in range(1, rings - 1):
            a, b = at(ring, segment), at(ring, segment + 1)
            c, d = at(ring + 1, segment), at(ring + 1, segment + 1)
            triangles += [(a, c, d), (a, d, b)]
    return Lattice(np.array(points, np.float64), np.array(triangles, np.uint32))


def quantize(points: Points) -> Points:
    rounded: Points = np.round(points, _DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    return rounded


def ellipsoid(centre: Vec3, semi: Vec3, shape: Lattice) -> Points:
    return quantize(np.asarray(centre) + shape.points * np.asarray(semi))


def vertex_normals(points: Points, triangles: Triangles) -> Points:
    """Area-weighted smooth normals, unit length after rounding."""
    corners = points[triangles.astype(np.int64)]
    face = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    summed = np.zeros_like(points)
    for corner in range(3):
        np.add.at(summed, triangles[:, corner].astype(np.int64), face)
    length = np.sqrt((summed**2).sum(axis=1, keepdims=True))
    normals = summed / np.where(length > 0, length, 1.0)
    normals[length[:, 0] == 0] = (0.0, 0.0, 1.0)
    rounded: Points = np.round(normals, _DECIMALS) + 0.0
    return rounded


@dataclass(frozen=True)
class Surface:
    """The front of an ellipsoid (the head), onto which face decals are laid."""

    centre: Vec3
    semi: Vec3

    def depth_at(self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        cx, cy, cz = self.centre
        a, b, c = self.semi
        inside = np.clip(1.0 - ((x - cx) / a) ** 2 - ((y - cy) / b) ** 2, 0.0, 1.0)
        result: npt.NDArray[np.float64] = cz + c * np.sqrt(inside)
        return result


@dataclass(frozen=True)
class Decal:
    """A flat ellipse on a surface: semi-axes in x and y, bent into a curve (``bend`` lifts the ends by
    ``bend * dx**2``: positive smiles, negative frowns), ``thickness`` deep, raised ``lift`` above the surface."""

    centre: tuple[float, float]
    semi: tuple[float, float]
    bend: float = 0.0
    thickness: float = 0.006
    lift: float = 0.0

    def points(self, surface: Surface, shape: Lattice) -> Points:
        unit = shape.points
        dx = unit[:, 0] * self.semi[0]
        x = self.centre[0] + dx
        y = self.centre[1] + unit[:, 1] * self.semi[1] + self.bend * dx**2
        z = surface.depth_at(x, y) + self.lift + unit[:, 2] * self.thickness
        return quantize(np.stack([x, y, z], axis=1))
