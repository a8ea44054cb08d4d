"""Accelerators: some modifiers plus exactly one key, in two spellings.

- The canonical form names keys by W3C ``KeyboardEvent.code`` (layout independent: ``KeyK``, ``Digit1``, ``ArrowUp``)
  and writes modifiers in a fixed order: ``CmdOrCtrl+Alt+Shift+KeyT``. It is what settings store.
- The familiar form is what people type and read: ``Ctrl+Shift+K``, ``Cmd+Option+Esc``. The parser accepts both, with
  the usual aliases, and every error says what is wrong with which token.

``CmdOrCtrl`` is Cmd on macOS and Ctrl elsewhere; ``Super`` is the Windows/Command key (``Cmd``, ``Meta`` and ``Win``
are its aliases).
"""

from __future__ import annotations

import enum
import string
from dataclasses import dataclass


class Modifier(enum.Enum):
    # Declaration order is the canonical order.
    CMD_OR_CTRL = "CmdOrCtrl"
    CTRL = "Ctrl"
    ALT = "Alt"
    SHIFT = "Shift"
    SUPER = "Super"


MODIFIER_ORDER: tuple[Modifier, ...] = tuple(Modifier)

_MODIFIER_ALIASES: dict[str, Modifier] = {
    "cmdorctrl": Modifier.CMD_OR_CTRL,
    "commandorcontrol": Modifier.CMD_OR_CTRL,
    "mod": Modifier.CMD_OR_CTRL,
    "ctrl": Modifier.CTRL,
    "control": Modifier.CTRL,
    "alt": Modifier.ALT,
    "option": Modifier.ALT,
    "opt": Modifier.ALT,
    "shift": Modifier.SHIFT,
    "super": Modifier.SUPER,
    "cmd": Modifier.SUPER,
    "command": Modifier.SUPER,
    "meta": Modifier.SUPER,
    "win": Modifier.SUPER,
}

_PUNCTUATION: dict[str, str] = {
    "Backquote": "`",
    "Minus": "-",
    "Equal": "=",
    "BracketLeft": "[",
    "BracketRight": "]",
    "Backslash": "\\",
    "Semicolon": ";",
    "Quote": "'",
    "Comma": ",",
    "Period": ".",
    "Slash": "/",
}
_NAVIGATION = ("Space", "Tab", "Enter", "Escape", "Backspace", "Delete", "Insert", "Home", "End", "PageUp", "PageDown")
_ARROWS = ("ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight")
_NUMPAD = (
    *(f"Numpad{d}" for d in range(10)),
    "NumpadAdd",
    "NumpadSubtract",
    "NumpadMultiply",
    "NumpadDivide",
    "NumpadDecimal",
    "NumpadEnter",
)
FUNCTION_KEYS: tuple[str, ...] = tuple(f"F{n}" for n in range(1, 25))
MEDIA_KEYS: tuple[str, ...] = (
    "MediaPlayPause",
    "MediaStop",
    "MediaTrackNext",
    "MediaTrackPrevious",
    "AudioVolumeMute",
    "AudioVolumeDown",
    "AudioVolumeUp",
)
KEY_CODES: tuple[str, ...] = (
    *(f"Key{c}" for c in string.ascii_uppercase),
    *(f"Digit{d}" for d in range(10)),
    *FUNCTION_KEYS,
    *_NAVIGATION,
    *_ARROWS,
    *_PUNCTUATION,
    *_NUMPAD,
    "PrintScreen",
    "ScrollLock",
    "Pause",
    *MEDIA_KEYS,
)
"""Every key an accelerator may use, by its W3C ``KeyboardEvent.code`` name."""

STANDALONE_KEYS: frozenset[str] = frozenset((*FUNCTION_KEYS, *MEDIA_KEYS, "PrintScreen", "ScrollLock", "Pause"))
"""Keys that nobody types into text, so a shortcut may use them without a modifier."""

_FAMILIAR_NAMES: dict[str, str] = {
    **_PUNCTUATION,
    "ArrowUp": "Up",
    "ArrowDown": "Down",
    "ArrowLeft": "Left",
    "ArrowRight": "Right",
    "Escape": "Esc",
}

_KEY_ALIASES: dict[str, str] = {
    "up": "ArrowUp",
    "down": "ArrowDown",
    "left": "ArrowLeft",
    "right": "ArrowRight",
    "esc": "Escape",
    "return": "Enter",
    "spacebar": "Space",
    "del": "Delete",
    "ins": "Insert",
    "pgup": "PageUp",
    "pgdn": "PageDown",
    "prtsc": "PrintScreen",
    "printscr": "PrintScreen",
    "playpause": "MediaPlayPause",
    "medianexttrack": "MediaTrackNext",
    "mediaprevioustrack": "MediaTrackPrevious",
    "volumemute": "AudioVolumeMute",
    "volumeup": "AudioVolumeUp",
    "volumedown": "AudioVolumeDown",
    **{f"num{d}": f"Numpad{d}" for d in range(10)},
    "numdec": "NumpadDecimal",
    "numadd": "NumpadAdd",
    "numsub": "NumpadSubtract",
    "nummult": "NumpadMultiply",
    "numdiv": "NumpadDivide",
    **{code.lower(): code for code in KEY_CODES},
    **{c.lower(): f"Key{c}" for c in string.ascii_uppercase},
    **{str(d): f"Digit{d}" for d in range(10)},
    **{char: code for code, char in _PUNCTUATION.items()},
}

_SHIFTED_ALIASES: dict[str, str] = {"plus": "Equal"}
"""Electron's names for a character typed with Shift: ``Plus`` is Shift and the ``=`` key (as in Electron)."""


class AcceleratorError(ValueError):
    """A string that is not an accelerator. ``code`` is one of ``empty``, ``empty-token``, ``unknown-key``,
    ``duplicate-modifier``, ``no-key``, ``two-keys`` and ``needs-modifier``; the message names the offending token."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Accelerator:
    modifiers: frozenset[Modifier]
    key: str

    def __post_init__(self) -> None:
        if self.key not in _KEY_SET:
            raise AcceleratorError("unknown-key", f"unknown key {self.key!r}")

    @classmethod
    def of(cls, key: str, *modifiers: Modifier) -> Accelerator:
        return cls(frozenset(modifiers), key)

    def ordered_modifiers(self) -> list[Modifier]:
        return [m for m in MODIFIER_ORDER if m in self.modifiers]

    def canonical(self) -> str:
        """``CmdOrCtrl+Shift+KeyK``: W3C key name, modifiers in the fixed order. Parses back to the same value."""
        return "+".join([*(m.value for m in self.ordered_modifiers()), self.key])

    def familiar(self, platform: str | None = None) -> str:
        """``CmdOrCtrl+Shift+K``, or with a platform ``Ctrl+Shift+K`` / ``Cmd+Shift+K``: for people to read."""
        names = [_familiar_modifier(m, platform) for m in self.ordered_modifiers()]
        return "+".join([*names, familiar_key_name(self.key)])

    def on_platform(self, platform: str) -> Accelerator:
        """The physical combination on ``platform``: ``CmdOrCtrl`` becomes Cmd (``Super``) on macOS, else ``Ctrl``.
        Two accelerators with the same result hold the same keys there."""
        if Modifier.CMD_OR_CTRL not in self.modifiers:
            return self
        resolved = Modifier.SUPER if platform == "darwin" else Modifier.CTRL
        return Accelerator(self.modifiers - {Modifier.CMD_OR_CTRL} | {resolved}, self.key)

    def __str__(self) -> str:
        return self.canonical()


_KEY_SET = frozenset(KEY_CODES)


def familiar_key_name(code: str) -> str:
    if code.startswith("Key") and len(code) == 4:
        return code[3]
    if code.startswith("Digit"):
        return code[5:]
    return _FAMILIAR_NAMES.get(code, code)


def _familiar_modifier(modifier: Modifier, platform: str | None) -> str:
    mac = platform == "darwin"
    if modifier is Modifier.CMD_OR_CTRL and platform is not None:
        return "Cmd" if mac else "Ctrl"
    if modifier is Modifier.SUPER and platform is not None:
        return "Cmd" if mac else ("Win" if platform.startswith("win") else "Super")
    if modifier is Modifier.ALT and mac:
        return "Option"
    return modifier.value


def parse_accelerator(text: str, *, require_modifier: bool = True) -> Accelerator:
    """Parse the canonical or the familiar form. Tokens are joined by ``+`` and are case-insensitive.

    With ``require_modifier`` (the default for global shortcuts), a key that is typed into text needs Ctrl, Alt, Super
    or CmdOrCtrl: a bare ``K`` or ``Shift+K`` would swallow that character in every application. Function keys,
    media keys, Print Screen, Scroll Lock and Pause may stand alone.
    """
    if not text.strip():
        raise AcceleratorError("empty", "empty accelerator: write a key with its modifiers, e.g. Ctrl+Alt+K")
    modifiers: list[Modifier] = []
    keys: list[str] = []
    for raw in text.split("+"):
        token = raw.strip()
        if not token:
            raise AcceleratorError(
                "empty-token", f"{text!r} has an empty part (a '+' at the start, at the end or doubled)"
            )
        lowered = token.lower()
        if lowered in _MODIFIER_ALIASES:
            modifier = _MODIFIER_ALIASES[lowered]
            if modifier in modifiers:
                raise AcceleratorError("duplicate-modifier", f"{text!r} names the modifier {modifier.value} twice")
            modifiers.append(modifier)
            continue
        if lowered in _SHIFTED_ALIASES:
            if Modifier.SHIFT not in modifiers:
                modifiers.append(Modifier.SHIFT)
            keys.append(_SHIFTED_ALIASES[lowered])
            continue
        code = _KEY_ALIASES.get(token) or _KEY_ALIASES.get(lowered)
        if code is None:
            raise AcceleratorError("unknown-key", f"{text!r}: unknown key {token!r}")
        keys.append(code)
    if not keys:
        raise AcceleratorError("no-key", f"{text!r} has modifiers but no key, e.g. {'+'.join([text.strip(), 'K'])}")
    if len(keys) > 1:
        raise AcceleratorError(
            "two-keys", f"{text!r} has two keys ({keys[0]} and {keys[1]}); a shortcut is modifiers plus one key"
        )
    accelerator = Accelerator(frozenset(modifiers), keys[0])
    if require_modifier and needs_modifier(accelerator):
        raise AcceleratorError(
            "needs-modifier",
            f"{text!r}: {familiar_key_name(keys[0])} needs Ctrl, Alt, Super or CmdOrCtrl; as a global shortcut "
            "it would take that key away from typing in every application (only function and media keys may "
            "stand alone)",
        )
    return accelerator


def needs_modifier(accelerator: Accelerator) -> bool:
    """True when the key is typed into text and only Shift (or nothing) goes with it."""
    return accelerator.key not in STANDALONE_KEYS and not (accelerator.modifiers - {Modifier.SHIFT})
