"""``python -m app [subcommand]``: the app itself, and diagnostics that need no window.

Subcommands print human text by default and JSON with ``--json``, and exit non-zero with a one-line reason on
failure. ``stage-check`` answers "does my Godot show this avatar?"; ``godot-info`` answers "which Godot would be used,
and if none, why?".
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
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from app.config.model import DEFAULT_REMOTE_DEBUG_URI, checked_remote_debug_uri
from app.main import AppOptions, LauncherUnavailable, ManagedStage, build_launcher, open_library, run_gui
from app.models.library import LibraryError
from app.models.refusals import ModelRefused
from app.paths import USER_DATA_ENV, resolve_user_data_dir
from app.version import app_version
from godot_bridge.server import SceneApplyFailed, StageError
from godot_bridge.sidecar.discovery import GodotFinder
from godot_bridge.sidecar.manager import StageStartError


def _user_data(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a subcommand's copy of an option must not overwrite what was given before the subcommand's name
    # (``--user-data DIR models list``); build_parser sets the defaults once, on the main parser.
    parser.add_argument(
        "--user-data", metavar="DIR", default=argparse.SUPPRESS, help=f"the app's data folder (also ${USER_DATA_ENV})"
    )


def _remote_debug_uri(value: str) -> str:
    try:
        return checked_remote_debug_uri(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _common(parser: argparse.ArgumentParser) -> None:
    _user_data(parser)
    parser.add_argument(
        "--runtime",
        choices=("auto", "native", "embedded", "web", "attach"),
        default=argparse.SUPPRESS,
        help="auto (the app's default: native Godot 4 if found, else the stage embedded in the window), native "
        "Godot (stage-check's default), the Godot web runtime embedded in the window or in headless Chromium, "
        "or attach to a stage you start from the Godot editor",
    )
    parser.add_argument(
        "--godot", metavar="PATH", default=argparse.SUPPRESS, help="the Godot 4 executable (default: searched)"
    )
    parser.add_argument(
        "--remote-debug",
        metavar="URI",
        nargs="?",
        const=DEFAULT_REMOTE_DEBUG_URI,
        default=argparse.SUPPRESS,
        type=_remote_debug_uri,
        help=f"let the Godot editor's debugger see the stage (native Godot; default {DEFAULT_REMOTE_DEBUG_URI})",
    )


SUBCOMMANDS = ("stage-check", "godot-info", "models", "shortcuts", "say", "lipsync", "settings", "web-stage-host")


def build_parser(*, with_subcommands: bool = True) -> argparse.ArgumentParser:
    """The command line; without subcommands (the app itself) none of their modules is imported (a faster start)."""
    parser = argparse.ArgumentParser(prog="stage-tamagotchi", description="A desktop body for an AI companion.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {app_version()}")
    _common(parser)
    parser.set_defaults(user_data=None, runtime=None, godot=None, remote_debug=None, command=None)
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    if not with_subcommands:
        return parser
    # Imported here: each pulls in its subsystem (numpy, espeak, httpx...), which the app's window does not need
    # before it shows.
    from app.config.cli import add_settings_command  # noqa: PLC0415
    from app.lipsync.cli import add_lipsync_parser  # noqa: PLC0415
    from app.models import cli as models_cli  # noqa: PLC0415
    from app.shortcuts.cli import add_shortcuts_command  # noqa: PLC0415
    from app.speech.cli import add_say_parser  # noqa: PLC0415
    from app.ui import web_stage_host  # noqa: PLC0415

    commands = parser.add_subparsers(dest="command")
    check = commands.add_parser("stage-check", help="launch the stage, show a model, report, and stop")
    _common(check)
    check.add_argument("--model", required=True, type=Path, help="a .vrm file")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    info = commands.add_parser("godot-info", help="which Godot 4 would be used, or why none qualifies")
    info.add_argument(
        "--godot", metavar="PATH", default=argparse.SUPPRESS, help="check this executable instead of searching"
    )
    info.add_argument("--json", action="store_true", help="print one JSON object")
    models_cli.add_parser(commands, _user_data)
    add_shortcuts_command(commands)
    add_say_parser(commands)
    add_lipsync_parser(commands, _user_data)
    add_settings_command(commands, _user_data)
    web_stage_host.add_parser(commands)
    return parser


def _emit(as_json: bool, result: dict[str, Any], human: str) -> int:
    print(json.dumps(result) if as_json else human)
    return 0 if result.get("ok") else 1


async def stage_check(options: AppOptions, model: Path, as_json: bool) -> int:
    def fail(code: str, message: str) -> int:
        return _emit(as_json, {"ok": False, "code": code, "message": message}, f"stage-check failed: {message}")

    library = open_library(options)
    try:
        stored = library.import_file(model).entry
        launcher = build_launcher(options)
    except ModelRefused as refused:
        return fail(refused.code.value, f"{model.name} is not a usable VRM: {refused.message}")
    except LibraryError as error:
        return fail(error.code, error.message)
    except LauncherUnavailable as missing:
        return fail(missing.code, missing.message)
    stage = ManagedStage(launcher, library, options)
    try:
        await stage.start()
        assert stage.bridge.stage is not None
        engine = stage.bridge.stage.hello.engine
        applied = await stage.apply_scene(stage.scene_for(stored))
    except StageStartError as error:
        return fail("stage-start-failed", str(error))
    except SceneApplyFailed as error:
        return fail(error.code, error.message)
    except (StageError, TimeoutError, ConnectionError) as error:
        return fail("stage-error", str(error))
    finally:
        await stage.stop()
    result = {
        "ok": True,
        "engine": f"{engine.name} {engine.version} ({engine.platform})",
        "runtime": options.runtime,
        "vrmVersion": applied.vrm_version,
        "expressions": applied.expressions,
        "unboundExpressions": applied.unbound_expressions,
        "mouthReady": applied.mouth_ready,
        "loadMs": round(applied.load_ms, 1),
        "modelId": applied.model_id,
    }
    human = (
        f"OK: {model.name} (VRM {applied.vrm_version}) shown by {result['engine']} in {applied.load_ms:.0f} ms\n"
        f"expressions: {', '.join(applied.expressions) or 'none the stage can drive'}"
        + (f"\nwithout binds: {', '.join(applied.unbound_expressions)}" if applied.unbound_expressions else "")
    )
    return _emit(as_json, result, human)


def godot_info(explicit: str | None, as_json: bool) -> int:
    discovery = GodotFinder().find(explicit)
    rejected = [
        {"path": str(r.candidate.path), "source": r.candidate.source, "reason": r.reason} for r in discovery.rejected
    ]
    if discovery.found is None:
        result = {"ok": False, "code": "godot-not-found", "message": discovery.reason, "rejected": rejected}
        return _emit(as_json, result, discovery.reason)
    found = discovery.found
    result = {
        "ok": True,
        "path": str(found.path),
        "version": found.version.raw,
        "source": found.source,
        "rejected": rejected,
    }
    human = f"Godot {found.version.number} ({found.version.raw}) at {found.path}, found via {found.source}"
    return _emit(as_json, result, human)


async def _cancel_on_signals(job: Coroutine[Any, Any, int]) -> int:
    """Ctrl+C or SIGTERM cancel the job, so its cleanup (stopping the stage) still runs."""
    work = asyncio.ensure_future(job)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, work.cancel)
    try:
        return await work
    except asyncio.CancelledError:
        print("interrupted", file=sys.stderr)
        return 130


def _display_problem() -> str | None:
    """Qt aborts the process without a display; say so in one line instead."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "no display: start the app inside a desktop session (DISPLAY or WAYLAND_DISPLAY unset), or use "
        "'python -m app stage-check --model FILE' which needs none"
    )


def _run_gui(options: AppOptions) -> int:
    problem = _display_problem()
    if problem:
        print(f"stage-tamagotchi: {problem}", file=sys.stderr)
        return 1
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415 - Qt only for the GUI

    from app.qt_loop import QtAsyncioLoop  # noqa: PLC0415
    from app.ui.app_identity import name_the_app, qt_argv  # noqa: PLC0415
    from app.ui.single_instance import SingleInstance  # noqa: PLC0415

    name_the_app()
    existing = QApplication.instance()
    qt_app = existing if isinstance(existing, QApplication) else QApplication(qt_argv(sys.argv))
    instance = SingleInstance(options.user_data)
    if not instance.claim():
        print("Stage Tamagotchi is already running with this data folder; it was asked to show itself.")
        return 0
    loop = QtAsyncioLoop(qt_app)
    asyncio.set_event_loop(loop)
    quit_requested = asyncio.Event()
    try:
        with loop:
            return loop.run_until_complete(_cancel_on_signals(run_gui(options, quit_requested, instance)))
    finally:
        instance.release()


def parse(argv: list[str]) -> argparse.Namespace:
    """The arguments; the subcommands' parsers are built only when one is named (or help is asked for)."""
    wanted = any(token in SUBCOMMANDS or token in {"-h", "--help"} for token in argv)
    return build_parser(with_subcommands=wanted).parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else list(argv))
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command == "godot-info":
        return godot_info(args.godot, args.json)
    if args.command == "web-stage-host":
        from app.ui import web_stage_host  # noqa: PLC0415

        return web_stage_host.run(args)
    if args.command == "models":
        from app.models import cli as models_cli  # noqa: PLC0415

        return models_cli.run(args, lambda: open_library(AppOptions.create(args.user_data)))
    if args.command == "shortcuts":
        from app.shortcuts.cli import run_shortcuts_command  # noqa: PLC0415

        return run_shortcuts_command(args)
    if args.command == "say":
        from app.speech.cli import run_say  # noqa: PLC0415

        return run_say(args)
    if args.command == "lipsync":
        from app.lipsync.cli import run_lipsync  # noqa: PLC0415

        return run_lipsync(args)
    if args.command == "settings":
        from app.config.cli import run_settings_command  # noqa: PLC0415

        return run_settings_command(args, resolve_user_data_dir(args.user_data))
    if args.command == "stage-check":
        options = AppOptions.create(args.user_data, args.runtime or "native", args.godot, args.remote_debug)
        return asyncio.run(_cancel_on_signals(stage_check(options, args.model, args.json)))
    return _run_gui(AppOptions.create(args.user_data, args.runtime or "auto", args.godot, args.remote_debug))
