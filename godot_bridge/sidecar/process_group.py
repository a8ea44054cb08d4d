"""Starting a stage process so that nothing it spawns can outlive the app."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def child_preexec() -> Callable[[], None] | None:
    """The pre-exec hook for stage processes (Linux only; elsewhere the stage's own heartbeat check suffices): the
    kernel sends the stage SIGKILL when the app dies, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return None
    # Looked up here, in the parent: dlopen and dlsym in the child, between fork and exec of a process with threads
    # (Qt's, the executor's), can deadlock on a lock another thread held at the fork.
    prctl = ctypes.CDLL(None).prctl

    def die_with_parent() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return die_with_parent


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group the stage leads (it was started in a session of its own)."""
    if os.name != "posix":
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
