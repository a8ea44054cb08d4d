"""Starting a stage process so that nothing it spawns can outlive the app."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child before exec: the kernel sends it SIGKILL when the app dies, even by SIGKILL.
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def child_preexec() -> Callable[[], None] | None:
    """The pre-exec hook for stage processes (Linux only; elsewhere the stage's own heartbeat check suffices)."""
    return _die_with_parent if sys.platform.startswith("linux") else None


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group the stage leads (it was started in a session of its own)."""
    if os.name != "posix":
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
