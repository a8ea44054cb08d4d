"""The settings model, its file and the service: atomic saves, repair on load, live updates, shortcuts migration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.config.model import SETTINGS_VERSION, Settings, WindowGeometry, applies_when
from app.config.service import SettingsBindingStore, SettingsRejected, SettingsService
from app.config.store import SettingsStore
from app.shortcuts.settings import JsonBindingSettings


def test_a_new_profile_gets_the_defaults_and_no_file_until_something_changes(tmp_path: Path) -> None:
    service = SettingsService(SettingsStore(tmp_path))
    assert service.settings == Settings()
    assert service.settings.window.click_through and service.settings.window.always_on_top
    assert service.settings.stage.runtime == "auto"
    assert not (tmp_path / "settings.json").exists()


def test_a_change_is_saved_and_read_back_by_the_next_start(tmp_path: Path) -> None:
    service = SettingsService(SettingsStore(tmp_path))
    service.update(
        "window", always_on_top=False, geometry={"screen-a": WindowGeometry(x=1, y=2, width=300, height=400)}
    )
    service.update("stage", runtime="embedded", remote_debug=True)
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["version"] == SETTINGS_VERSION and saved["window"]["always_on_top"] is False
    again = SettingsService(SettingsStore(tmp_path)).settings
    assert again == service.settings
    assert again.window.geometry["screen-a"].width == 300
    assert not [p for p in tmp_path.iterdir() if p.name != "settings.json"]  # no temporary files left


def test_subscribers_hear_which_fields_changed_and_when_they_apply(tmp_path: Path) -> None:
    service = SettingsService(SettingsStore(tmp_path))
    heard: list[frozenset[str]] = []
    unsubscribe = service.subscribe(lambda _settings, changed: heard.append(changed))
    assert service.update("window", click_through=False, always_on_top=True) == {"click_through": "now"}
    assert service.update("stage", remote_debug=True) == {"remote_debug": "stage"}
    assert service.update("stage", remote_debug=True) == {}  # no change, no save, no event
    unsubscribe()
    service.update("window", click_through=True)
    assert heard == [frozenset({"window.click_through"}), frozenset({"stage.remote_debug"})]
    assert applies_when("stage", "godot_path") == "stage" and applies_when("speech", "voice") == "now"


def test_a_broken_listener_does_not_stop_the_others(tmp_path: Path) -> None:
    service = SettingsService(SettingsStore(tmp_path))
    heard: list[str] = []

    def broken(_settings: Settings, _changed: frozenset[str]) -> None:
        raise RuntimeError("boom")

    service.subscribe(broken)
    service.subscribe(lambda settings, _changed: heard.append(settings.speech.voice))
    service.update("speech", voice="en-us")
    assert heard == ["en-us"]


@pytest.mark.parametrize(
    ("section", "values", "says"),
    [
        ("window", {"opacity": 0.05}, "window.opacity"),
        ("stage", {"runtime": "quantum"}, "stage.runtime"),
        ("stage", {"remote_debug_uri": "http://x"}, "tcp://127.0.0.1:6007"),
        ("lip_sync", {"vmc_port": 70000}, "lip_sync.vmc_port"),
        ("window", {"no_such_field": 1}, "no_such_field"),
        ("nowhere", {"x": 1}, "no settings section"),
    ],
)
def test_an_invalid_change_is_refused_with_the_field_named_and_nothing_saved(
    tmp_path: Path, section: str, values: dict[str, object], says: str
) -> None:
    service = SettingsService(SettingsStore(tmp_path))
    with pytest.raises(SettingsRejected, match=says.replace(".", r"\.")):
        service.update(section, **values)
    assert service.settings == Settings()
    assert not (tmp_path / "settings.json").exists()


@pytest.mark.parametrize(
    "content", [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"window": {}}', b'{"version": "one"}', b""]
)
def test_a_damaged_file_is_moved_aside_with_a_warning_and_the_defaults_apply(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "settings.json").write_bytes(content)
    store = SettingsStore(tmp_path)
    assert store.load() == Settings()
    assert store.report.set_aside is not None and store.report.set_aside.read_bytes() == content
    assert ".damaged-" in store.report.set_aside.name
    assert not (tmp_path / "settings.json").exists()
    assert "using the defaults" in store.report.warnings[0]


def test_a_file_from_a_newer_app_is_kept_aside_not_overwritten(tmp_path: Path) -> None:
    newer = json.dumps({"version": SETTINGS_VERSION + 1, "window": {"always_on_top": False}}).encode()
    (tmp_path / "settings.json").write_bytes(newer)
    service = SettingsService(SettingsStore(tmp_path))
    assert service.settings == Settings()
    assert "newer version" in service.load_warnings[0]
    aside = [p for p in tmp_path.iterdir() if ".newer-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes() == newer


def test_one_invalid_section_falls_back_alone_and_the_original_is_copied_aside(tmp_path: Path) -> None:
    original = {
        "version": 1,
        "window": {"always_on_top": False, "opacity": 0.5},
        "stage": {"runtime": "warp-drive", "godot_path": "/opt/godot"},
        "speech": {"voice": "en-gb"},
        "from_the_future": {"x": 1},
    }
    (tmp_path / "settings.json").write_text(json.dumps(original))
    service = SettingsService(SettingsStore(tmp_path))
    assert service.settings.window.always_on_top is False and service.settings.window.opacity == 0.5
    assert service.settings.speech.voice == "en-gb"
    assert service.settings.stage == Settings().stage  # the whole bad section, not a half-valid mix
    assert "'stage'" in service.load_warnings[0] and "runtime" in service.load_warnings[0]
    copies = [p for p in tmp_path.iterdir() if ".invalid-" in p.name]
    assert len(copies) == 1 and json.loads(copies[0].read_text()) == original


def test_an_existing_shortcuts_json_becomes_the_shortcuts_section_once(tmp_path: Path) -> None:
    bindings: dict[str, str | None] = {"toggle-window": "CmdOrCtrl+Alt+KeyT", "speak-clipboard": None}
    JsonBindingSettings(tmp_path / "shortcuts.json").save(bindings)
    service = SettingsService(SettingsStore(tmp_path))
    assert service.settings.shortcuts.bindings == bindings
    assert not (tmp_path / "shortcuts.json").exists()
    assert (tmp_path / "shortcuts.json.migrated").exists()
    assert json.loads((tmp_path / "settings.json").read_text())["shortcuts"]["bindings"] == bindings
    (tmp_path / "shortcuts.json").write_text('{"version": 1, "bindings": {"toggle-window": "Alt+KeyX"}}')
    assert SettingsService(SettingsStore(tmp_path)).settings.shortcuts.bindings == bindings  # settings.json wins


def test_the_shortcut_service_keeps_its_bindings_in_the_settings(tmp_path: Path) -> None:
    service = SettingsService(SettingsStore(tmp_path))
    heard: list[frozenset[str]] = []
    service.subscribe(lambda _s, changed: heard.append(changed))
    store = SettingsBindingStore(service)
    assert store.load() == {}
    store.save({"next-avatar": "CmdOrCtrl+Alt+KeyN"})
    assert store.load() == {"next-avatar": "CmdOrCtrl+Alt+KeyN"}
    assert heard == [frozenset({"shortcuts.bindings"})]
    assert SettingsBindingStore(SettingsService(SettingsStore(tmp_path))).load() == {
        "next-avatar": "CmdOrCtrl+Alt+KeyN"
    }


def test_a_save_that_fails_still_applies_for_this_run_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "settings.json").mkdir()  # the rename onto it fails, as on a full or read-only disk
    service = SettingsService(SettingsStore(tmp_path))
    service.update("window", click_through=False)
    assert service.settings.window.click_through is False
    assert service.save_error is not None and "could not be saved" in service.save_error
