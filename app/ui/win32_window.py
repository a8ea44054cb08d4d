"""Windows: find the stage process's top-level window and keep it glued over the tamagotchi window (user32 calls).

The same two jobs as on X11 (:class:`~app.ui.native_stage.X11WindowFinder`, :class:`~app.ui.stage_glue.
X11WindowMover`), through the Win32 API: ``EnumWindows`` + ``GetWindowThreadProcessId`` find the visible, unowned
window of a process; the owner relation (``GWLP_HWNDPARENT``) keeps it above the tamagotchi window and minimises it
with it; ``SetWindowPos``/``ShowWindow``/``GetWindowRect`` place, show and read it. This machine has no Windows: the
tests drive these classes with a stand-in for exactly these user32 functions.
"""

from __future__ import annotations

import ctypes
import logging
from typing import Any

log = logging.getLogger("app.ui.win32_window")

Rect = tuple[int, int, int, int]
GWLP_HWNDPARENT = -8
HWND_TOP = 0
SWP_NOACTIVATE = 0x0010
SWP_NOZORDER = 0x0004
SW_HIDE = 0
SW_SHOWNOACTIVATE = 4


class _RECT(ctypes.Structure):
    # Win32 LONG is 32 bits everywhere (C long is 64 on Linux, where the tests run).
    _fields_ = (
        ("left", ctypes.c_int32),
        ("top", ctypes.c_int32),
        ("right", ctypes.c_int32),
        ("bottom", ctypes.c_int32),
    )


# Windows' callbacks use the stdcall convention; the fallback lets the module load (and be tested) elsewhere.
_WINFUNCTYPE: Any = getattr(ctypes, "WINFUNCTYPE", ctypes.CFUNCTYPE)
_ENUM_WINDOWS_PROC = _WINFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


def _user32() -> Any:
    return ctypes.WinDLL("user32", use_last_error=True)  # type: ignore[attr-defined]  # Windows only


class Win32WindowFinder:
    def __init__(self, user32: Any = None) -> None:
        self._user32 = user32

    def window_of(self, pid: int) -> int | None:
        user32 = self._user32 = self._user32 or _user32()
        found: list[int] = []

        def visit(hwnd: int, _param: int) -> int:
            owner = ctypes.c_ulong(0)
            user32.GetWindowThreadProcessId(hwnd, ctypes.byref(owner))
            # The stage's main window: visible and not owned by another (dialogs and helper windows are owned).
            if owner.value == pid and user32.IsWindowVisible(hwnd) and not user32.GetWindow(hwnd, 4):  # GW_OWNER
                found.append(int(hwnd))
                return 0  # stop
            return 1

        user32.EnumWindows(_ENUM_WINDOWS_PROC(visit), 0)
        return found[0] if found else None


class Win32WindowMover:
    """The :class:`~app.ui.stage_glue.WindowMover` calls on Windows; a call on a window that is gone does nothing."""

    def __init__(self, user32: Any = None) -> None:
        self._user32 = user32

    def _api(self) -> Any:
        self._user32 = self._user32 or _user32()
        return self._user32

    def keep_above(self, window_id: int, owner_id: int) -> None:
        # An owned window is always above its owner, and minimised and restored with it.
        self._api().SetWindowLongPtrW(window_id, GWLP_HWNDPARENT, owner_id)

    def place(self, window_id: int, rect: Rect) -> None:
        x, y, width, height = rect
        self._api().SetWindowPos(window_id, HWND_TOP, x, y, width, height, SWP_NOACTIVATE)

    def set_visible(self, window_id: int, visible: bool) -> None:
        self._api().ShowWindow(window_id, SW_SHOWNOACTIVATE if visible else SW_HIDE)

    def refresh_input_shape(self, window_id: int) -> None:
        """Nothing to do: a layered window's click-through (``WS_EX_TRANSPARENT``) needs no window manager help."""

    def geometry(self, window_id: int) -> Rect | None:
        api = self._api()
        if not api.IsWindow(window_id):
            return None
        box = _RECT()
        if not api.GetWindowRect(window_id, ctypes.byref(box)):
            return None
        return box.left, box.top, box.right - box.left, box.bottom - box.top

    def close(self) -> None:
        self._user32 = None
