"""A backend that grabs nothing: tests say which combinations the 'system' refuses and press keys by hand."""

from __future__ import annotations

from app.shortcuts.accelerator import Accelerator
from app.shortcuts.backend import FailureReason, GrabRefused, GrabResult, KeyListener, Phase


class FakeBackend:
    name = "fake"

    def __init__(self) -> None:
        self.listener: KeyListener | None = None
        self.grabs: dict[str, Accelerator] = {}
        self.refuse: dict[Accelerator, tuple[FailureReason, str]] = {}
        self.substitute: dict[Accelerator, Accelerator] = {}
        self.closed = False

    def listen(self, listener: KeyListener) -> None:
        self.listener = listener

    async def grab(self, token: str, accelerator: Accelerator) -> GrabResult:
        if accelerator in self.refuse:
            raise GrabRefused(*self.refuse[accelerator])
        actual = self.substitute.get(accelerator)
        self.grabs[token] = actual or accelerator
        return GrabResult(actual)

    async def release(self, token: str) -> None:
        self.grabs.pop(token, None)

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
