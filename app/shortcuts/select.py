"""Choosing the shortcut backend at run time, from the platform and the session type.

Linux/BSD: a Wayland session (``XDG_SESSION_TYPE=wayland``, or ``WAYLAND_DISPLAY`` without an X11 session type) uses
the GlobalShortcuts portal, never X11 grabs (through XWayland they only see keys while one of our own X windows has
focus). An X11 session uses X11 grabs. With no display, or when the chosen backend cannot start, every registration
is ``unsupported`` with the reason.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.shortcuts.backend import BackendUnavailable, ShortcutBackend, UnavailableBackend
from app.shortcuts.service import ShortcutService
from app.shortcuts.settings import BindingSettings

log = logging.getLogger(__name__)

SessionKind = Literal["windows", "macos", "x11", "wayland", "none"]


@dataclass(frozen=True)
class Session:
    kind: SessionKind
    why: str


def detect_session(platform: str = sys.platform, env: Mapping[str, str] = os.environ) -> Session:
    if platform.startswith("win"):
        return Session("windows", "Windows")
    if platform == "darwin":
        return Session("macos", "macOS")
    session_type = env.get("XDG_SESSION_TYPE", "").lower()
    if session_type == "wayland" or (env.get("WAYLAND_DISPLAY") and session_type != "x11"):
        return Session("wayland", f"Wayland session ({env.get('WAYLAND_DISPLAY') or 'XDG_SESSION_TYPE=wayland'})")
    if env.get("DISPLAY"):
        return Session("x11", f"X11 session (DISPLAY={env['DISPLAY']})")
    return Session(
        "none",
        "no graphical session (DISPLAY and WAYLAND_DISPLAY are unset), so there are no global shortcuts; start the "
        "app from a desktop session",
    )


def needs_qt_event_loop(session: Session) -> bool:
    """Whether the session's backend only hears keys while a Qt application runs the loop: Windows hot keys come
    through a Qt native event filter, macOS Carbon hot keys through the Cocoa event loop. X11 reads its own
    connection and the portal its D-Bus socket, so plain asyncio does for them."""
    return session.kind in ("windows", "macos")


@dataclass(frozen=True)
class BackendFactories:
    """How to build each backend; each raises :class:`BackendUnavailable` with why it cannot start."""

    x11: Callable[[str], ShortcutBackend]
    wayland: Callable[[], Awaitable[ShortcutBackend]]
    windows: Callable[[], ShortcutBackend]
    macos: Callable[[], ShortcutBackend]


def platform_factories() -> BackendFactories:
    def x11(display: str) -> ShortcutBackend:
        from app.shortcuts.backends.x11 import X11Backend  # noqa: PLC0415 - python-xlib is Linux-only

        return X11Backend(display)

    async def wayland() -> ShortcutBackend:
        from app.shortcuts.backends.portal_dbus import JeepneyPortalCalls  # noqa: PLC0415 - Linux only
        from app.shortcuts.backends.wayland import PortalBackend  # noqa: PLC0415

        return await PortalBackend.open(JeepneyPortalCalls())

    def windows() -> ShortcutBackend:
        from app.shortcuts.backends.windows import User32Calls, WindowsBackend  # noqa: PLC0415

        return WindowsBackend(User32Calls())

    def macos() -> ShortcutBackend:
        import platform  # noqa: PLC0415

        from app.shortcuts.backends.macos import CarbonLibraryCalls, MacBackend  # noqa: PLC0415

        version = tuple(int(part) for part in platform.mac_ver()[0].split(".") if part.isdigit())
        return MacBackend(CarbonLibraryCalls(), version)

    return BackendFactories(x11, wayland, windows, macos)


async def open_backend(
    platform: str = sys.platform,
    env: Mapping[str, str] = os.environ,
    factories: BackendFactories | None = None,
) -> ShortcutBackend:
    """The backend for this session; an :class:`UnavailableBackend` that says why when there is none."""
    session = detect_session(platform, env)
    made = factories or platform_factories()
    try:
        if session.kind == "x11":
            return made.x11(env["DISPLAY"])
        if session.kind == "wayland":
            return await made.wayland()
        if session.kind == "windows":
            return made.windows()
        if session.kind == "macos":
            return made.macos()
    except BackendUnavailable as unavailable:
        log.warning("global shortcuts unavailable: %s", unavailable)
        return UnavailableBackend(f"{session.why}: {unavailable}")
    except (ImportError, OSError) as failure:
        log.warning("global shortcuts unavailable: %s", failure)
        return UnavailableBackend(f"{session.why}: the platform's shortcut API could not be loaded ({failure})")
    return UnavailableBackend(session.why)


async def open_shortcut_service(
    user_data: Path, factories: BackendFactories | None = None, bindings: BindingSettings | None = None
) -> ShortcutService:
    """The service as the composition root builds it: this session's backend, bindings in the app's settings
    (``<user data>/settings.json``, its ``shortcuts`` section); ``bindings`` shares a running settings service."""
    if bindings is None:
        from app.config.service import SettingsBindingStore, SettingsService  # noqa: PLC0415 - config imports us
        from app.config.store import SettingsStore  # noqa: PLC0415

        bindings = SettingsBindingStore(SettingsService(SettingsStore(user_data)))
    return ShortcutService(await open_backend(factories=factories), bindings)
