"""The X11 backend for real: Xvfb, key presses from xdotool (XTest, as a keyboard would), other X clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from Xlib import XK, X

from app.shortcuts.accelerator import KEY_CODES
from app.shortcuts.backend import FailureReason, Phase
from app.shortcuts.backends.x11 import X11Backend
from app.shortcuts.backends.x11_keys import EVDEV_OFFSET, EVDEV_SCAN_CODES, KEYSYMS
from app.shortcuts.service import ShortcutService, Trigger
from tests.e2e.shortcuts.conftest import OtherClient, xdotool
from tests.support.xvfb import XvfbUnavailable, running_xvfb
from tests.waiting import until

pytestmark = pytest.mark.tier3
CTRL_ALT = X.ControlMask | X.Mod1Mask


@pytest.fixture
async def service(x_server: str) -> AsyncIterator[ShortcutService]:
    shortcuts = ShortcutService(X11Backend(x_server))
    try:
        yield shortcuts
    finally:
        await shortcuts.close()


def phases(triggers: list[Trigger]) -> list[str]:
    return [t.phase.value for t in triggers]


async def test_fires_while_another_window_has_focus_which_does_not_get_the_key(
    x_server: str, service: ShortcutService, other_client: OtherClient
) -> None:
    other_client.focus()
    fired: list[Trigger] = []
    result = await service.register("greet", "Ctrl+Alt+K", fired.append)
    assert result.ok, result.message
    await xdotool(x_server, "key", "ctrl+alt+k")
    await until(lambda: len(fired) == 1, what="the shortcut to fire")
    await xdotool(x_server, "key", "ctrl+alt+j")  # not grabbed: goes to the focused window as usual
    received: list[int] = []

    def got_j() -> bool:
        received.extend(other_client.pressed_keycodes())
        return other_client.keycode("j") in received

    await until(got_j, what="the focused window to get Ctrl+Alt+J")
    # the window has the focus and gets ordinary keys, the modifiers of the shortcut too, but not its key
    assert received.count(other_client.keycode("Control_L")) == 2
    assert other_client.keycode("j") in received
    assert other_client.keycode("k") not in received
    assert [(t.id, t.phase) for t in fired] == [("greet", Phase.DOWN)]


@pytest.mark.parametrize(("lock", "mask"), [("Num_Lock", X.Mod2Mask), ("Caps_Lock", X.LockMask)])
async def test_fires_with_a_lock_modifier_on(
    x_server: str, service: ShortcutService, other_client: OtherClient, lock: str, mask: int
) -> None:
    await xdotool(x_server, "key", lock)
    # xdotool's requests and ours reach the server on different connections: wait until it has handled them
    await until(lambda: bool(other_client.modifier_state() & mask), what=f"{lock} to turn on")
    fired: list[Trigger] = []
    assert (await service.register("greet", "Ctrl+Alt+K", fired.append)).ok
    await xdotool(x_server, "key", "ctrl+alt+k")
    await until(lambda: len(fired) == 1, what=f"the shortcut to fire with {lock} on")


async def test_a_combination_another_client_holds_is_a_conflict_and_nothing_is_left_grabbed(
    service: ShortcutService, other_client: OtherClient
) -> None:
    assert other_client.try_grab("k", CTRL_ALT)
    result = await service.register("greet", "Ctrl+Alt+K", lambda _: None)
    assert result.reason is FailureReason.CONFLICT
    assert "another application" in result.message
    assert service.list() == []
    # the lock-modifier variants we did grab before the refusal were undone
    assert other_client.try_grab("k", CTRL_ALT | X.LockMask)
    assert other_client.try_grab("k", CTRL_ALT | X.Mod2Mask)


async def test_after_unregister_another_client_can_grab_it(service: ShortcutService, other_client: OtherClient) -> None:
    assert (await service.register("greet", "Ctrl+Alt+K", lambda _: None)).ok
    assert not other_client.try_grab("k", CTRL_ALT)
    assert await service.unregister("greet")
    assert other_client.try_grab("k", CTRL_ALT)


@pytest.mark.parametrize("use_xkb", [True, False], ids=["xkb-detectable-repeat", "repeat-pairs"])
async def test_key_up_is_reported_and_a_held_key_fires_once(x_server: str, use_xkb: bool) -> None:
    backend = X11Backend(x_server, use_xkb_auto_repeat=use_xkb)
    assert backend.detectable_auto_repeat is use_xkb
    service = ShortcutService(backend)
    try:
        fired: list[Trigger] = []
        assert (await service.register("talk", "Ctrl+Alt+K", fired.append, receive_key_ups=True)).ok
        await xdotool(x_server, "key", "ctrl+alt+k")
        await until(lambda: len(fired) == 2, what="down and up")
        await xdotool(x_server, "keydown", "ctrl+alt+k")
        await until(lambda: backend.repeats_dropped >= 5, what="the X server to auto-repeat the held key")
        await xdotool(x_server, "keyup", "ctrl+alt+k")
        await until(lambda: len(fired) == 4, what="the held key's release")
        assert phases(fired) == ["down", "up", "down", "up"]
    finally:
        await service.close()


async def test_modifiers_and_named_keys_reach_the_right_binding(x_server: str, service: ShortcutService) -> None:
    fired: list[Trigger] = []
    for id, accelerator in [
        ("a", "Super+Shift+F5"),
        ("b", "CmdOrCtrl+Up"),
        ("c", "Alt+Period"),
        ("d", "F9"),
    ]:
        assert (await service.register(id, accelerator, fired.append)).ok
    for keys in ("super+shift+F5", "ctrl+Up", "alt+period", "F9", "ctrl+F9"):
        await xdotool(x_server, "key", keys)
    await until(lambda: len(fired) >= 4, what="four shortcuts")
    assert [t.id for t in fired] == ["a", "b", "c", "d"]  # Ctrl+F9 is not F9: modifiers must match exactly
    same_keys = await service.register("e", "Ctrl+Up", fired.append)  # CmdOrCtrl is Ctrl here
    assert same_keys.reason is FailureReason.CONFLICT and "already used by 'b' in this app" in same_keys.message


def test_the_key_code_table_matches_the_servers_keyboard_map(other_client: OtherClient) -> None:
    """Our evdev table against Xvfb's real XKB map (US layout): each code's key carries the expected symbol."""
    XK.load_keysym_group("xf86")
    checked = 0
    for code in KEY_CODES:
        keysym = XK.string_to_keysym(KEYSYMS[code])
        if other_client.display.keysym_to_keycode(keysym) == 0:
            continue  # this map has no such key (F13-F24 on Xvfb)
        keycode = EVDEV_SCAN_CODES[code] + EVDEV_OFFSET
        symbols = {other_client.display.keycode_to_keysym(keycode, index) for index in range(4)}
        assert keysym in symbols, f"{code}: key code {keycode} does not carry {KEYSYMS[code]}"
        checked += 1
    assert checked > 90


async def test_a_lost_x_server_makes_registration_unsupported_not_a_crash() -> None:
    try:
        server = running_xvfb()
        name = server.__enter__()
    except XvfbUnavailable as missing:
        pytest.skip(str(missing))
    service = ShortcutService(X11Backend(name))
    fired: list[Trigger] = []
    try:
        assert (await service.register("greet", "Ctrl+Alt+K", fired.append)).ok
    finally:
        server.__exit__(None, None, None)  # the X server goes away under the app
    await asyncio.sleep(0.2)  # the reader notices the closed connection
    result = await service.register("other", "Ctrl+Alt+J", fired.append)
    assert result.reason is FailureReason.UNSUPPORTED and "connection to the X server was lost" in result.message
    assert await service.unregister("greet")
    await service.close()


async def test_rebinding_to_the_same_keys_spelled_otherwise_keeps_the_grab(
    x_server: str, service: ShortcutService, other_client: OtherClient
) -> None:
    fired: list[Trigger] = []
    assert (await service.register("toggle", "CmdOrCtrl+Alt+K", fired.append)).ok
    moved = await service.rebind("toggle", "Ctrl+Alt+K")  # on X11 the same keys: not a conflict with itself
    assert moved.ok, moved.message
    assert [b.accelerator.canonical() for b in service.list()] == ["Ctrl+Alt+KeyK"]
    assert not other_client.try_grab("k", CTRL_ALT)
    await xdotool(x_server, "key", "ctrl+alt+k")
    await until(lambda: len(fired) == 1, what="the rebound shortcut to fire")
    await service.unregister("toggle")
    assert other_client.try_grab("k", CTRL_ALT)
