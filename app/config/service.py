"""The settings while the app runs: change a field, it is saved at once and every subscriber hears which fields
changed, so it takes effect without a restart (or the field says it needs one, see :func:`applies_when`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.config.model import SECTIONS, Applies, Settings, applies_when
from app.config.store import SettingsStore

log = logging.getLogger("app.config")

Changed = frozenset[str]
"""Dotted field names, e.g. ``window.always_on_top``."""
Listener = Callable[[Settings, Changed], None]


class SettingsRejected(ValueError):
    """A change that does not validate; the message names the field and is fit to show next to it."""


class SettingsService:
    def __init__(self, store: SettingsStore) -> None:
        self._store = store
        self.settings = store.load()
        self.load_warnings = list(store.report.warnings)
        self._listeners: list[Listener] = []
        self.save_error: str | None = None

    @property
    def path(self) -> Path:
        """The settings file."""
        return self._store.path

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` after every change; returns a function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def update(self, section: str, **values: Any) -> dict[str, Applies]:
        """Change fields of one section, save, notify; returns each changed field and when it takes effect.

        Raises :class:`SettingsRejected` (nothing changed, nothing saved) when a value is not valid.
        """
        if section not in SECTIONS:
            raise SettingsRejected(f"no settings section '{section}'")
        current = getattr(self.settings, section)
        unknown = set(values) - set(type(current).model_fields)
        if unknown:
            raise SettingsRejected(f"{section} has no field {', '.join(sorted(unknown))}")
        try:
            updated = type(current).model_validate({**current.model_dump(), **values})
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise SettingsRejected(f"{section}.{where}: {first['msg']}") from None
        changed = {
            name: applies_when(section, name) for name in values if getattr(updated, name) != getattr(current, name)
        }
        if not changed:
            return {}
        self.settings = self.settings.model_copy(update={section: updated})
        try:
            self._store.save(self.settings)
            self.save_error = None
        except OSError as error:  # the change still applies for this run; the UI shows why it was not kept
            self.save_error = f"settings could not be saved to {self._store.path}: {error}"
            log.warning("%s", self.save_error)
        self._notify(frozenset(f"{section}.{name}" for name in changed))
        return changed

    def reload(self) -> Changed:
        """Re-reads the file after someone else wrote it (``python -m app settings set`` while the app runs, a hand
        edit) and notifies the changed fields, as if they had been changed here.

        A file that no longer loads cleanly (not JSON, a newer version, an invalid section) is set aside by the
        store as at a start; the running app then keeps its own values and writes them back, so nothing is lost.
        """
        loaded = self._store.load()
        if self._store.report.set_aside is not None:
            self.load_warnings.extend(self._store.report.warnings)
            log.warning("settings file changed but did not load; keeping the running values")
            try:
                self._store.save(self.settings)
            except OSError as error:
                self.save_error = f"settings could not be saved to {self._store.path}: {error}"
            return frozenset()
        before, after = self.settings.model_dump(), loaded.model_dump()
        dotted = frozenset(
            f"{section}.{name}"
            for section in SECTIONS
            for name in after[section]
            if after[section][name] != before[section][name]
        )
        if dotted:
            self.settings = loaded
            self._notify(dotted, "settings file changed")
        return dotted

    def _notify(self, dotted: Changed, why: str = "settings changed") -> None:
        log.info("%s: %s", why, ", ".join(sorted(dotted)))
        for listener in list(self._listeners):
            try:
                listener(self.settings, dotted)
            except Exception:  # one broken listener must not stop the others or the save
                log.exception("a settings listener failed")


class SettingsBindingStore:
    """The shortcuts' :class:`~app.shortcuts.settings.BindingSettings`, kept as the ``shortcuts`` section."""

    def __init__(self, service: SettingsService) -> None:
        self._service = service

    def load(self) -> dict[str, str | None]:
        return dict(self._service.settings.shortcuts.bindings)

    def save(self, bindings: dict[str, str | None]) -> None:
        self._service.update("shortcuts", bindings=dict(bindings))
