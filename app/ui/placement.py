"""Where the tamagotchi window goes: remembered per screen layout, always (mostly) on a screen, aligned on request.

Plain geometry on ``(x, y, width, height)`` tuples, so it is tested without Qt; the window passes its screens in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.config.model import Corner

Rect = tuple[int, int, int, int]

MIN_SIZE = (200, 260)
MAX_SIZE = (1600, 2000)
DEFAULT_SIZE = (450, 600)
MARGIN = 16
VISIBLE_PART = 80
"""At least this many pixels of the window stay on a screen, so it can always be grabbed again."""


@dataclass(frozen=True)
class Screen:
    name: str
    geometry: Rect
    available: Rect
    """The work area (without panels and docks)."""


def screen_key(screens: Sequence[Screen]) -> str:
    """Names one monitor layout: the window remembers a place per layout (laptop alone, laptop plus a monitor...)."""
    return "|".join(f"{s.name}@{s.geometry[2]}x{s.geometry[3]}+{s.geometry[0]}+{s.geometry[1]}" for s in screens)


def clamp_size(width: int, height: int, screen: Screen | None = None) -> tuple[int, int]:
    max_w, max_h = MAX_SIZE
    if screen is not None:
        max_w, max_h = min(max_w, screen.available[2]), min(max_h, screen.available[3])
    return max(MIN_SIZE[0], min(width, max_w)), max(MIN_SIZE[1], min(height, max_h))


def _overlap(a: Rect, b: Rect) -> int:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0, w) * max(0, h)


def screen_of(rect: Rect, screens: Sequence[Screen]) -> Screen:
    """The screen showing most of ``rect`` (the first screen when it is on none)."""
    return max(screens, key=lambda s: _overlap(rect, s.available)) if screens else Screen("none", rect, rect)


def keep_on_screen(rect: Rect, screens: Sequence[Screen]) -> Rect:
    """``rect`` sized to fit, and moved so that enough of it shows on the screen it is mostly on."""
    screen = screen_of(rect, screens)
    width, height = clamp_size(rect[2], rect[3], screen)
    ax, ay, aw, ah = screen.available
    if _overlap(rect, screen.available) == 0:
        return aligned(screen, (width, height), "bottom-right")
    x = min(max(rect[0], ax - width + VISIBLE_PART), ax + aw - VISIBLE_PART)
    y = min(max(rect[1], ay), ay + ah - VISIBLE_PART)  # the top edge never goes above the work area
    return x, y, width, height


def aligned(screen: Screen, size: tuple[int, int], corner: Corner) -> Rect:
    ax, ay, aw, ah = screen.available
    width, height = clamp_size(size[0], size[1], screen)
    left, right = ax + MARGIN, ax + aw - width - MARGIN
    top, bottom = ay + MARGIN, ay + ah - height - MARGIN
    positions = {
        "top-left": (left, top),
        "top-right": (right, top),
        "bottom-left": (left, bottom),
        "bottom-right": (right, bottom),
        "center": (ax + (aw - width) // 2, ay + (ah - height) // 2),
    }
    x, y = positions[corner]
    return x, y, width, height


def initial_place(remembered: Rect | None, screens: Sequence[Screen], primary: Screen) -> Rect:
    """The remembered place for this layout (kept on screen), else the default size at the primary's bottom right."""
    if remembered is not None:
        return keep_on_screen(remembered, screens)
    return aligned(primary, DEFAULT_SIZE, "bottom-right")
