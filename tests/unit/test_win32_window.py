"""The Windows stage-window finder and mover, driven through a stand-in for exactly the user32 calls they make (this
machine has no Windows): which window is the stage's, and what each glue request asks of Windows."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any

from app.ui.win32_window import (
    GWLP_HWNDPARENT,
    SW_HIDE,
    SW_SHOWNOACTIVATE,
    SWP_NOACTIVATE,
    Win32WindowFinder,
    Win32WindowMover,
)


@dataclass
class Window:
    pid: int
    visible: bool = True
    owner: int = 0
    rect: tuple[int, int, int, int] = (0, 0, 100, 100)  # left, top, right, bottom


@dataclass
class User32:
    """Windows' desktop in miniature: windows in z-order, and a record of the calls that change them."""

    windows: dict[int, Window] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def EnumWindows(self, callback: Any, param: int) -> int:  # noqa: N802 - the Win32 names
        for hwnd in list(self.windows):
            if not callback(hwnd, param):
                break
        return 1

    def GetWindowThreadProcessId(self, hwnd: int, pid: Any) -> int:  # noqa: N802
        pid._obj.value = self.windows[hwnd].pid
        return 1

    def IsWindowVisible(self, hwnd: int) -> int:  # noqa: N802
        return int(self.windows[hwnd].visible)

    def GetWindow(self, hwnd: int, command: int) -> int:  # noqa: N802
        assert command == 4  # GW_OWNER
        return self.windows[hwnd].owner

    def IsWindow(self, hwnd: int) -> int:  # noqa: N802
        return int(hwnd in self.windows)

    def GetWindowRect(self, hwnd: int, rect: Any) -> int:  # noqa: N802
        box = rect._obj
        box.left, box.top, box.right, box.bottom = self.windows[hwnd].rect
        return 1

    def SetWindowLongPtrW(self, hwnd: int, index: int, value: int) -> int:  # noqa: N802
        self.calls.append(("SetWindowLongPtrW", hwnd, index, value))
        return 0

    def SetWindowPos(self, hwnd: int, after: int, x: int, y: int, cx: int, cy: int, flags: int) -> int:  # noqa: N802, PLR0917
        self.calls.append(("SetWindowPos", hwnd, x, y, cx, cy, flags))
        self.windows[hwnd].rect = (x, y, x + cx, y + cy)
        return 1

    def ShowWindow(self, hwnd: int, command: int) -> int:  # noqa: N802
        self.calls.append(("ShowWindow", hwnd, command))
        self.windows[hwnd].visible = command != SW_HIDE
        return 1


def test_the_stage_window_is_the_visible_unowned_window_of_its_process() -> None:
    user32 = User32(
        {
            10: Window(pid=7),  # another program
            11: Window(pid=42, visible=False),  # the stage's hidden helper window
            12: Window(pid=42, owner=13),  # a dialog the stage owns
            13: Window(pid=42),  # the stage's window
            14: Window(pid=42),  # not reached: the search stops at the first match
        }
    )
    assert Win32WindowFinder(user32).window_of(42) == 13
    assert Win32WindowFinder(user32).window_of(99) is None


def test_the_mover_owns_places_shows_and_reads_the_window() -> None:
    user32 = User32({13: Window(pid=42)})
    mover = Win32WindowMover(user32)
    mover.keep_above(13, 500)
    mover.place(13, (40, 50, 300, 400))
    mover.set_visible(13, False)
    mover.set_visible(13, True)
    mover.refresh_input_shape(13)
    assert user32.calls == [
        ("SetWindowLongPtrW", 13, GWLP_HWNDPARENT, 500),
        ("SetWindowPos", 13, 40, 50, 300, 400, SWP_NOACTIVATE),
        ("ShowWindow", 13, SW_HIDE),
        ("ShowWindow", 13, SW_SHOWNOACTIVATE),
    ]
    assert mover.geometry(13) == (40, 50, 300, 400)
    del user32.windows[13]  # the stage quit
    assert mover.geometry(13) is None
    mover.close()


def test_the_rectangle_matches_windows_layout() -> None:
    from app.ui.win32_window import _RECT  # noqa: PLC0415 - the struct Windows fills in

    assert ctypes.sizeof(_RECT) == 16 and [name for name, _type in _RECT._fields_] == ["left", "top", "right", "bottom"]


def test_each_platform_gets_its_own_window_calls_or_none() -> None:
    from app.ui.desktop import _stage_window_calls  # noqa: PLC0415 - Qt's side of the app
    from app.ui.native_stage import X11WindowFinder  # noqa: PLC0415
    from app.ui.stage_glue import X11WindowMover  # noqa: PLC0415

    x11 = _stage_window_calls("xcb")
    windows = _stage_window_calls("windows")
    assert x11 is not None and isinstance(x11[0], X11WindowFinder) and isinstance(x11[1], X11WindowMover)
    assert windows is not None and isinstance(windows[0], Win32WindowFinder)
    assert isinstance(windows[1], Win32WindowMover)
    assert _stage_window_calls("cocoa") is None and _stage_window_calls("wayland") is None
