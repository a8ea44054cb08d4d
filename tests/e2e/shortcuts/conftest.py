"""A private Xvfb per test, xdotool to press keys as a user would, and X clients that stand for other applications."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from Xlib import XK, X, display, error

from tests.support.xvfb import XvfbUnavailable, running_xvfb


@pytest.fixture
def x_server() -> Iterator[str]:
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (make setup-test installs it as root)")
    try:
        server = running_xvfb()
        name = server.__enter__()
    except XvfbUnavailable as missing:
        pytest.skip(str(missing))
    try:
        yield name
    finally:
        server.__exit__(None, None, None)


async def xdotool(display_name: str, *args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "xdotool", *args, env={**os.environ, "DISPLAY": display_name}, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    assert process.returncode == 0, f"xdotool {' '.join(args)}: {err.decode()}"


class OtherClient:
    """Another X application: a focused window that records the keys it receives, and grabs of its own."""

    def __init__(self, display_name: str) -> None:
        self.display: Any = display.Display(display_name)
        screen = self.display.screen()
        self.root = screen.root
        self.window = self.root.create_window(
            0, 0, 200, 100, 0, screen.root_depth, event_mask=X.KeyPressMask | X.KeyReleaseMask
        )

    def focus(self) -> None:
        self.window.map()
        self.display.sync()
        self.window.set_input_focus(X.RevertToParent, X.CurrentTime)
        self.display.sync()

    def keycode(self, keysym_name: str) -> int:
        return int(self.display.keysym_to_keycode(XK.string_to_keysym(keysym_name)))

    def pressed_keycodes(self) -> list[int]:
        """The keys pressed in the focused window since the last call."""
        keycodes = []
        while self.display.pending_events():
            event = self.display.next_event()
            if event.type == X.KeyPress:
                keycodes.append(event.detail)
        return keycodes

    def try_grab(self, keysym_name: str, modifiers: int) -> bool:
        catcher = error.CatchError(error.BadAccess)
        self.root.grab_key(
            self.keycode(keysym_name), modifiers, False, X.GrabModeAsync, X.GrabModeAsync, onerror=catcher
        )
        self.display.sync()
        return catcher.get_error() is None

    def modifier_state(self) -> int:
        return int(self.root.query_pointer().mask)

    def close(self) -> None:
        self.display.close()


@pytest.fixture
def other_client(x_server: str) -> Iterator[OtherClient]:
    client = OtherClient(x_server)
    try:
        yield client
    finally:
        client.close()
