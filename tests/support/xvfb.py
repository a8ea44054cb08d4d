"""A private Xvfb for tests and benchmarks: the server picks a free display number itself (``-displayfd``), so
parallel runs never collide, and it is stopped on exit. ``-noreset``: by default Xvfb resets when its last client
disconnects, and a client connecting during the reset is refused."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
from collections.abc import Iterator


class XvfbUnavailable(Exception):
    pass


@contextlib.contextmanager
def running_xvfb(timeout: float = 10.0, screen: str = "640x480x24") -> Iterator[str]:
    """Yields the display name (``:N``) of a fresh Xvfb; raises :class:`XvfbUnavailable` if none can start."""
    if shutil.which("Xvfb") is None:
        raise XvfbUnavailable("Xvfb is not installed (make setup-test installs xvfb as root)")
    read_end, write_end = os.pipe()
    try:
        server = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_end), "-screen", "0", screen, "-nolisten", "tcp", "-noreset"],
            pass_fds=(write_end,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    finally:
        os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as reader:
            ready, _, _ = select.select([reader], [], [], timeout)
            number = reader.readline().decode().strip() if ready else ""
        if not number.isdigit():
            raise XvfbUnavailable(f"Xvfb did not report a display within {timeout:g} s")
        yield f":{number}"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
