"""A backend that grabs nothing: tests say which combinations the 'system' refuses and press keys by hand."""

from __future__ import annotations

import asyncio

from app.shortcuts.accelerator import Accelerator
from app.shortcuts.backend import FailureReason, GrabRefused, GrabResult, KeyListener, Phase


class FakeBackend:
    name = "fake"

    def __init__(self) -> None:
        self.listener: KeyListener | None = None
        self.grabs: dict[str, Accelerator] = {}
        self.refuse: dict[Accelerator, tuple[FailureReason, str]] = {}
        self.substitute: dict[Accelerator, Accelerator] = {}
        self.crash: dict[Accelerator, Exception] = {}
        """Grabbing these raises the error as a broken platform would (not a GrabRefused)."""
        self.crash_on_release: Exception | None = None
        self.hold: dict[Accelerator, asyncio.Event] = {}
        """Grabbing these waits for the event, as a portal waits for its dialog."""
        self.closed = False

    def listen(self, listener: KeyListener) -> None:
        self.listener = listener

    async def grab(self, token: str, accelerator: Accelerator) -> GrabResult:
        if accelerator in self.hold:
            await self.hold[accelerator].wait()
        if accelerator in self.crash:
            raise self.crash[accelerator]
        if accelerator in self.refuse:
            raise GrabRefused(*self.refuse[accelerator])
        for held in self.grabs.values():  # as X11 and Windows do: the same keys cannot be grabbed twice
            if held.on_platform("linux") == accelerator.on_platform("linux"):
                raise GrabRefused(FailureReason.CONFLICT, f"{accelerator.familiar('linux')} is already grabbed")
        actual = self.substitute.get(accelerator)
        self.grabs[token] = actual or accelerator
        return GrabResult(actual)

    async def release(self, token: str) -> None:
        self.grabs.pop(token, None)
        if self.crash_on_release is not None:
            raise self.crash_on_release

    async def close(self) -> None:
        self.grabs.clear()
        self.closed = True

    def press(self, accelerator: Accelerator, phase: Phase = Phase.DOWN) -> None:
        assert self.listener is not None
        for token, grabbed in list(self.grabs.items()):
            if grabbed == accelerator:
                self.listener(token, phase)

    def held(self) -> set[Accelerator]:
        return set(self.grabs.values())
