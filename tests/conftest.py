"""Test plumbing shared by every tier.

- Qt runs offscreen. Async tests marked ``qt`` (or using ``qtbot``) run on a qasync loop, so Qt timers and signals
  fire during awaits as they do in the app; plain asyncio tests (sockets, processes) run on asyncio's own loop.
- Under ``CI=true`` a skipped tier-3 test is a failure: CI must prove the real engines, not skip them.
- pytest-qt pumps Qt events between test phases. With qasync that would run asyncio callbacks while no loop is
  running (tasks then die with "no running event loop"), so those pumps go through the test's qasync loop instead.
- No test may leave a process behind: pytest becomes a child subreaper (orphans are re-parented to it, so even a
  browser's grandchildren stay visible), and after each test every descendant must be gone.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")

import contextlib
import gc

import pytest
import pytestqt.plugin
from PySide6.QtWidgets import QApplication

from app.qt_loop import QtAsyncioLoop

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"
VRM_FIXTURES = SHARED_DIR / "fixtures" / "vrm"
_PR_SET_CHILD_SUBREAPER = 36


class _QasyncLoops:
    """Remembers the loop of the running test so pytest-qt's event pumping can happen inside it."""

    current: QtAsyncioLoop | None = None

    @classmethod
    def make(cls) -> QtAsyncioLoop:
        app = QApplication.instance() or QApplication([])
        cls.current = QtAsyncioLoop(app)
        return cls.current

    @classmethod
    def process_events(cls) -> None:
        app = QApplication.instance()
        if app is None:
            return
        loop = cls.current
        if loop is None or loop.is_closed() or loop.is_running():
            app.processEvents()
            return

        async def pump() -> None:
            app.processEvents()
            await asyncio.sleep(0)

        loop.run_until_complete(pump())


pytestqt.plugin._process_events = _QasyncLoops.process_events


def _qasync_loop() -> QtAsyncioLoop:
    return _QasyncLoops.make()


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Mapping[str, Callable[[], object]]:
    uses_qt = item.get_closest_marker("qt") is not None or "qtbot" in getattr(item, "fixturenames", ())
    return {"qasync": _qasync_loop} if uses_qt else {"asyncio": asyncio.new_event_loop}


def pytest_configure(config: pytest.Config) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped and item.get_closest_marker("tier3") and os.environ.get("CI") == "true":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"tier-3 test skipped under CI=true, which must run it: {reason}"
    return report


def _children_of(pid: int) -> dict[int, tuple[str, str]]:
    """Every process whose parent is ``pid``: pid -> (state, command name)."""
    found: dict[int, tuple[str, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name_end = stat.rfind(")")
        fields = stat[name_end + 2 :].split()
        if int(fields[1]) == pid:
            found[int(entry.name)] = (fields[0], stat[stat.find("(") + 1 : name_end])
    return found


def live_descendants() -> dict[int, str]:
    """Our children that are still running; zombies are reaped on the way (they are already dead)."""
    alive: dict[int, str] = {}
    for pid, (state, name) in _children_of(os.getpid()).items():
        if state == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        else:
            alive[pid] = name
    return alive


@pytest.fixture(autouse=True)
def qt_objects_collected_on_the_gui_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """Qt objects a test leaves in reference cycles (widgets holding callbacks that hold them) are collected right
    after it, on this, the GUI thread. Left to the garbage collector they may be freed later inside a worker thread
    of another test (an executor allocating), and a QTimer destroyed off its thread crashes Qt (seen as rare
    segfaults in whichever test ran next)."""
    yield
    if request.node.get_closest_marker("qt") is not None or "qtbot" in request.fixturenames:
        gc.collect()


@pytest.fixture(autouse=True)
def no_leftover_processes() -> Iterator[None]:
    if not sys.platform.startswith("linux"):
        yield
        return
    before = set(live_descendants())
    yield
    deadline = time.monotonic() + 5.0
    leftover = {pid: name for pid, name in live_descendants().items() if pid not in before}
    while leftover and time.monotonic() < deadline:
        time.sleep(0.05)
        leftover = {pid: name for pid, name in live_descendants().items() if pid not in before}
    for pid in leftover:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not leftover, f"the test left processes behind: {leftover}"


@pytest.fixture
def vrm_fixture() -> Callable[[str], Path]:
    """Path to a shared VRM fixture; skips when ``../shared`` is absent (tests must pass without it)."""

    def find(name: str) -> Path:
        path = VRM_FIXTURES / name
        if not path.is_file():
            pytest.skip(f"shared fixture {name} is not available ({VRM_FIXTURES} missing)")
        return path

    return find
