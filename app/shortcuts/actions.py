"""The app's own shortcut actions and their default accelerators.

The defaults use CmdOrCtrl+Alt+Shift (Ctrl+Alt+Shift on Windows and Linux, Cmd+Option+Shift on macOS): three
modifiers are rarely taken by applications, and the keys avoid the desktop defaults that use this prefix (GNOME and
KDE: the arrows, R, Delete, PageUp/PageDown, Tab; macOS: V is "paste and match style"). A default that cannot be had
is reported, and the user picks another in the shortcuts settings page.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ShortcutAction:
    id: str
    description: str
    default: str
    """Canonical accelerator."""
    receive_key_ups: bool = False


TOGGLE_WINDOW = "toggle-window"
STOP_SPEAKING = "stop-speaking"
SPEAK_CLIPBOARD = "speak-clipboard"
NEXT_AVATAR = "next-avatar"

DEFAULT_ACTIONS: tuple[ShortcutAction, ...] = (
    ShortcutAction(TOGGLE_WINDOW, "Show or hide the tamagotchi window", "CmdOrCtrl+Alt+Shift+KeyT"),
    ShortcutAction(STOP_SPEAKING, "Stop speaking (abort the current turn)", "CmdOrCtrl+Alt+Shift+Period"),
    ShortcutAction(SPEAK_CLIPBOARD, "Speak the clipboard's text", "CmdOrCtrl+Alt+Shift+KeyC"),
    ShortcutAction(NEXT_AVATAR, "Switch to the next avatar", "CmdOrCtrl+Alt+Shift+KeyN"),
)
