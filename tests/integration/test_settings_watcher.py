"""``python -m app settings set`` while the app runs: the real CLI writes settings.json (atomic rename), the running
service's file watcher reloads it and every subscriber hears the change, again and again (the watch is re-armed)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from app.config.model import Settings
from app.config.service import Changed, SettingsService
from app.config.store import SettingsStore
from app.ui.settings_watcher import SettingsFileWatcher
from tests.waiting import until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.qt


async def settings_set(user_data: Path, field: str, value: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "settings",
        "set",
        field,
        value,
        "--user-data",
        str(user_data),
        "--json",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, _err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode()


def voice_is(service: SettingsService, voice: str) -> Callable[[], bool]:
    return lambda: service.settings.speech.voice == voice


async def test_the_cli_changes_the_running_app_every_time(tmp_path: Path) -> None:
    service = SettingsService(SettingsStore(tmp_path))
    heard: list[Changed] = []
    service.subscribe(lambda _settings, changed: heard.append(changed))
    watcher = SettingsFileWatcher(service, tmp_path / "settings.json", settle_ms=50)
    try:
        # No file yet: the folder is watched, so the first file the CLI writes is seen too.
        code, out = await settings_set(tmp_path, "window.click_through", "false")
        assert code == 0 and json.loads(out)["applies"] == "now", out
        await until(lambda: service.settings.window.click_through is False, 10, "the first change applied")
        assert frozenset({"window.click_through"}) in heard
        # The atomic rename replaced the watched file: the second and third changes must still be seen.
        for voice in ("en-gb", "fr"):
            code, out = await settings_set(tmp_path, "speech.voice", voice)
            assert code == 0, out
            await until(voice_is(service, voice), 10, f"voice {voice} applied")
        assert heard.count(frozenset({"speech.voice"})) == 2
        # The app's own save is read back as "nothing changed": no echo to the subscribers.
        before = len(heard)
        service.update("lip_sync", lead_ms=80)
        await asyncio.sleep(0.4)
        assert len(heard) == before + 1 and watcher.reloads >= 1
    finally:
        watcher.stop()


async def test_a_damaged_edit_keeps_the_running_values_and_sets_the_file_aside(tmp_path: Path) -> None:
    service = SettingsService(SettingsStore(tmp_path))
    service.update("speech", voice="en-gb")
    heard: list[tuple[Settings, Changed]] = []
    service.subscribe(lambda settings, changed: heard.append((settings, changed)))
    watcher = SettingsFileWatcher(service, tmp_path / "settings.json", settle_ms=50)
    try:
        (tmp_path / "settings.json").write_text("{ half an edit")
        await until(lambda: any("not valid JSON" in w for w in service.load_warnings), 10, "the damaged edit noticed")
        assert service.settings.speech.voice == "en-gb" and heard == []
        assert list(tmp_path.glob("settings.json.damaged-*"))
        await until((tmp_path / "settings.json").exists, 5, "the running values written back")
        assert json.loads((tmp_path / "settings.json").read_text())["speech"]["voice"] == "en-gb"
    finally:
        watcher.stop()
