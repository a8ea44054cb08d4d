"""Where the tamagotchi window goes: per-layout memory, kept on screen, sized within bounds, aligned."""

from __future__ import annotations

from app.ui.placement import (
    DEFAULT_SIZE,
    MARGIN,
    MIN_SIZE,
    VISIBLE_PART,
    Screen,
    aligned,
    clamp_size,
    initial_place,
    keep_on_screen,
    screen_key,
)

LAPTOP = Screen("eDP-1", (0, 0, 1920, 1080), (0, 0, 1920, 1040))
MONITOR = Screen("HDMI-1", (1920, 0, 2560, 1440), (1920, 0, 2560, 1400))


def test_each_monitor_layout_has_its_own_key() -> None:
    assert screen_key([LAPTOP]) != screen_key([LAPTOP, MONITOR])
    assert screen_key([LAPTOP, MONITOR]) == screen_key([LAPTOP, MONITOR])
    moved = Screen("HDMI-1", (0, 1080, 2560, 1440), (0, 1080, 2560, 1400))
    assert screen_key([LAPTOP, MONITOR]) != screen_key([LAPTOP, moved])


def test_sizes_stay_within_the_bounds_and_the_screen() -> None:
    assert clamp_size(10, 10) == MIN_SIZE
    assert clamp_size(5000, 5000, LAPTOP) == (1600, 1040)  # the maximum width, the work area's height
    assert clamp_size(450, 600, LAPTOP) == (450, 600)


def test_a_first_start_puts_the_default_size_at_the_bottom_right_of_the_work_area() -> None:
    x, y, width, height = initial_place(None, [LAPTOP], LAPTOP)
    assert (width, height) == DEFAULT_SIZE
    assert (x + width, y + height) == (1920 - MARGIN, 1040 - MARGIN)


def test_a_window_left_on_an_unplugged_monitor_comes_back_to_one_that_exists() -> None:
    on_monitor = (3000, 300, 450, 600)
    x, y, width, height = keep_on_screen(on_monitor, [LAPTOP])
    assert x >= 0 and x + width <= 1920 and y >= 0 and y + height <= 1040


def test_a_window_partly_off_screen_keeps_enough_of_itself_visible_to_grab() -> None:
    x, y, _w, _h = keep_on_screen((1900, -200, 450, 600), [LAPTOP])
    assert y == 0  # the top edge (where it is grabbed) is never above the work area
    assert x <= 1920 - VISIBLE_PART
    x, _y, _w, _h = keep_on_screen((-440, 100, 450, 600), [LAPTOP])
    assert x + 450 >= VISIBLE_PART


def test_a_remembered_place_that_fits_is_kept_exactly() -> None:
    assert initial_place((2100, 200, 500, 700), [LAPTOP, MONITOR], LAPTOP) == (2100, 200, 500, 700)


def test_alignment_to_corners_and_centre_uses_the_work_area() -> None:
    size = (400, 500)
    assert aligned(MONITOR, size, "top-left")[:2] == (1920 + MARGIN, MARGIN)
    assert aligned(MONITOR, size, "bottom-right")[:2] == (1920 + 2560 - 400 - MARGIN, 1400 - 500 - MARGIN)
    assert aligned(MONITOR, size, "center")[:2] == (1920 + (2560 - 400) // 2, (1400 - 500) // 2)
    assert aligned(LAPTOP, (4000, 4000), "center") == (160, 0, 1600, 1040)
