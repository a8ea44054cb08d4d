"""``python -m app shortcuts probe ACCELERATOR [--seconds N] [--key-ups] [--json]``: try a global shortcut.

Registers the accelerator with this session's backend, prints the result (why not, if it cannot), then prints each
trigger as one JSON line until the time is up or Ctrl+C, and releases the grab.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Coroutine, Mapping
from typing import Any

from app.shortcuts.select import BackendFactories, detect_session, needs_qt_event_loop, open_backend
from app.shortcuts.service import ShortcutService, Trigger

log = logging.getLogger(__name__)

PROBE_ID = "probe"


def add_shortcuts_command(commands: Any) -> None:
    """Adds ``shortcuts`` to the app's subcommands (``commands`` is ``parser.add_subparsers()``'s result)."""
    shortcuts = commands.add_parser("shortcuts", help="global shortcuts: try one out")
    actions = shortcuts.add_subparsers(dest="shortcuts_command", required=True)
    probe = actions.add_parser(
        "probe", help="register ACCELERATOR, print each trigger as a JSON line until the time is up, then release it"
    )
    probe.add_argument("accelerator", help="e.g. Ctrl+Alt+K, CmdOrCtrl+Shift+F5, Super+Space")
    probe.add_argument("--seconds", type=float, default=10.0, help="how long to listen (default 10)")
    probe.add_argument("--key-ups", action="store_true", help="report key releases too")
    probe.add_argument("--json", action="store_true", help="print the registration result as JSON")


def run_shortcuts_command(
    args: argparse.Namespace,
    platform: str = sys.platform,
    env: Mapping[str, str] = os.environ,
    factories: BackendFactories | None = None,
) -> int:
    if args.seconds <= 0:
        print("shortcuts probe: --seconds must be more than 0", file=sys.stderr)
        return 2
    job = probe(
        args.accelerator, args.seconds, args.key_ups, args.json, platform=platform, env=env, factories=factories
    )
    try:
        if needs_qt_event_loop(detect_session(platform, env)):
            return _run_on_qt(job)
        return asyncio.run(job)
    except KeyboardInterrupt:
        job.close()
        return 130
    except Exception as failure:  # a one-line reason, never a traceback
        job.close()  # when the loop never started it
        log.debug("shortcuts probe failed", exc_info=True)
        print(f"shortcuts probe: {type(failure).__name__}: {failure}", file=sys.stderr)
        return 1


def _run_on_qt(job: Coroutine[Any, Any, int]) -> int:
    """Windows hot keys arrive through a Qt native event filter and macOS hot keys through the Cocoa event loop, so
    their backends need a Qt application whose loop runs asyncio (qasync)."""
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415 - Qt only where the backend needs it

    from app.qt_loop import QtAsyncioLoop  # noqa: PLC0415

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    loop = QtAsyncioLoop(app)
    with loop:
        result: int = loop.run_until_complete(job)
    return result


async def probe(
    accelerator: str,
    seconds: float,
    key_ups: bool,
    as_json: bool,
    *,
    platform: str = sys.platform,
    env: Mapping[str, str] = os.environ,
    factories: BackendFactories | None = None,
) -> int:
    stop = _stop_on_signals()  # before anything is printed: a caller may signal as soon as it reads a line
    backend = await open_backend(platform, env, factories)
    service = ShortcutService(backend)
    started = time.monotonic()

    def show(trigger: Trigger) -> None:
        line = {"id": trigger.id, "phase": trigger.phase.value, "seconds": round(trigger.at - started, 4)}
        print(json.dumps(line), flush=True)

    try:
        result = await service.register(PROBE_ID, accelerator, show, receive_key_ups=key_ups)
        if as_json:
            print(json.dumps({**result.as_json(), "backend": backend.name}), flush=True)
        elif result.ok:
            assert result.accelerator is not None
            shown = result.accelerator.familiar(platform)
            print(f"registered {shown} with {backend.name}; press it within {seconds:g} s", flush=True)
        else:
            assert result.reason is not None
            print(f"cannot register {accelerator}: {result.reason.value}: {result.message}", flush=True)
        if not result.ok:
            return 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        return 0
    finally:
        await service.close()


def _stop_on_signals() -> asyncio.Event:
    """Set by Ctrl+C or SIGTERM, so the probe ends early and still releases the grab."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop
