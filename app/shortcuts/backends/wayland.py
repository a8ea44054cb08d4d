"""Global shortcuts on Wayland: the xdg-desktop-portal ``org.freedesktop.portal.GlobalShortcuts`` interface.

Wayland has no global grabs; the compositor owns shortcuts and the portal asks the user to confirm (and may let them
choose another trigger). The flow: register the app id with the host registry (xdg-desktop-portal 1.21 refuses
unsandboxed apps without one), ``CreateSession``, then ``BindShortcuts`` with every shortcut of the session and a
preferred trigger each; ``Activated``/``Deactivated`` give presses and releases, so key-ups work.

Reasons: a declined dialog is ``denied``; a shortcut the portal left out of its answer is ``denied`` too; no portal
or no GlobalShortcuts interface is ``unsupported`` with why. The portal cannot unbind: a released shortcut stays
with the compositor until the session ends, and its events are ignored.

Everything D-Bus-specific is in :class:`PortalCalls` (:mod:`app.shortcuts.backends.portal_dbus`);
:class:`PortalBackend` is plain logic tested with a fake of exactly those calls.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from app.shortcuts.accelerator import Accelerator, AcceleratorError, Modifier, parse_accelerator
from app.shortcuts.backend import BackendUnavailable, FailureReason, GrabRefused, GrabResult, KeyListener, Phase
from app.shortcuts.backends.x11_keys import KEYSYMS

APP_ID = "io.github.stage_tamagotchi.StageTamagotchi"
RESPONSE_SUCCESS = 0
RESPONSE_CANCELLED = 1

_TRIGGER_MODIFIERS = {
    Modifier.CMD_OR_CTRL: "CTRL",
    Modifier.CTRL: "CTRL",
    Modifier.ALT: "ALT",
    Modifier.SHIFT: "SHIFT",
    Modifier.SUPER: "LOGO",
}


class PortalCalls(Protocol):
    async def open(self, app_id: str) -> int | None:
        """Connect to the session bus, register ``app_id`` with ``org.freedesktop.host.portal.Registry`` where the
        portal has it, and return the GlobalShortcuts interface version (None when no portal offers it).
        Raises :class:`BackendUnavailable` when there is no session bus."""
        ...

    async def request(self, method: str, arguments: list[Any]) -> tuple[int, dict[str, Any]]:
        """Call a GlobalShortcuts method that answers through ``org.freedesktop.portal.Request::Response``, and
        return that response's code and results."""
        ...

    def on_shortcut(self, session_handle: str, callback: Callable[[str, bool], None]) -> None:
        """``callback(shortcut_id, active)`` for ``Activated`` (True) and ``Deactivated`` (False) of the session."""
        ...

    async def close(self, session_handle: str | None) -> None:
        """Close the session (when there is one) and the bus connection."""
        ...


def preferred_trigger(accelerator: Accelerator) -> str:
    """The XDG shortcuts format the portal takes, e.g. ``CTRL+ALT+k`` (modifiers, then an XKB keysym name)."""
    modifiers = sorted(
        {_TRIGGER_MODIFIERS[m] for m in accelerator.modifiers}, key=list(_TRIGGER_MODIFIERS.values()).index
    )
    return "+".join([*modifiers, KEYSYMS[accelerator.key].replace("XF86_", "XF86")])


class PortalBackend:
    name = "xdg-desktop-portal"

    def __init__(self, calls: PortalCalls, session_handle: str) -> None:
        self._calls = calls
        self._session = session_handle
        self._requests = itertools.count(1)
        self._bound: dict[str, Accelerator] = {}
        self._listener: KeyListener | None = None
        calls.on_shortcut(session_handle, self._on_shortcut)

    @classmethod
    async def open(cls, calls: PortalCalls, app_id: str = APP_ID) -> PortalBackend:
        """Raises :class:`BackendUnavailable` saying why there are no global shortcuts on this session."""
        try:
            version = await calls.open(app_id)
            if version is None:
                raise BackendUnavailable(
                    "this Wayland session has no xdg-desktop-portal with GlobalShortcuts (KDE Plasma 5.27+, GNOME 48+ "
                    "and Hyprland have one); global shortcuts are unavailable"
                )
            code, results = await calls.request(
                "CreateSession", [{"handle_token": "stage_tamagotchi_0", "session_handle_token": "stage_tamagotchi"}]
            )
            session = results.get("session_handle")
            if code != RESPONSE_SUCCESS or not isinstance(session, str):
                raise BackendUnavailable(f"the GlobalShortcuts portal refused a session (response {code})")
        except BaseException:
            await calls.close(None)
            raise
        return cls(calls, session)

    def listen(self, listener: KeyListener) -> None:
        self._listener = listener

    async def grab(self, token: str, accelerator: Accelerator) -> GrabResult:
        result = (await self.grab_many([(token, accelerator)]))[token]
        if isinstance(result, GrabRefused):
            raise result
        return result

    async def grab_many(self, grabs: Sequence[tuple[str, Accelerator]]) -> dict[str, GrabResult | GrabRefused]:
        """One ``BindShortcuts`` (so one dialog) for every shortcut of the session plus ``grabs``: the portal binds a
        session's shortcuts as a whole."""
        wanted = {**self._bound, **dict(grabs)}
        shortcuts = [
            (shortcut_id, {"description": shortcut_id.split("#")[0], "preferred_trigger": preferred_trigger(accel)})
            for shortcut_id, accel in wanted.items()
        ]
        options = {"handle_token": f"stage_tamagotchi_{next(self._requests)}"}
        code, results = await self._calls.request("BindShortcuts", [self._session, shortcuts, "", options])
        if code != RESPONSE_SUCCESS:
            why = (
                "the shortcut dialog was cancelled"
                if code == RESPONSE_CANCELLED
                else f"the portal did not bind the shortcut (response {code})"
            )
            return {token: GrabRefused(FailureReason.DENIED, why) for token, _ in grabs}
        answered = dict(results.get("shortcuts", []))
        outcome: dict[str, GrabResult | GrabRefused] = {}
        for token, accelerator in grabs:
            if token in answered:
                self._bound[token] = accelerator
                outcome[token] = GrabResult(_actual_trigger(answered[token], accelerator))
            else:
                outcome[token] = GrabRefused(
                    FailureReason.DENIED, "the portal left this shortcut out (not confirmed by the user)"
                )
        return outcome

    async def release(self, token: str) -> None:
        self._bound.pop(token, None)

    async def close(self) -> None:
        self._bound.clear()
        await self._calls.close(self._session)

    def _on_shortcut(self, shortcut_id: str, active: bool) -> None:
        if shortcut_id in self._bound and self._listener is not None:
            self._listener(shortcut_id, Phase.DOWN if active else Phase.UP)


def _actual_trigger(properties: dict[str, Any], requested: Accelerator) -> Accelerator | None:
    """The trigger the user chose, when the portal describes one we can read and it differs from the request."""
    description = properties.get("trigger_description")
    if not isinstance(description, str) or not description.strip():
        return None
    try:
        actual = parse_accelerator(description, require_modifier=False)
    except AcceleratorError:
        return None
    return None if actual == requested else actual
