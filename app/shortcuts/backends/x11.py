"""Global shortcuts on X11 (and XWayland while an X window has focus): passive key grabs on the root window.

- Its own X connection (not Qt's), read from the connection's file descriptor by an asyncio reader, so it runs in
  any asyncio loop, Qt's included (qasync), and never blocks it.
- X matches a grab's modifiers exactly, so each shortcut is grabbed once per lock-modifier state (NumLock, CapsLock,
  both, neither): shortcuts keep working with the locks on.
- X reports errors asynchronously; a ``sync()`` after the grabs turns a ``BadAccess`` (another client holds the
  combination) into a ``conflict`` at registration time, and any partial grabs are undone.
- Auto-repeat: XKB's detectable auto-repeat is switched on for this connection, so a held key gives repeated presses
  only (dropped while the key is down); without XKB, release+press pairs with the same server time are recognised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from Xlib import XK, X, display, error

from app.shortcuts.accelerator import Accelerator, Modifier
from app.shortcuts.backend import BackendUnavailable, FailureReason, GrabRefused, GrabResult, KeyListener, Phase
from app.shortcuts.backends.x11_keys import EVDEV_OFFSET, EVDEV_SCAN_CODES, KEYSYMS
from app.shortcuts.backends.x11_xkb import set_detectable_auto_repeat

log = logging.getLogger(__name__)

_Combo = tuple[int, int]
"""(key code, modifier mask without lock modifiers)"""


RELEASE_HOLD_S = 0.03
"""How long a release may wait for the press that would make it an auto-repeat (only without detectable repeat)."""


class X11Backend:
    name = "x11"

    def __init__(self, display_name: str | None = None, *, use_xkb_auto_repeat: bool = True) -> None:
        try:
            self._display: Any = display.Display(display_name)
        except (error.DisplayError, error.ConnectionClosedError, OSError) as failure:
            raise BackendUnavailable(f"cannot connect to the X server {display_name or ''}: {failure}") from failure
        self._display.set_error_handler(self._on_unexpected_error)
        self._root = self._display.screen().root
        self._fd: int = self._display.fileno()  # python-xlib raises on fileno() once the connection is lost
        self.detectable_auto_repeat = use_xkb_auto_repeat and set_detectable_auto_repeat(self._display)
        self._evdev = self._keycode_of_keysym("Escape") == 9 and self._keycode_of_keysym("Up") == 111
        self._modifier_masks, lock_masks = self._read_modifier_masks()
        self._lock_combinations = sorted({0, *lock_masks, sum(lock_masks)})
        self._relevant = sum(self._modifier_masks.values())
        self._tokens: dict[_Combo, str] = {}
        self._combos: dict[str, _Combo] = {}
        self._pressed: dict[int, str] = {}
        self._listener: KeyListener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lost: str | None = None
        self.repeats_dropped = 0
        self._held_release: Any = None
        """Without detectable auto-repeat, a release that ends a read may be half of a repeat pair whose press is
        still on its way; it is held until the next read, or for ``RELEASE_HOLD_S`` at most."""
        self._release_timer: asyncio.TimerHandle | None = None
        self.drained_at = 0.0
        """``time.perf_counter()`` when the events being handled were read from the X connection (for benchmarks)."""

    # -- the ShortcutBackend protocol ----------------------------------------------------------------------------

    def listen(self, listener: KeyListener) -> None:
        self._listener = listener

    async def grab(self, token: str, accelerator: Accelerator) -> GrabResult:
        combo = (self._keycode(accelerator.key), self._mask(accelerator))
        holder = self._tokens.get(combo)
        if holder is not None:
            raise GrabRefused(
                FailureReason.CONFLICT, f"on X11 {accelerator.familiar('linux')} is the same keys as another binding"
            )
        if self._lost is not None:
            raise GrabRefused(FailureReason.UNSUPPORTED, f"the connection to the X server was lost ({self._lost})")
        try:
            failure = self._grab_every_lock_state(combo)
        except error.ConnectionClosedError as closed:
            self._connection_lost(closed)
            raise GrabRefused(
                FailureReason.UNSUPPORTED, f"the connection to the X server was lost ({closed})"
            ) from None
        if failure is not None:
            name = accelerator.familiar("linux")
            if isinstance(failure, error.BadAccess):
                raise GrabRefused(
                    FailureReason.CONFLICT, f"{name} is already taken by another application (X11 BadAccess)"
                )
            raise GrabRefused(FailureReason.INVALID, f"the X server refused to grab {name}: {failure}")
        self._tokens[combo] = token
        self._combos[token] = combo
        return GrabResult()

    async def release(self, token: str) -> None:
        combo = self._combos.pop(token, None)
        if combo is None:
            return
        del self._tokens[combo]
        if self._pressed.get(combo[0]) == token:
            del self._pressed[combo[0]]
        if self._lost is None:
            try:
                self._ungrab(combo)
                # A round trip, not a flush: once unregister returns the key is free for another client (a flush
                # left the ungrab in flight, and another client's grab could still be refused; seen in CI).
                self._display.sync()
                self._schedule_drain()  # sync() may have read events into the queue, which the fd will not signal
            except error.ConnectionClosedError as closed:
                self._connection_lost(closed)

    def _grab_every_lock_state(self, combo: _Combo) -> Any:
        """Grab the combination with each lock-modifier state; the X error if any grab failed (all undone then)."""
        self._watch()
        catcher = error.CatchError()
        keycode, mask = combo
        for locks in self._lock_combinations:
            self._root.grab_key(keycode, mask | locks, False, X.GrabModeAsync, X.GrabModeAsync, onerror=catcher)
        self._display.sync()
        self._schedule_drain()  # sync() may have read events into the queue, which the fd will not signal again
        failure = catcher.get_error()
        if failure is not None:
            self._ungrab(combo)
            self._display.sync()
        return failure

    def _connection_lost(self, closed: Exception) -> None:
        log.error("the X server closed the shortcut connection: %s", closed)
        self._lost = str(closed)
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        self._loop = None

    async def close(self) -> None:
        if self._release_timer is not None:
            self._release_timer.cancel()
        for token in list(self._combos):
            await self.release(token)
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        self._loop = None
        with contextlib.suppress(error.ConnectionClosedError, OSError):
            self._display.close()

    # -- events --------------------------------------------------------------------------------------------------

    def _watch(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self._fd, self._drain)

    def _schedule_drain(self) -> None:
        if self._loop is not None:
            self._loop.call_soon(self._drain)

    def _drain(self) -> None:
        self.drained_at = time.perf_counter()
        events: list[Any] = []
        try:
            while count := self._display.pending_events():
                events.extend(self._display.next_event() for _ in range(count))
        except error.ConnectionClosedError as closed:
            self._connection_lost(closed)
        if self._held_release is not None:
            events.insert(0, self._held_release)
            self._held_release = None
            if self._release_timer is not None:
                self._release_timer.cancel()
                self._release_timer = None
        skip_next = False
        for index, event in enumerate(events):
            if skip_next:
                skip_next = False
                continue
            if event.type == X.KeyPress:
                self._on_press(event)
            elif event.type == X.KeyRelease:
                following = events[index + 1] if index + 1 < len(events) else None
                if (
                    following is not None
                    and following.type == X.KeyPress
                    and following.detail == event.detail
                    and following.time == event.time
                ):
                    skip_next = True  # auto-repeat without XKB: a synthetic release and press at the same instant
                    self.repeats_dropped += 1
                    continue
                if following is None and not self.detectable_auto_repeat and self._loop is not None:
                    # The pair's press may come in the next read (a loaded machine splits them): wait a moment.
                    self._held_release = event
                    self._release_timer = self._loop.call_later(RELEASE_HOLD_S, self._release_held)
                    continue
                self._on_release(event)

    def _release_held(self) -> None:
        self._release_timer = None
        held, self._held_release = self._held_release, None
        if held is not None:
            self._on_release(held)

    def _on_press(self, event: Any) -> None:
        keycode = event.detail
        if keycode in self._pressed:
            self.repeats_dropped += 1  # auto-repeat (detectable): the key is still down
            return
        token = self._tokens.get((keycode, event.state & self._relevant))
        if token is None:
            return
        self._pressed[keycode] = token
        self._emit(token, Phase.DOWN)

    def _on_release(self, event: Any) -> None:
        # By key code alone: the modifiers are often let go before the key.
        token = self._pressed.pop(event.detail, None)
        if token is not None:
            self._emit(token, Phase.UP)

    def _emit(self, token: str, phase: Phase) -> None:
        if self._listener is not None:
            self._listener(token, phase)

    # -- key codes and modifier masks ----------------------------------------------------------------------------

    def _keycode(self, key: str) -> int:
        if self._evdev:
            return EVDEV_SCAN_CODES[key] + EVDEV_OFFSET
        keycode = self._keycode_of_keysym(KEYSYMS[key])
        if keycode == 0:
            raise GrabRefused(FailureReason.INVALID, f"the X keyboard map has no key for {key}")
        return keycode

    def _keycode_of_keysym(self, name: str) -> int:
        if name.startswith("XF86_"):
            XK.load_keysym_group("xf86")
        return int(self._display.keysym_to_keycode(XK.string_to_keysym(name)))

    def _mask(self, accelerator: Accelerator) -> int:
        return sum(self._modifier_masks[m] for m in {_ON_LINUX.get(m, m) for m in accelerator.modifiers})

    def _read_modifier_masks(self) -> tuple[dict[Modifier, int], list[int]]:
        """Which ModN bits carry Alt, Super and NumLock on this server (Mod1, Mod4 and Mod2 on most)."""
        owners: dict[int, int] = {}
        for index, keycodes in enumerate(self._display.get_modifier_mapping()):
            for keycode in keycodes:
                if keycode:
                    owners.setdefault(keycode, 1 << index)

        def mask_of(keysyms: tuple[str, ...], fallback: int) -> int:
            for name in keysyms:
                keycode = self._keycode_of_keysym(name)
                if keycode in owners:
                    return owners[keycode]
            return fallback

        masks = {
            Modifier.CTRL: X.ControlMask,
            Modifier.SHIFT: X.ShiftMask,
            Modifier.ALT: mask_of(("Alt_L", "Alt_R", "Meta_L"), X.Mod1Mask),
            Modifier.SUPER: mask_of(("Super_L", "Super_R"), X.Mod4Mask),
        }
        num_lock = mask_of(("Num_Lock",), X.Mod2Mask)
        return masks, [X.LockMask, num_lock]

    def _ungrab(self, combo: _Combo) -> None:
        keycode, mask = combo
        for locks in self._lock_combinations:
            self._root.ungrab_key(keycode, mask | locks)

    def _on_unexpected_error(self, failure: Any, request: Any) -> None:
        log.warning("X error on the shortcut connection: %s", failure)


_ON_LINUX = {Modifier.CMD_OR_CTRL: Modifier.CTRL}
