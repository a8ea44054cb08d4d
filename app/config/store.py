"""``<user data>/settings.json``: written atomically, validated on load, never silently thrown away.

Loading never fails. A file that is not JSON, not an object or from a newer version of the app is moved aside
(``settings.json.damaged-<time>`` / ``settings.json.newer-<time>``) with a warning and the defaults apply. A file
whose JSON is fine but one section is invalid keeps every other section: only the bad section falls back to its
defaults, and the original file is copied aside first so the user's values can be recovered by hand.

The shortcuts used to keep their own ``shortcuts.json``; on the first load without a ``settings.json`` its bindings
become the ``shortcuts`` section and the old file is renamed ``shortcuts.json.migrated``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.config.model import SECTIONS, SETTINGS_VERSION, Settings, ShortcutSettings
from app.models.store import write_file_atomically
from app.shortcuts.settings import JsonBindingSettings

log = logging.getLogger("app.config")

SETTINGS_FILE = "settings.json"
LEGACY_SHORTCUTS_FILE = "shortcuts.json"


@dataclass
class LoadReport:
    """What loading found, for the UI to tell the user (empty when all was well)."""

    warnings: list[str] = field(default_factory=list)
    set_aside: Path | None = None
    migrated: list[str] = field(default_factory=list)


class SettingsStore:
    def __init__(self, user_data: Path) -> None:
        self.user_data = user_data
        self.path = user_data / SETTINGS_FILE
        self.report = LoadReport()

    def load(self) -> Settings:
        self.report = LoadReport()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return self._first_start()
        except OSError as error:
            self._warn(f"{self.path} could not be read ({error}); using the defaults")
            return Settings()
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            return self._move_aside("damaged", f"is not valid JSON ({error})")
        if not isinstance(data, dict):
            return self._move_aside("damaged", "is not a settings object")
        version = data.get("version")
        if not isinstance(version, int) or version < 1:
            return self._move_aside("damaged", f"has no usable version ({version!r})")
        if version > SETTINGS_VERSION:
            return self._move_aside("newer", f"is from a newer version of the app (settings version {version})")
        return self._validate_sections(data)

    def save(self, settings: Settings) -> None:
        self.user_data.mkdir(parents=True, exist_ok=True)
        text = json.dumps(settings.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
        write_file_atomically(self.path, text.encode("utf-8"))

    def _validate_sections(self, data: dict[str, Any]) -> Settings:
        sections: dict[str, Any] = {}
        bad: list[str] = []
        for name, section_type in SECTIONS.items():
            if name not in data:
                continue
            try:
                sections[name] = section_type.model_validate(data[name])
            except ValidationError as error:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or name}: {e['msg']}" for e in error.errors()[:3]
                )
                bad.append(f"'{name}' ({problems})")
        if bad:
            backup = self._backup_name("invalid")
            shutil.copy2(self.path, backup)
            self.report.set_aside = backup
            self._warn(
                f"{self.path.name}: invalid section {', '.join(bad)} reset to defaults; the other sections are kept "
                f"and the original is saved as {backup.name}"
            )
        return Settings(**sections)

    def _first_start(self) -> Settings:
        legacy = self.user_data / LEGACY_SHORTCUTS_FILE
        if not legacy.exists():
            return Settings()
        bindings = JsonBindingSettings(legacy).load()
        settings = Settings(shortcuts=ShortcutSettings(bindings=bindings))
        if legacy.exists():  # a damaged one was already set aside by the loader
            self.save(settings)
            os.replace(legacy, legacy.with_name(legacy.name + ".migrated"))
            self.report.migrated.append(LEGACY_SHORTCUTS_FILE)
            log.info("moved %d shortcut bindings from %s into %s", len(bindings), legacy.name, self.path.name)
        return settings

    def _move_aside(self, kind: str, why: str) -> Settings:
        target = self._backup_name(kind)
        try:
            os.replace(self.path, target)
        except OSError as error:
            self._warn(f"{self.path} {why}; could not move it aside ({error}); using the defaults")
            return Settings()
        self.report.set_aside = target
        self._warn(f"{self.path.name} {why}; moved to {target.name}, using the defaults")
        return Settings()

    def _backup_name(self, kind: str) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        candidate = self.path.with_name(f"{self.path.name}.{kind}-{stamp}")
        number = 1
        while candidate.exists():
            number += 1
            candidate = self.path.with_name(f"{self.path.name}.{kind}-{stamp}-{number}")
        return candidate

    def _warn(self, message: str) -> None:
        log.warning("%s", message)
        self.report.warnings.append(message)
