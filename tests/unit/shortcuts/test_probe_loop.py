"""The probe command runs on the event loop its backend needs, and fails with one line, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import pytest
import qasync
from PySide6.QtWidgets import QApplication

from app.shortcuts.accelerator import Accelerator
from app.shortcuts.backend import GrabResult, ShortcutBackend
from app.shortcuts.cli import run_shortcuts_command
from app.shortcuts.select import BackendFactories
from tests.unit.shortcuts.fake_backend import FakeBackend


class WatchedFactories:
    """Builds a fake backend for any session, noting the loop and the Qt application it was built under."""

    def __init__(self, backend: ShortcutBackend | None = None, failure: Exception | None = None) -> None:
        self.backend = backend or FakeBackend()
        self.failure = failure
        self.built: list[tuple[str, asyncio.AbstractEventLoop, object]] = []

    def factories(self) -> BackendFactories:
        def make(kind: str) -> Any:
            def build(*_: object) -> ShortcutBackend:
                self.built.append((kind, asyncio.get_running_loop(), QApplication.instance()))
                if self.failure is not None:
                    raise self.failure
                return self.backend

            return build

        async def wayland() -> ShortcutBackend:
            built: ShortcutBackend = make("wayland")()
            return built

        return BackendFactories(make("x11"), wayland, make("windows"), make("macos"))


def probe_args(accelerator: str = "Ctrl+Alt+K") -> argparse.Namespace:
    return argparse.Namespace(accelerator=accelerator, seconds=0.05, key_ups=False, json=True)


@pytest.mark.parametrize(("platform", "kind"), [("win32", "windows"), ("darwin", "macos")])
def test_a_backend_that_needs_qt_gets_a_qt_application_and_a_qasync_loop(
    platform: str, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    watched = WatchedFactories()
    assert run_shortcuts_command(probe_args(), platform, {}, watched.factories()) == 0
    [(built, loop, app)] = watched.built
    assert built == kind and isinstance(loop, qasync.QEventLoop) and isinstance(app, QApplication)
    printed = json.loads(capsys.readouterr().out)
    assert printed["ok"] is True and printed["backend"] == "fake"


@pytest.mark.parametrize(
    ("platform", "env", "kind"),
    [("linux", {"DISPLAY": ":5"}, "x11"), ("linux", {"WAYLAND_DISPLAY": "wayland-1"}, "wayland")],
)
def test_x11_and_wayland_stay_on_plain_asyncio(
    platform: str, env: dict[str, str], kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    watched = WatchedFactories()
    assert run_shortcuts_command(probe_args(), platform, env, watched.factories()) == 0
    [(built, loop, _)] = watched.built
    assert built == kind and not isinstance(loop, qasync.QEventLoop)
    assert json.loads(capsys.readouterr().out)["ok"] is True


class CrashingGrab(FakeBackend):
    async def grab(self, token: str, accelerator: Accelerator) -> GrabResult:
        raise RuntimeError("Windows hot keys need the Qt application to be running")


def test_failures_are_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    crashing = WatchedFactories(backend=CrashingGrab())
    assert run_shortcuts_command(probe_args(), "win32", {}, crashing.factories()) == 1
    out, err = capsys.readouterr()
    printed = json.loads(out)
    assert printed["reason"] == "unsupported" and "need the Qt application" in printed["message"]
    assert "Traceback" not in err

    broken = WatchedFactories(failure=RuntimeError("user32 went away"))
    assert run_shortcuts_command(probe_args(), "win32", {}, broken.factories()) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == "shortcuts probe: RuntimeError: user32 went away\n"
