"""Global shortcuts on macOS: Carbon ``RegisterEventHotKey``, which needs no Accessibility permission, swallows the
key, and reports both press and release (``kEventHotKeyPressed``/``kEventHotKeyReleased``).

What macOS refuses or hides, and how it is reported:
- ``eventHotKeyExistsErr`` (-9878) is ``conflict``, but macOS returns it only for combinations this process already
  holds; a clash with another application is usually silent (whichever registered first gets the key).
- Since macOS 15 (Sequoia) combinations whose only modifiers are Option and/or Shift are refused: ``invalid``,
  before asking, with that reason.
- Keys with no Carbon key code (F21-F24, Print Screen, Scroll Lock, Pause, media keys) are ``invalid``.

Everything Carbon-specific is in :class:`CarbonCalls`; :class:`MacBackend` is plain logic tested with a fake of
exactly those calls. Carbon key codes (``kVK_*``) are physical positions, like W3C ``code``.
"""

from __future__ import annotations

import ctypes
import itertools
from collections.abc import Callable
from typing import Any, Protocol

from app.shortcuts.accelerator import Accelerator, Modifier
from app.shortcuts.backend import FailureReason, GrabRefused, GrabResult, KeyListener, Phase

CMD_KEY = 0x0100
SHIFT_KEY = 0x0200
OPTION_KEY = 0x0800
CONTROL_KEY = 0x1000
EVENT_HOT_KEY_EXISTS = -9878
EVENT_HOT_KEY_INVALID = -9879
SIGNATURE = int.from_bytes(b"StTm", "big")
"""Our ``OSType`` in each ``EventHotKeyID``."""

_MODIFIERS = {
    Modifier.CMD_OR_CTRL: CMD_KEY,
    Modifier.CTRL: CONTROL_KEY,
    Modifier.ALT: OPTION_KEY,
    Modifier.SHIFT: SHIFT_KEY,
    Modifier.SUPER: CMD_KEY,
}
_LETTERS = dict(zip("ASDFHGZXCVBQWERYT", [*range(0x00, 0x0A), *range(0x0B, 0x12)], strict=True))
_LETTERS.update({"O": 0x1F, "U": 0x20, "I": 0x22, "P": 0x23, "L": 0x25, "J": 0x26, "K": 0x28, "N": 0x2D, "M": 0x2E})
_DIGITS = {1: 0x12, 2: 0x13, 3: 0x14, 4: 0x15, 6: 0x16, 5: 0x17, 9: 0x19, 7: 0x1A, 8: 0x1C, 0: 0x1D}
_FUNCTION = {1: 0x7A, 2: 0x78, 3: 0x63, 4: 0x76, 5: 0x60, 6: 0x61, 7: 0x62, 8: 0x64, 9: 0x65, 10: 0x6D}
_FUNCTION.update({11: 0x67, 12: 0x6F, 13: 0x69, 14: 0x6B, 15: 0x71, 16: 0x6A, 17: 0x40, 18: 0x4F, 19: 0x50, 20: 0x5A})
_KEYPAD = {0: 0x52, 1: 0x53, 2: 0x54, 3: 0x55, 4: 0x56, 5: 0x57, 6: 0x58, 7: 0x59, 8: 0x5B, 9: 0x5C}
CARBON_KEY_CODES: dict[str, int] = {
    **{f"Key{c}": code for c, code in _LETTERS.items()},
    **{f"Digit{d}": code for d, code in _DIGITS.items()},
    **{f"F{n}": code for n, code in _FUNCTION.items()},
    **{f"Numpad{d}": code for d, code in _KEYPAD.items()},
    "NumpadDecimal": 0x41,
    "NumpadMultiply": 0x43,
    "NumpadAdd": 0x45,
    "NumpadDivide": 0x4B,
    "NumpadEnter": 0x4C,
    "NumpadSubtract": 0x4E,
    "Equal": 0x18,
    "Minus": 0x1B,
    "BracketRight": 0x1E,
    "BracketLeft": 0x21,
    "Enter": 0x24,
    "Quote": 0x27,
    "Semicolon": 0x29,
    "Backslash": 0x2A,
    "Comma": 0x2B,
    "Slash": 0x2C,
    "Period": 0x2F,
    "Tab": 0x30,
    "Space": 0x31,
    "Backquote": 0x32,
    "Backspace": 0x33,
    "Escape": 0x35,
    "Insert": 0x72,  # the Help key sits where Insert is
    "Home": 0x73,
    "PageUp": 0x74,
    "Delete": 0x75,
    "End": 0x77,
    "PageDown": 0x79,
    "ArrowLeft": 0x7B,
    "ArrowRight": 0x7C,
    "ArrowDown": 0x7D,
    "ArrowUp": 0x7E,
}


class CarbonCalls(Protocol):
    def register_hot_key(self, key_code: int, modifiers: int, hotkey_id: int) -> tuple[int, Any]:
        """``RegisterEventHotKey(code, mods, {SIGNATURE, id}, GetApplicationEventTarget(), 0, &ref)``:
        (OSStatus, the hot key ref)."""
        ...

    def unregister_hot_key(self, ref: Any) -> None: ...

    def install_handler(self, on_hot_key: Callable[[int, bool], None]) -> None:
        """``InstallEventHandler`` for kEventHotKeyPressed/Released: ``on_hot_key(id, pressed)``."""
        ...

    def remove_handler(self) -> None: ...


class MacBackend:
    name = "macos"

    def __init__(self, calls: CarbonCalls, macos_version: tuple[int, ...]) -> None:
        self._calls = calls
        self._version = macos_version
        self._ids = itertools.count(1)
        self._grabs: dict[str, tuple[int, Any]] = {}
        self._tokens: dict[int, str] = {}
        self._listener: KeyListener | None = None
        self._handler_installed = False

    def listen(self, listener: KeyListener) -> None:
        self._listener = listener

    async def grab(self, token: str, accelerator: Accelerator) -> GrabResult:
        name = accelerator.familiar("darwin")
        key_code = CARBON_KEY_CODES.get(accelerator.key)
        if key_code is None:
            raise GrabRefused(FailureReason.INVALID, f"macOS hot keys cannot use {accelerator.key}")
        option_shift_only = accelerator.modifiers and accelerator.modifiers <= {Modifier.ALT, Modifier.SHIFT}
        if option_shift_only and self._version >= (15,):
            raise GrabRefused(
                FailureReason.INVALID,
                f"macOS 15 and later refuse {name}: add Cmd or Ctrl (Option and Shift alone are not allowed)",
            )
        modifiers = 0
        for modifier in accelerator.modifiers:
            modifiers |= _MODIFIERS[modifier]
        if not self._handler_installed:
            self._calls.install_handler(self._on_hot_key)
            self._handler_installed = True
        hotkey_id = next(self._ids)
        status, ref = self._calls.register_hot_key(key_code, modifiers, hotkey_id)
        if status == EVENT_HOT_KEY_EXISTS:
            raise GrabRefused(FailureReason.CONFLICT, f"{name} is already registered as a hot key")
        if status == EVENT_HOT_KEY_INVALID:
            raise GrabRefused(FailureReason.INVALID, f"macOS refused {name} as a hot key (eventHotKeyInvalidErr)")
        if status != 0:
            raise GrabRefused(FailureReason.DENIED, f"macOS refused {name} (OSStatus {status})")
        self._grabs[token] = (hotkey_id, ref)
        self._tokens[hotkey_id] = token
        return GrabResult()

    async def release(self, token: str) -> None:
        grabbed = self._grabs.pop(token, None)
        if grabbed is None:
            return
        hotkey_id, ref = grabbed
        del self._tokens[hotkey_id]
        self._calls.unregister_hot_key(ref)

    async def close(self) -> None:
        for token in list(self._grabs):
            await self.release(token)
        if self._handler_installed:
            self._calls.remove_handler()
            self._handler_installed = False

    def _on_hot_key(self, hotkey_id: int, pressed: bool) -> None:
        token = self._tokens.get(hotkey_id)
        if token is not None and self._listener is not None:
            self._listener(token, Phase.DOWN if pressed else Phase.UP)


class _EventHotKeyID(ctypes.Structure):
    _fields_ = [("signature", ctypes.c_uint32), ("id", ctypes.c_uint32)]


class _EventTypeSpec(ctypes.Structure):
    _fields_ = [("eventClass", ctypes.c_uint32), ("eventKind", ctypes.c_uint32)]


_KEYBOARD_CLASS = int.from_bytes(b"keyb", "big")
_HOT_KEY_PRESSED = 5
_HOT_KEY_RELEASED = 6
_DIRECT_OBJECT = int.from_bytes(b"----", "big")
_TYPE_HOT_KEY_ID = int.from_bytes(b"hkid", "big")
NO_ERR = 0
EVENT_NOT_HANDLED_ERR = -9874


def handle_hot_key_event(carbon: Any, event: Any, on_hot_key: Callable[[int, bool], None]) -> int:
    """The body of our Carbon event handler: ``noErr`` for our own hot keys, and ``eventNotHandledErr`` for every
    other event (another component's hot keys carry another signature) so Carbon passes it on to their handlers.
    ``carbon`` is the framework (``GetEventParameter``, ``GetEventKind``)."""
    hotkey = _EventHotKeyID()
    status = carbon.GetEventParameter(
        event, _DIRECT_OBJECT, _TYPE_HOT_KEY_ID, None, ctypes.sizeof(hotkey), None, ctypes.byref(hotkey)
    )
    if status != NO_ERR or hotkey.signature != SIGNATURE:
        return EVENT_NOT_HANDLED_ERR
    on_hot_key(int(hotkey.id), carbon.GetEventKind(event) == _HOT_KEY_PRESSED)
    return NO_ERR


class CarbonLibraryCalls:  # pragma: no cover - needs macOS
    """The real calls through ctypes on Carbon.framework; Qt's Cocoa event loop dispatches the hot key events."""

    _HANDLER = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)

    def __init__(self) -> None:
        carbon: Any = ctypes.CDLL("/System/Library/Frameworks/Carbon.framework/Carbon")
        carbon.GetApplicationEventTarget.restype = ctypes.c_void_p
        carbon.RegisterEventHotKey.argtypes = [
            ctypes.c_uint32,
            ctypes.c_uint32,
            _EventHotKeyID,
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.POINTER(ctypes.c_void_p),
        ]
        carbon.RegisterEventHotKey.restype = ctypes.c_int32
        carbon.UnregisterEventHotKey.argtypes = [ctypes.c_void_p]
        carbon.InstallEventHandler.argtypes = [
            ctypes.c_void_p,
            self._HANDLER,
            ctypes.c_uint32,
            ctypes.POINTER(_EventTypeSpec),
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_void_p),
        ]
        carbon.GetEventKind.argtypes = [ctypes.c_void_p]
        carbon.GetEventKind.restype = ctypes.c_uint32
        carbon.GetEventParameter.restype = ctypes.c_int32
        carbon.GetEventParameter.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.c_uint32,
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        carbon.RemoveEventHandler.argtypes = [ctypes.c_void_p]
        self._carbon = carbon
        self._handler_ref = ctypes.c_void_p()
        self._callback: Any = None  # kept referenced: Carbon calls it for as long as the handler is installed

    def register_hot_key(self, key_code: int, modifiers: int, hotkey_id: int) -> tuple[int, Any]:
        ref = ctypes.c_void_p()
        target = self._carbon.GetApplicationEventTarget()
        status = self._carbon.RegisterEventHotKey(
            key_code, modifiers, _EventHotKeyID(SIGNATURE, hotkey_id), target, 0, ctypes.byref(ref)
        )
        return int(status), ref

    def unregister_hot_key(self, ref: Any) -> None:
        self._carbon.UnregisterEventHotKey(ref)

    def install_handler(self, on_hot_key: Callable[[int, bool], None]) -> None:
        carbon = self._carbon

        def handle(_call_ref: Any, event: Any, _user_data: Any) -> int:
            return handle_hot_key_event(carbon, event, on_hot_key)

        self._callback = self._HANDLER(handle)
        kinds = (_EventTypeSpec * 2)(
            _EventTypeSpec(_KEYBOARD_CLASS, _HOT_KEY_PRESSED), _EventTypeSpec(_KEYBOARD_CLASS, _HOT_KEY_RELEASED)
        )
        carbon.InstallEventHandler(
            carbon.GetApplicationEventTarget(), self._callback, 2, kinds, None, ctypes.byref(self._handler_ref)
        )

    def remove_handler(self) -> None:
        if self._handler_ref:
            self._carbon.RemoveEventHandler(self._handler_ref)
        self._callback = None
