"""Global shortcuts on Windows: ``RegisterHotKey`` with ``MOD_NOREPEAT``, ``WM_HOTKEY`` through a Qt native event
filter, key-up by watching the key with ``GetAsyncKeyState`` after the press (hot keys report presses only).

Everything Windows-specific is in :class:`Win32Calls`; :class:`WindowsBackend` is plain logic tested with a fake of
exactly those calls. Character keys are found by scan code (``MapVirtualKeyW``), so a W3C ``code`` means the same
physical key on any layout; the other keys have fixed virtual-key codes.
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import string
from collections.abc import Callable
from typing import Any, Protocol

from app.shortcuts.accelerator import Accelerator, Modifier
from app.shortcuts.backend import FailureReason, GrabRefused, GrabResult, KeyListener, Phase
from app.shortcuts.backends.x11_keys import EVDEV_SCAN_CODES

MOD_ALT = 0x0001
MOD_CONTROL = 0x0002
MOD_SHIFT = 0x0004
MOD_WIN = 0x0008
MOD_NOREPEAT = 0x4000
WM_HOTKEY = 0x0312
ERROR_HOTKEY_ALREADY_REGISTERED = 1409
MAX_HOTKEY_ID = 0xBFFF
KEY_UP_POLL_S = 0.01

_MODIFIERS = {
    Modifier.CMD_OR_CTRL: MOD_CONTROL,
    Modifier.CTRL: MOD_CONTROL,
    Modifier.ALT: MOD_ALT,
    Modifier.SHIFT: MOD_SHIFT,
    Modifier.SUPER: MOD_WIN,
}
_PUNCTUATION = "Backquote Minus Equal BracketLeft BracketRight Backslash Semicolon Quote Comma Period Slash"
_CHARACTER_KEYS = frozenset(
    [*(f"Key{c}" for c in string.ascii_uppercase), *(f"Digit{d}" for d in range(10)), *_PUNCTUATION.split()]
)
VIRTUAL_KEYS: dict[str, int] = {
    **{f"F{n}": 0x6F + n for n in range(1, 25)},
    **{f"Numpad{d}": 0x60 + d for d in range(10)},
    "NumpadMultiply": 0x6A,
    "NumpadAdd": 0x6B,
    "NumpadSubtract": 0x6D,
    "NumpadDecimal": 0x6E,
    "NumpadDivide": 0x6F,
    "Space": 0x20,
    "Tab": 0x09,
    "Enter": 0x0D,
    "Escape": 0x1B,
    "Backspace": 0x08,
    "Delete": 0x2E,
    "Insert": 0x2D,
    "Home": 0x24,
    "End": 0x23,
    "PageUp": 0x21,
    "PageDown": 0x22,
    "ArrowLeft": 0x25,
    "ArrowUp": 0x26,
    "ArrowRight": 0x27,
    "ArrowDown": 0x28,
    "PrintScreen": 0x2C,
    "ScrollLock": 0x91,
    "Pause": 0x13,
    "MediaTrackNext": 0xB0,
    "MediaTrackPrevious": 0xB1,
    "MediaStop": 0xB2,
    "MediaPlayPause": 0xB3,
    "AudioVolumeMute": 0xAD,
    "AudioVolumeDown": 0xAE,
    "AudioVolumeUp": 0xAF,
}
"""Keys whose virtual-key code does not depend on the layout. ``NumpadEnter`` has none of its own (it is Enter)."""

HOT_KEY_EVENT_TYPES = frozenset({b"windows_dispatcher_MSG", b"windows_generic_MSG"})
"""The ``eventType`` names under which Qt 6 passes a ``MSG`` to native event filters. A hot key registered with a
NULL window is a thread message: no window procedure sees it, so it arrives only from the event dispatcher, as
``windows_dispatcher_MSG`` ("system-wide messages such as messages from a registered hot key", Qt's
QAbstractNativeEventFilter docs). ``windows_generic_MSG`` is what Qt's windows receive; a hot key bound to a window
would come that way, so both are read."""


class MSG(ctypes.Structure):
    """Win32 ``MSG`` (winuser.h), spelled out because ``ctypes.wintypes`` is not importable everywhere."""

    _fields_ = [
        ("hwnd", ctypes.c_void_p),
        ("message", ctypes.c_uint32),
        ("wParam", ctypes.c_size_t),  # WPARAM: UINT_PTR
        ("lParam", ctypes.c_ssize_t),  # LPARAM: LONG_PTR
        ("time", ctypes.c_uint32),
        ("pt_x", ctypes.c_int32),
        ("pt_y", ctypes.c_int32),
    ]


def hot_key_id(event_type: bytes, message: int) -> int | None:
    """The hot key id when the native event Qt passes a filter (its type name, the ``MSG*`` address) is a
    ``WM_HOTKEY``; None for every other event."""
    if event_type not in HOT_KEY_EVENT_TYPES or not message:
        return None
    msg = MSG.from_address(message)
    return int(msg.wParam) if msg.message == WM_HOTKEY else None


def hot_key_filter(on_hot_key: Callable[[int], None]) -> Any:
    """A Qt native event filter that passes each ``WM_HOTKEY``'s id to ``on_hot_key`` and swallows it."""
    from PySide6.QtCore import QAbstractNativeEventFilter  # noqa: PLC0415 - Qt at the edge

    class HotKeyFilter(QAbstractNativeEventFilter):
        def nativeEventFilter(self, event_type: Any, message: Any) -> Any:  # noqa: N802 - Qt's name
            found = hot_key_id(bytes(event_type), int(message))
            if found is None:
                return False, 0
            on_hot_key(found)
            return True, 0

    return HotKeyFilter()


class Win32Calls(Protocol):
    def register_hot_key(self, hotkey_id: int, modifiers: int, virtual_key: int) -> int:
        """``RegisterHotKey(NULL, ...)``: 0 on success, else ``GetLastError()``."""
        ...

    def unregister_hot_key(self, hotkey_id: int) -> None: ...

    def virtual_key_for_scan_code(self, scan_code: int) -> int:
        """``MapVirtualKeyW(scan, MAPVK_VSC_TO_VK_EX)`` on the current layout; 0 when the layout has none."""
        ...

    def key_is_down(self, virtual_key: int) -> bool:
        """``GetAsyncKeyState(vk) & 0x8000``."""
        ...

    def watch_hot_keys(self, on_hot_key: Callable[[int], None]) -> None:
        """Call ``on_hot_key(id)`` for each ``WM_HOTKEY`` of this thread (a Qt native event filter)."""
        ...

    def stop_watching(self) -> None: ...


class WindowsBackend:
    name = "windows"

    def __init__(self, calls: Win32Calls) -> None:
        self._calls = calls
        self._ids = itertools.count(1)
        self._by_id: dict[int, tuple[str, int]] = {}
        self._hot_key_of: dict[str, int] = {}
        self._registered: dict[tuple[int, int], str] = {}
        """Our own hot keys by (modifiers, virtual key), so error 1409 can tell our clash from another app's."""
        self._listener: KeyListener | None = None
        self._watching = False
        self._released_watch: dict[str, asyncio.Task[None]] = {}

    def listen(self, listener: KeyListener) -> None:
        self._listener = listener

    async def grab(self, token: str, accelerator: Accelerator) -> GrabResult:
        virtual_key = self._virtual_key(accelerator)
        if accelerator.key == "F12" and not accelerator.modifiers:
            raise GrabRefused(FailureReason.INVALID, "Windows reserves F12 alone for debuggers; add a modifier")
        modifiers = MOD_NOREPEAT
        for modifier in accelerator.modifiers:
            modifiers |= _MODIFIERS[modifier]
        hotkey_id = next(self._ids)
        if hotkey_id > MAX_HOTKEY_ID:
            raise GrabRefused(FailureReason.INVALID, "this process has used up Windows' hot key ids; restart the app")
        if not self._watching:
            self._calls.watch_hot_keys(self._on_hot_key)
            self._watching = True
        failure = self._calls.register_hot_key(hotkey_id, modifiers, virtual_key)
        name = accelerator.familiar("win32")
        if failure == ERROR_HOTKEY_ALREADY_REGISTERED:
            ours = self._registered.get((modifiers, virtual_key))
            holder = f"this app ('{ours.split('#')[0]}')" if ours is not None else "another application"
            raise GrabRefused(FailureReason.CONFLICT, f"{name} is already registered by {holder}")
        if failure:
            raise GrabRefused(FailureReason.INVALID, f"Windows refused {name} (RegisterHotKey error {failure})")
        self._by_id[hotkey_id] = (token, virtual_key)
        self._hot_key_of[token] = hotkey_id
        self._registered[(modifiers, virtual_key)] = token
        return GrabResult()

    async def release(self, token: str) -> None:
        hotkey_id = self._hot_key_of.pop(token, None)
        if hotkey_id is None:
            return
        del self._by_id[hotkey_id]
        self._registered = {combo: held for combo, held in self._registered.items() if held != token}
        watch = self._released_watch.pop(token, None)
        if watch is not None:
            watch.cancel()
        self._calls.unregister_hot_key(hotkey_id)

    async def close(self) -> None:
        for token in list(self._hot_key_of):
            await self.release(token)
        if self._watching:
            self._calls.stop_watching()
            self._watching = False

    def _virtual_key(self, accelerator: Accelerator) -> int:
        key = accelerator.key
        if key in _CHARACTER_KEYS:
            virtual_key = self._calls.virtual_key_for_scan_code(EVDEV_SCAN_CODES[key])
        else:
            virtual_key = VIRTUAL_KEYS.get(key, 0)
        if not virtual_key:
            raise GrabRefused(FailureReason.INVALID, f"Windows hot keys cannot use {key} on this keyboard layout")
        return virtual_key

    def _on_hot_key(self, hotkey_id: int) -> None:
        found = self._by_id.get(hotkey_id)
        if found is None or self._listener is None:
            return
        token, virtual_key = found
        self._listener(token, Phase.DOWN)
        if token not in self._released_watch:
            self._released_watch[token] = asyncio.get_running_loop().create_task(
                self._watch_release(token, virtual_key)
            )

    async def _watch_release(self, token: str, virtual_key: int) -> None:
        try:
            # Windows sends nothing when a hot key is let go: watch the key until it is up.
            while self._calls.key_is_down(virtual_key):  # noqa: ASYNC110 - polling a device state, no event exists
                await asyncio.sleep(KEY_UP_POLL_S)
            if token in self._hot_key_of and self._listener is not None:
                self._listener(token, Phase.UP)
        finally:
            self._released_watch.pop(token, None)


class User32Calls:  # pragma: no cover - needs Windows
    """The real calls, through ctypes and a Qt native event filter (build and use on the GUI thread)."""

    def __init__(self) -> None:
        from ctypes import wintypes  # noqa: PLC0415 - Windows only

        self._user32: Any = ctypes.WinDLL("user32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
        self._user32.RegisterHotKey.argtypes = [wintypes.HWND, ctypes.c_int, wintypes.UINT, wintypes.UINT]
        self._user32.RegisterHotKey.restype = wintypes.BOOL
        self._user32.UnregisterHotKey.argtypes = [wintypes.HWND, ctypes.c_int]
        self._user32.MapVirtualKeyW.argtypes = [wintypes.UINT, wintypes.UINT]
        self._user32.GetAsyncKeyState.argtypes = [ctypes.c_int]
        self._user32.GetAsyncKeyState.restype = ctypes.c_short
        self._filter: Any = None

    def register_hot_key(self, hotkey_id: int, modifiers: int, virtual_key: int) -> int:
        if self._user32.RegisterHotKey(None, hotkey_id, modifiers, virtual_key):
            return 0
        return int(ctypes.get_last_error())  # type: ignore[attr-defined,unused-ignore]

    def unregister_hot_key(self, hotkey_id: int) -> None:
        self._user32.UnregisterHotKey(None, hotkey_id)

    def virtual_key_for_scan_code(self, scan_code: int) -> int:
        return int(self._user32.MapVirtualKeyW(scan_code, 3))  # MAPVK_VSC_TO_VK_EX

    def key_is_down(self, virtual_key: int) -> bool:
        return bool(self._user32.GetAsyncKeyState(virtual_key) & 0x8000)

    def watch_hot_keys(self, on_hot_key: Callable[[int], None]) -> None:
        from PySide6.QtCore import QCoreApplication  # noqa: PLC0415 - Qt at the edge

        app = QCoreApplication.instance()
        if app is None:
            raise RuntimeError("Windows hot keys need the Qt application to be running")
        self._filter = hot_key_filter(on_hot_key)
        app.installNativeEventFilter(self._filter)

    def stop_watching(self) -> None:
        from PySide6.QtCore import QCoreApplication  # noqa: PLC0415

        app = QCoreApplication.instance()
        if app is not None and self._filter is not None:
            app.removeNativeEventFilter(self._filter)
        self._filter = None
