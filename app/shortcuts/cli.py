"""``python -m app shortcuts probe ACCELERATOR [--seconds N] [--key-ups] [--json]``: try a global shortcut.

Registers the accelerator with this session's backend, prints the result (why not, if it cannot), then prints each
trigger as one JSON line until the time is up or Ctrl+C, and releases the grab.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from typing import Any

from app.shortcuts.select import open_backend
from app.shortcuts.service import ShortcutService, Trigger

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


def run_shortcuts_command(args: argparse.Namespace) -> int:
    if args.seconds <= 0:
        print("shortcuts probe: --seconds must be more than 0", file=sys.stderr)
        return 2
    return asyncio.run(probe(args.accelerator, args.seconds, args.key_ups, args.json))


async def probe(accelerator: str, seconds: float, key_ups: bool, as_json: bool) -> int:
    stop = _stop_on_signals()  # before anything is printed: a caller may signal as soon as it reads a line
    backend = await open_backend()
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
            shown = result.accelerator.familiar(sys.platform)
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
