"""What a platform backend does for the shortcut service, and the closed set of reasons it may refuse for."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from app.shortcuts.accelerator import Accelerator


class FailureReason(enum.Enum):
    """Why a shortcut could not be registered. Closed: a backend may only refuse for one of these."""

    INVALID = "invalid"
    """Not an accelerator, or one this platform cannot express (a key with no key code, a combination it refuses)."""
    DUPLICATE_ID = "duplicate-id"
    """An active binding already has this id; rebind or unregister it instead."""
    CONFLICT = "conflict"
    """Another application, or another binding of this app, holds the combination."""
    DENIED = "denied"
    """The system or the user refused (a portal dialog declined, a permission missing)."""
    UNSUPPORTED = "unsupported"
    """No backend can do this on this platform or session; the message says why."""


class Phase(enum.Enum):
    DOWN = "down"
    UP = "up"


KeyListener = Callable[[str, Phase], None]
"""Called by a backend with the grab's token and the phase, on the thread and loop the backend was built on."""


class GrabRefused(Exception):
    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class BackendUnavailable(Exception):
    """A backend cannot start here (no X server, no portal); the message says why, for ``unsupported``."""


@dataclass(frozen=True)
class GrabResult:
    """A grab that succeeded. ``actual`` is set when the system chose a different combination (a Wayland portal
    lets the user pick one)."""

    actual: Accelerator | None = None


class ShortcutBackend(Protocol):
    """One platform's way of grabbing key combinations system-wide.

    Backends report each physical press once: auto-repeat is theirs to recognise where the platform repeats (the
    service also drops a ``down`` that arrives while the binding is already down). Key-ups are reported for every
    grab; the service passes them on only to bindings that asked for them.
    """

    name: str

    def listen(self, listener: KeyListener) -> None:
        """Where to report key events (the service calls this once, before the first grab)."""
        ...

    async def grab(self, token: str, accelerator: Accelerator) -> GrabResult:
        """Grab ``accelerator``; events for it are reported with ``token``. Raises :class:`GrabRefused`."""
        ...

    async def release(self, token: str) -> None:
        """Let go of a grab; unknown tokens are ignored."""
        ...

    async def close(self) -> None:
        """Release every grab and the platform connection."""
        ...


@runtime_checkable
class BatchGrabbing(Protocol):
    """A backend that can grab several combinations in one platform request (the portal shows one dialog for all
    of them instead of one per shortcut). The service uses it for the app's actions at startup."""

    async def grab_many(self, grabs: Sequence[tuple[str, Accelerator]]) -> dict[str, GrabResult | GrabRefused]:
        """Each token's result, or why it was refused. Raises only when the request as a whole failed."""
        ...


class UnavailableBackend:
    """Stands in where no backend works, so that every registration says why instead of the app failing."""

    name = "none"

    def __init__(self, why: str) -> None:
        self.why = why

    def listen(self, listener: KeyListener) -> None:
        return None

    async def grab(self, token: str, accelerator: Accelerator) -> GrabResult:
        raise GrabRefused(FailureReason.UNSUPPORTED, self.why)

    async def release(self, token: str) -> None:
        return None

    async def close(self) -> None:
        return None
