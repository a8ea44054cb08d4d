"""Where the user's shortcut bindings are kept: an action id -> canonical accelerator (or ``None`` for "turned off").

The service talks to a :class:`BindingSettings`; :class:`JsonBindingSettings` is the file on disk
(``<user data>/shortcuts.json``), written atomically so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

SETTINGS_VERSION = 1


class BindingSettings(Protocol):
    def load(self) -> dict[str, str | None]:
        """Saved bindings: action id -> canonical accelerator, ``None`` when the user turned the shortcut off."""
        ...

    def save(self, bindings: dict[str, str | None]) -> None: ...


class SettingsError(Exception):
    pass


class JsonBindingSettings:
    """``{"version": 1, "bindings": {"toggle-window": "CmdOrCtrl+Alt+Shift+KeyT", ...}}``.

    A damaged file is set aside as ``shortcuts.json.damaged`` (and logged) so the defaults apply and the next save
    starts clean; a file from a newer version of the app is left alone and never overwritten.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._newer_version = False

    def load(self) -> dict[str, str | None]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            self._set_aside(f"unreadable: {error}")
            return {}
        if not isinstance(data, dict) or not isinstance(data.get("version"), int):
            self._set_aside("not a shortcut settings object")
            return {}
        if data["version"] > SETTINGS_VERSION:
            self._newer_version = True
            log.warning(
                "%s is from a newer version (%s); using defaults, not overwriting it", self.path, data["version"]
            )
            return {}
        bindings = data.get("bindings")
        if not isinstance(bindings, dict):
            self._set_aside("no 'bindings' object")
            return {}
        return {str(k): v for k, v in bindings.items() if v is None or isinstance(v, str)}

    def save(self, bindings: dict[str, str | None]) -> None:
        if self._newer_version:
            raise SettingsError(f"{self.path} was written by a newer version of the app; not overwriting it")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": SETTINGS_VERSION, "bindings": bindings}, indent=2, sort_keys=True) + "\n"
        descriptor, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".shortcuts-", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as writer:
                writer.write(text)
                writer.flush()
                os.fsync(writer.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _set_aside(self, why: str) -> None:
        damaged = self.path.with_name(self.path.name + ".damaged")
        log.warning("%s is %s; moved to %s, using the default shortcuts", self.path, why, damaged.name)
        try:
            os.replace(self.path, damaged)
        except OSError as error:
            log.warning("could not move %s aside: %s", self.path, error)


class MemoryBindingSettings:
    """Settings that live only as long as the process (the probe command, tests)."""

    def __init__(self, bindings: dict[str, str | None] | None = None) -> None:
        self.bindings = dict(bindings or {})

    def load(self) -> dict[str, str | None]:
        return dict(self.bindings)

    def save(self, bindings: dict[str, str | None]) -> None:
        self.bindings = dict(bindings)
