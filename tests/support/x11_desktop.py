"""Small tools for tests of the app on a real X server: run X clients (xdotool, xwininfo), keep helpers (a window
manager, a tray host, a session bus) running for a block, and read window geometry and ancestry."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator


def run(env: dict[str, str], *command: str) -> str:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=20, check=True).stdout


@contextlib.contextmanager
def background(env: dict[str, str], *command: str) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` running for the block, then stopped (killed if it does not stop within 10 s)."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def session_bus(env: dict[str, str]) -> Iterator[str]:
    """A private D-Bus session bus (as every desktop session has one); yields its address."""
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert daemon.stdout is not None
        yield daemon.stdout.readline().strip()
    finally:
        daemon.terminate()
        daemon.wait(10)


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")
        time.sleep(0.05)


def xwininfo(env: dict[str, str], window: str, *options: str) -> dict[str, str]:
    """``xwininfo``'s "Name: value" lines for ``window``."""
    info = run(env, "xwininfo", *options, "-id", window)
    return {line.split(":")[0].strip(): line.split(":", 1)[1].strip() for line in info.splitlines() if ":" in line}


def geometry(env: dict[str, str], window: str) -> tuple[int, int, int, int]:
    """x, y (on the screen), width and height of ``window``."""
    fields = xwininfo(env, window)
    return (
        int(fields["Absolute upper-left X"]),
        int(fields["Absolute upper-left Y"]),
        int(fields["Width"]),
        int(fields["Height"]),
    )


def is_viewable(env: dict[str, str], window: str) -> bool:
    return xwininfo(env, window)["Map State"] == "IsViewable"


def ancestors(env: dict[str, str], window: str) -> list[int]:
    """The X windows that contain ``window``, from its parent up to the root."""
    chain: list[int] = []
    current = window
    while True:
        parent = xwininfo(env, current, "-tree")["Parent window id"].split()[0]
        if int(parent, 16) == 0:
            return chain
        chain.append(int(parent, 16))
        current = parent


def windows_of(env: dict[str, str], pid: int, *, visible: bool = True) -> list[str]:
    """The X windows a process made (``_NET_WM_PID``), mapped ones only unless ``visible`` is False."""
    found = subprocess.run(
        ["xdotool", "search", *(["--onlyvisible"] if visible else []), "--pid", str(pid)],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    return found.stdout.split()


def shape_extents(env: dict[str, str], window: str) -> tuple[int, int, int, int] | None:
    """x, y (in the window), width and height of the window's bounding shape, or None when it has no shape."""
    info = run(env, "xwininfo", "-shape", "-id", window)
    for line in info.splitlines():
        if "Window shape extents:" in line:
            size, x, y = line.split(":", 1)[1].strip().replace("+", " ").replace("-", " -").split()
            width, height = size.split("x")
            return int(x), int(y), int(width), int(height)
    return None
