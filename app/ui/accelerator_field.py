"""A field that records the key combination the user presses, as an accelerator.

The key is named by its physical position (W3C ``code``) where the platform tells it (the X11 key code on xcb, the
scan code on Windows, the virtual key on macOS); elsewhere (offscreen) from Qt's key, as on a US layout. Modifier
presses alone and auto-repeat are ignored; Esc alone cancels and gives the field back its previous text.
"""

from __future__ import annotations

import string
import sys

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFocusEvent, QGuiApplication, QKeyEvent
from PySide6.QtWidgets import QLineEdit

from app.shortcuts.accelerator import Accelerator, AcceleratorError, Modifier, needs_modifier
from app.shortcuts.backends.macos import CARBON_KEY_CODES
from app.shortcuts.backends.x11_keys import EVDEV_OFFSET, EVDEV_SCAN_CODES

K = Qt.Key
_QT_KEYS: dict[int, str] = {
    **{getattr(K, f"Key_{c}").value: f"Key{c}" for c in string.ascii_uppercase},
    **{getattr(K, f"Key_{d}").value: f"Digit{d}" for d in range(10)},
    **{getattr(K, f"Key_F{n}").value: f"F{n}" for n in range(1, 25)},
    **{ord(symbol): f"Digit{d}" for d, symbol in zip("1234567890", "!@#$%^&*()", strict=True)},
    K.Key_Space.value: "Space",
    K.Key_Tab.value: "Tab",
    K.Key_Backtab.value: "Tab",
    K.Key_Return.value: "Enter",
    K.Key_Enter.value: "NumpadEnter",
    K.Key_Escape.value: "Escape",
    K.Key_Backspace.value: "Backspace",
    K.Key_Insert.value: "Insert",
    K.Key_Delete.value: "Delete",
    K.Key_Pause.value: "Pause",
    K.Key_Print.value: "PrintScreen",
    K.Key_ScrollLock.value: "ScrollLock",
    K.Key_Home.value: "Home",
    K.Key_End.value: "End",
    K.Key_Left.value: "ArrowLeft",
    K.Key_Up.value: "ArrowUp",
    K.Key_Right.value: "ArrowRight",
    K.Key_Down.value: "ArrowDown",
    K.Key_PageUp.value: "PageUp",
    K.Key_PageDown.value: "PageDown",
    K.Key_QuoteLeft.value: "Backquote",
    K.Key_AsciiTilde.value: "Backquote",
    K.Key_Minus.value: "Minus",
    K.Key_Underscore.value: "Minus",
    K.Key_Equal.value: "Equal",
    K.Key_Plus.value: "Equal",
    K.Key_BracketLeft.value: "BracketLeft",
    K.Key_BraceLeft.value: "BracketLeft",
    K.Key_BracketRight.value: "BracketRight",
    K.Key_BraceRight.value: "BracketRight",
    K.Key_Backslash.value: "Backslash",
    K.Key_Bar.value: "Backslash",
    K.Key_Semicolon.value: "Semicolon",
    K.Key_Colon.value: "Semicolon",
    K.Key_Apostrophe.value: "Quote",
    K.Key_QuoteDbl.value: "Quote",
    K.Key_Comma.value: "Comma",
    K.Key_Less.value: "Comma",
    K.Key_Period.value: "Period",
    K.Key_Greater.value: "Period",
    K.Key_Slash.value: "Slash",
    K.Key_Question.value: "Slash",
    K.Key_MediaTogglePlayPause.value: "MediaPlayPause",
    K.Key_MediaPlay.value: "MediaPlayPause",
    K.Key_MediaStop.value: "MediaStop",
    K.Key_MediaNext.value: "MediaTrackNext",
    K.Key_MediaPrevious.value: "MediaTrackPrevious",
    K.Key_VolumeMute.value: "AudioVolumeMute",
    K.Key_VolumeDown.value: "AudioVolumeDown",
    K.Key_VolumeUp.value: "AudioVolumeUp",
}
_KEYPAD: dict[str, str] = {
    **{f"Digit{d}": f"Numpad{d}" for d in range(10)},
    "Period": "NumpadDecimal",
    "Slash": "NumpadDivide",
    "Equal": "NumpadAdd",
    "Minus": "NumpadSubtract",
}
_IGNORED_KEYS = {
    *(K.Key_Control, K.Key_Shift, K.Key_Alt, K.Key_Meta, K.Key_AltGr, K.Key_Super_L, K.Key_Super_R),
    *(K.Key_NumLock, K.Key_CapsLock),  # lock keys are not shortcut keys (and xdotool toggles NumLock for keypad keys)
}
_BY_EVDEV = {scan: code for code, scan in EVDEV_SCAN_CODES.items()}
_BY_CARBON = {carbon: code for code, carbon in CARBON_KEY_CODES.items()}


def key_code_of(event: QKeyEvent, platform_name: str) -> str | None:
    """The W3C ``code`` of the pressed key, or None for a key accelerators cannot use."""
    if platform_name == "xcb" and event.nativeScanCode() > EVDEV_OFFSET:
        return _BY_EVDEV.get(event.nativeScanCode() - EVDEV_OFFSET)
    if platform_name == "cocoa" and event.nativeVirtualKey():
        return _BY_CARBON.get(event.nativeVirtualKey())
    if platform_name == "windows" and 0 < event.nativeScanCode() < 0x59:  # the main block; extended keys below
        found = _BY_EVDEV.get(event.nativeScanCode())
        if found is not None and found not in _KEYPAD.values():
            return found
    code = _QT_KEYS.get(event.key())
    if code is not None and event.modifiers() & Qt.KeyboardModifier.KeypadModifier:
        code = _KEYPAD.get(code, code)
    if event.key() == K.Key_Asterisk.value and event.modifiers() & Qt.KeyboardModifier.KeypadModifier:
        code = "NumpadMultiply"
    return code


def modifiers_of(event: QKeyEvent, platform: str = sys.platform) -> frozenset[Modifier]:
    held = event.modifiers()
    mods = Qt.KeyboardModifier
    # Qt on macOS reports Cmd as Control and Ctrl as Meta.
    control, meta = (Modifier.SUPER, Modifier.CTRL) if platform == "darwin" else (Modifier.CTRL, Modifier.SUPER)
    found = set()
    if held & mods.ControlModifier:
        found.add(control)
    if held & mods.MetaModifier:
        found.add(meta)
    if held & mods.AltModifier:
        found.add(Modifier.ALT)
    if held & mods.ShiftModifier:
        found.add(Modifier.SHIFT)
    return frozenset(found)


class AcceleratorField(QLineEdit):
    captured = Signal(object)
    """An :class:`Accelerator` the user pressed."""
    refused = Signal(str)
    """Why the pressed combination is not usable (e.g. a letter without a modifier)."""

    def __init__(self, accelerator: Accelerator | None = None, platform: str = sys.platform) -> None:
        super().__init__()
        self._platform = platform
        self._accelerator = accelerator
        self.setReadOnly(True)
        self.setPlaceholderText("Click, then press a shortcut (Esc cancels)")
        self.set_accelerator(accelerator)

    def accelerator(self) -> Accelerator | None:
        return self._accelerator

    def set_accelerator(self, accelerator: Accelerator | None) -> None:
        self._accelerator = accelerator
        self.setText(accelerator.familiar(self._platform) if accelerator else "")

    def focusInEvent(self, event: QFocusEvent) -> None:  # noqa: N802 - Qt's name
        self.setText("Press keys...")
        super().focusInEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:  # noqa: N802 - Qt's name
        self.set_accelerator(self._accelerator)
        super().focusOutEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        if event.isAutoRepeat() or event.key() in _IGNORED_KEYS:
            return
        modifiers = modifiers_of(event, self._platform)
        if event.key() == K.Key_Escape.value and not modifiers:
            self.set_accelerator(self._accelerator)
            self.clearFocus()
            return
        code = key_code_of(event, QGuiApplication.platformName())
        if code is None:
            self.refused.emit(f"that key ({event.text() or event.key()}) cannot be part of a global shortcut")
            return
        try:
            pressed = Accelerator(modifiers, code)
        except AcceleratorError as error:
            self.refused.emit(error.message)
            return
        if needs_modifier(pressed):
            self.refused.emit(f"{pressed.familiar(self._platform)} needs Ctrl, Alt or the Windows/Command key")
            return
        self.set_accelerator(pressed)
        self.captured.emit(pressed)
