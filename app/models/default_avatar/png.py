"""A byte-for-byte reproducible PNG writer, and the built-in avatar's thumbnail drawn in code.

zlib's compressed output differs between zlib builds (zlib, zlib-ng, ...), which would change the avatar's sha256
from one machine to the next. The image data is therefore written as *stored* deflate blocks, whose bytes the
format fixes completely; a 128 x 128 thumbnail stays under 50 KB that way.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import numpy.typing as npt

_STORED_BLOCK = 0xFFFF
_SUPERSAMPLE = 4

FloatImage = npt.NDArray[np.float64]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def stored_zlib(data: bytes) -> bytes:
    """A zlib stream of uncompressed (stored) deflate blocks: the same bytes from every zlib build."""
    out = bytearray(b"\x78\x01")
    for start in range(0, max(len(data), 1), _STORED_BLOCK):
        block = data[start : start + _STORED_BLOCK]
        final = 1 if start + _STORED_BLOCK >= len(data) else 0
        out += struct.pack("<BHH", final, len(block), len(block) ^ 0xFFFF) + block
    return bytes(out + struct.pack(">I", zlib.adler32(data)))


def encode_png(rgb: npt.NDArray[np.uint8]) -> bytes:
    """An 8-bit RGB PNG of an (height, width, 3) array."""
    height, width, channels = rgb.shape
    if channels != 3:
        raise ValueError("encode_png takes an RGB image")
    rows = np.concatenate([np.zeros((height, 1), np.uint8), rgb.reshape(height, width * 3)], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", stored_zlib(rows.tobytes()))
        + _chunk(b"IEND", b"")
    )


def _srgb(hex_colour: str) -> npt.NDArray[np.float64]:
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], np.float64)


class _Canvas:
    """Shapes painted over each other with anti-aliased edges (coverage from a supersampled grid)."""

    def __init__(self, size: int, background: str) -> None:
        self.size = size
        fine = size * _SUPERSAMPLE
        # Sample centres in a unit square, y pointing down as in the image.
        centres = (np.arange(fine, dtype=np.float64) + 0.5) / fine
        self.x, self.y = np.meshgrid(centres, centres)
        self.pixels: FloatImage = np.broadcast_to(_srgb(background), (size, size, 3)).copy()

    def paint(self, inside: npt.NDArray[np.bool_], colour: str) -> None:
        n = self.size
        coverage = inside.reshape(n, _SUPERSAMPLE, n, _SUPERSAMPLE).mean(axis=(1, 3))[..., None]
        self.pixels = self.pixels * (1.0 - coverage) + _srgb(colour) * coverage

    def ellipse(self, cx: float, cy: float, rx: float, ry: float) -> npt.NDArray[np.bool_]:
        result: npt.NDArray[np.bool_] = ((self.x - cx) / rx) ** 2 + ((self.y - cy) / ry) ** 2 <= 1.0
        return result

    def rgb(self) -> npt.NDArray[np.uint8]:
        return np.clip(np.floor(self.pixels + 0.5), 0, 255).astype(np.uint8)


def draw_thumbnail(palette: dict[str, str], size: int = 128) -> bytes:
    """Tama's face, front on: only arithmetic and comparisons, so every machine draws the same pixels."""
    canvas = _Canvas(size, palette["background"])
    canvas.paint(canvas.ellipse(0.5, 0.5, 0.47, 0.47), palette["halo"])
    hair = canvas.ellipse(0.5, 0.47, 0.36, 0.35)
    canvas.paint(canvas.ellipse(0.2, 0.2, 0.11, 0.11) | canvas.ellipse(0.8, 0.2, 0.11, 0.11), palette["hair"])
    canvas.paint(hair, palette["hair"])
    face = canvas.ellipse(0.5, 0.57, 0.3, 0.28)
    canvas.paint(face, palette["skin"])
    # A fringe of pointed strands: a parabola arc between tips every 0.08 across.
    phase = (canvas.x - 0.5) / 0.08
    arc = 2.0 * np.abs(phase - np.round(phase))
    canvas.paint(hair & (canvas.y < 0.47 - 0.06 * arc * (2.0 - arc)), palette["hair"])
    side_locks = canvas.ellipse(0.225, 0.55, 0.06, 0.19) | canvas.ellipse(0.775, 0.55, 0.06, 0.19)
    canvas.paint(side_locks & (canvas.y > 0.4), palette["hair"])
    for side in (-1.0, 1.0):
        canvas.paint(canvas.ellipse(0.5 + side * 0.19, 0.66, 0.055, 0.035), palette["blush"])
        canvas.paint(canvas.ellipse(0.5 + side * 0.11, 0.56, 0.04, 0.06), palette["eyes"])
        canvas.paint(canvas.ellipse(0.5 + side * 0.11 + 0.014, 0.535, 0.015, 0.018), palette["highlight"])
    # A smile: the part of a ring below its centre.
    ring = canvas.ellipse(0.5, 0.64, 0.075, 0.06) & ~canvas.ellipse(0.5, 0.625, 0.07, 0.05)
    canvas.paint(ring & (canvas.y > 0.655), palette["mouth"])
    return encode_png(canvas.rgb())
