"""``python -m app settings``: the settings without the window.

- ``settings show [--json]``: the file, what loading found (a damaged file set aside, a migration), every value.
- ``settings set SECTION.FIELD VALUE [--json]``: change one field (``VALUE`` is JSON when it parses as JSON, else
  text), validated as the window validates it; a running app sees the file change and applies it at once (or when
  the field says it applies: at the stage's restart, at the next start).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.config.model import Applies
from app.config.service import SettingsRejected, SettingsService
from app.config.store import SettingsStore

APPLIES_TEXT: dict[Applies, str] = {
    "now": "applies at once, in a running app too",
    "stage": "applies when the stage restarts",
    "app": "applies at the app's next start",
}


def add_settings_command(commands: Any, user_data: Callable[[argparse.ArgumentParser], None]) -> None:
    settings = commands.add_parser("settings", help="show or change the app's settings")
    actions = settings.add_subparsers(dest="settings_command", required=True)
    show = actions.add_parser("show", help="the settings file, any problem found loading it, and every value")
    user_data(show)
    show.add_argument("--json", action="store_true", help="print one JSON object")
    change = actions.add_parser("set", help="change one field, e.g. window.click_through false")
    user_data(change)
    change.add_argument("field", help="SECTION.FIELD, e.g. stage.runtime")
    change.add_argument("value", help="the new value (JSON, or plain text)")
    change.add_argument("--json", action="store_true", help="print one JSON object")


def run_settings_command(args: argparse.Namespace, user_data: Path) -> int:
    service = SettingsService(SettingsStore(user_data))
    path = str(user_data / "settings.json")
    if args.settings_command == "show":
        values = service.settings.model_dump(mode="json")
        result = {"ok": True, "path": path, "warnings": service.load_warnings, "settings": values}
        lines = [f"settings: {path}", *(f"warning: {w}" for w in service.load_warnings)]
        for section, fields in values.items():
            if isinstance(fields, dict):
                lines += [f"{section}.{field} = {json.dumps(value)}" for field, value in fields.items()]
        print(json.dumps(result) if args.json else "\n".join(lines))
        return 0
    section, _, name = args.field.partition(".")
    try:
        value = json.loads(args.value)
    except ValueError:
        value = args.value
    try:
        if not name:
            raise SettingsRejected(f"'{args.field}' is not SECTION.FIELD (for example window.click_through)")
        changed = service.update(section, **{name: value})
    except SettingsRejected as refused:
        failure = {"ok": False, "code": "invalid-setting", "message": str(refused)}
        print(json.dumps(failure) if args.json else f"settings set failed: {refused}")
        return 1
    if service.save_error:
        failure = {"ok": False, "code": "not-saved", "message": service.save_error}
        print(json.dumps(failure) if args.json else f"settings set failed: {service.save_error}")
        return 1
    new_value = getattr(service.settings, section).model_dump(mode="json")[name]
    applies = changed.get(name)
    result = {"ok": True, "field": args.field, "value": new_value, "changed": applies is not None, "applies": applies}
    # A running app watches the file (app/ui/settings_watcher.py) and applies the change as its window would.
    human = f"{args.field} = {json.dumps(new_value)} ({APPLIES_TEXT[applies] if applies else 'unchanged'})"
    print(json.dumps(result) if args.json else human)
    return 0
