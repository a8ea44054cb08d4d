"""The click-through's X11 link on a real X server (Xvfb): one connection kept for every read and shape, the alpha of
another client's 32-bit window read right, a window gone meanwhile answered with None (the link keeps working)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from Xlib import X, display
from Xlib.ext import shape

from app.ui.x11_window import X11Link
from tests.support.xvfb import XvfbUnavailable, running_xvfb

pytestmark = pytest.mark.tier3


@pytest.fixture
def x_display() -> Iterator[str]:
    try:
        with running_xvfb() as name:
            yield name
    except XvfbUnavailable as missing:
        pytest.skip(str(missing))


def argb_window(connection: Any, width: int, height: int) -> Any:
    """A mapped 32-bit window of another client, its left half opaque and its right half clear."""
    screen = connection.screen()
    visual = next(
        v.visual_id
        for depth in screen.allowed_depths
        if depth.depth == 32
        for v in depth.visuals
        if v.visual_class == X.TrueColor
    )
    colormap = screen.root.create_colormap(visual, X.AllocNone)
    window = screen.root.create_window(
        0, 0, width, height, 0, 32, X.InputOutput, visual, colormap=colormap, border_pixel=0, background_pixel=0
    )
    window.map()
    pixels = np.zeros((height, width, 4), np.uint8)
    pixels[:, : width // 2] = (40, 80, 200, 255)  # BGRA: opaque blue on the left
    gc = window.create_gc()
    window.put_image(gc, 0, 0, width, height, X.ZPixmap, 32, 0, pixels.tobytes())
    connection.sync()
    return window


def test_one_connection_reads_alpha_and_shapes_input_and_survives_a_window_that_went_away(x_display: str) -> None:
    other = display.Display(x_display)
    link = X11Link(x_display)
    try:
        stage = argb_window(other, 64, 32)
        alphas = [link.window_alpha(stage.id) for _ in range(5)]
        opened = link._connection
        for alpha in alphas:
            assert alpha is not None and alpha.shape == (32, 64)
            assert (alpha[:, :32] == 255).all() and (alpha[:, 32:] == 0).all()
        assert link.set_input_shape(stage.id, [(0, 0, 32, 32)])
        rects = shape.get_rectangles(other.create_resource_object("window", stage.id), shape.SK.Input).rectangles
        assert [(r.x, r.y, r.width, r.height) for r in rects] == [(0, 0, 32, 32)]
        assert link._connection is opened  # kept, not one connection per request

        stage.destroy()
        other.sync()
        assert link.window_alpha(stage.id) is None
        link.set_input_shape(stage.id, [(0, 0, 1, 1)])  # an X error comes later, logged, not raised
        again = argb_window(other, 16, 16)
        assert (alpha := link.window_alpha(again.id)) is not None and alpha.shape == (16, 16)
        assert link._connection is opened
    finally:
        link.close()
        other.close()
    assert X11Link(":987").window_alpha(1) is None  # no X server there: None, no exception


def test_a_window_without_alpha_or_not_drawn_still_tells_its_place(x_display: str) -> None:
    # A restarted stage's window, before it is drawn (or without alpha), must still be put in its place: its place
    # comes back without an alpha, where the link gave nothing at all before and the window stayed over the controls.
    other = display.Display(x_display)
    link = X11Link(x_display)
    try:
        screen = other.screen()
        plain = screen.root.create_window(5, 7, 40, 30, 0, screen.root_depth, X.InputOutput, X.CopyFromParent)
        other.sync()  # never mapped: its pixels cannot be read
        assert link.window_alpha_and_place(plain.id) == (None, (5, 7, 40, 30))
        assert link.window_alpha(plain.id) is None
        plain.destroy()
        other.sync()
        assert link.window_alpha_and_place(plain.id) is None  # gone: nothing to place
    finally:
        link.close()
        other.close()
