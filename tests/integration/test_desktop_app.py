"""The whole desktop app put together (offscreen, no Godot): settings and devtools windows open on the right pages,
the actions the shortcuts trigger work, stage settings can restart the stage, and closing releases everything."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from app.main import AppOptions
from app.speech_link import SpeakerLink, SpeechEvent
from app.ui.bridge_inspector import BridgeInspector
from app.ui.desktop import DesktopApp
from tests.integration.test_cli import fake_godot
from tests.support.speech_servers import ChatScript, SseChatServer
from tests.unit.test_lipsync_cues import Recorder
from tests.waiting import until

pytestmark = pytest.mark.qt


async def test_the_app_without_godot_opens_its_windows_and_speaks(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GODOT4", "GODOT", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    quit_requested = asyncio.Event()
    desktop = await DesktopApp.open(AppOptions(tmp_path, "native"), quit_requested)
    try:
        qtbot.addWidget(desktop.window)
        assert desktop.window.isVisible() and desktop.stage is None
        await until(lambda: "Godot 4 not found" in desktop.window.status_text.text(), 2)

        desktop.window.fix_button.click()
        assert desktop.settings_window is not None and desktop.settings_window.current_page() == "stage"
        assert "shortcuts" in desktop.settings_window.page_names and "models" in desktop.settings_window.page_names
        versions = desktop.versions()
        assert versions["Stage runtime"] == "none" and "Qt" in versions and "Current model" in versions

        desktop.open_devtools()
        assert desktop.devtools is not None and desktop.devtools.findChild(BridgeInspector) is not None

        assert isinstance(desktop.speech, SpeakerLink) and desktop.speech_service is not None
        # Lip sync rides on the same speaker: cue tracks are computed for what is spoken (no stage here to get them).
        assert desktop.lipsync is not None and desktop.lipsync.scheduler is not None
        cues = Recorder()
        desktop.lipsync.scheduler.add_output(cues)
        heard: list[SpeechEvent] = []
        desktop.speech.subscribe(heard.append)
        QGuiApplication.clipboard().setText("Clipboard words.")
        desktop.speak_clipboard()
        await until(
            lambda: any(e.kind == "sentence" and "Clipboard" in e.text for e in heard), 10, "the clipboard spoken"
        )
        await until(lambda: desktop.window.bubble.text() == "Clipboard words.", 2)
        await until(lambda: bool(cues.batches()), 5, "mouth cues for the spoken words")
        assert cues.events[0][0] == "begin" and cues.events[0][1][3] == 30.0  # the default lead, in ms
        desktop.speech.stop()
        await until(lambda: heard[-1].kind == "idle", 5)

        desktop.settings.update("speech", voice="de")  # applies to the next reply without a restart
        await until(lambda: desktop.speech_service is not None and desktop.speech_service.settings.voice == "de", 2)

        desktop.tray_menu.click_through.trigger()
        assert desktop.settings.settings.window.click_through is False and desktop.window.mask().isEmpty()
        # The command line changes the running app: the settings file is watched and reloaded.
        cli = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app",
            "settings",
            "set",
            "window.click_through",
            "true",
            "--user-data",
            str(tmp_path),
            stdout=asyncio.subprocess.DEVNULL,
        )
        assert await asyncio.wait_for(cli.wait(), 60) == 0
        await until(lambda: desktop.settings.settings.window.click_through is True, 10, "the CLI's change applied")
        assert not desktop.window.mask().isEmpty()  # the window applied it: transparent areas let clicks through

        desktop.settings.update("stage", runtime="attach")  # waits for a stage started from the editor
        desktop.settings_window.findChild(QPushButton, "restartStage").click()  # type: ignore[union-attr]
        await until(lambda: desktop.stage_service.status.phase == "starting", 3, "the attach stage starting")
        assert desktop.stage is not None and desktop.stage.launcher.kind == "attach"
        token = desktop.stage.bridge.token
        # What to run in the editor is in the window, token included (not only on a terminal).
        await until(lambda: "Attach mode" in desktop.window.status_text.text(), 5, "the attach instructions shown")
        assert f"--bridge-token={token}" in desktop.window.status_text.text()
    finally:
        await asyncio.wait_for(desktop.close(), 10)  # quitting while the stage starts still stops it
    assert not desktop.window.isVisible() and desktop.stage_service.status.phase == "stopped"


async def test_with_a_language_model_the_say_box_asks_it_and_speaks_the_answer(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GODOT4", "GODOT", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("STAGE_TAMAGOTCHI_LLM_API_KEY", "sk-local-test")
    async with SseChatServer(ChatScript(["Hello", " there", ", friend."])) as server:
        desktop = await DesktopApp.open(AppOptions(tmp_path, "native"), asyncio.Event())
        try:
            qtbot.addWidget(desktop.window)
            assert isinstance(desktop.speech, SpeakerLink) and desktop.speech.conversation is None  # off by default
            desktop.settings.update("language_model", enabled=True, base_url=server.base_url, model="local-model")
            await until(lambda: isinstance(desktop.speech, SpeakerLink) and desktop.speech.conversation is not None, 2)
            desktop.speech.say("Hi!")
            await until(lambda: desktop.window.bubble.text() == "Hello there, friend.", 10, "the answer in the bubble")
            [request] = server.requests
            assert request["model"] == "local-model" and request["stream"] is True
            assert request["messages"][-1] == {"role": "user", "content": "Hi!"}
            desktop.settings.update("language_model", enabled=False)
            await until(lambda: isinstance(desktop.speech, SpeakerLink) and desktop.speech.conversation is None, 2)
        finally:
            await asyncio.wait_for(desktop.close(), 10)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_restarts_keep_the_command_line_and_never_leave_a_second_stage_running(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GODOT4", "GODOT", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    launches = tmp_path / "launches.jsonl"
    monkeypatch.setenv("STAND_IN_RECORD", str(launches))
    godot = fake_godot(tmp_path)
    given = AppOptions(tmp_path / "data", "native", str(godot), "tcp://127.0.0.1:6011")
    desktop = await DesktopApp.open(given, asyncio.Event())
    try:
        qtbot.addWidget(desktop.window)
        await desktop.stage_service.start()  # as run_gui does
        await until(lambda: desktop.stage_service.status.phase == "applied", 30, "the stand-in stage showing Tama")
        # Restart twice at once (the devtools button and the settings button, say).
        await asyncio.gather(desktop.restart_stage(), desktop.restart_stage())
        assert (desktop.options.runtime, desktop.options.godot, desktop.options.remote_debug) == (
            "native",
            str(godot),
            "tcp://127.0.0.1:6011",
        )
        await until(lambda: desktop.stage_service.status.phase == "applied", 30, "showing again")
        started = [json.loads(line) for line in launches.read_text().splitlines()]
        pids = [entry["pid"] for entry in started if entry["event"] == "launch"]
        assert len(pids) == 3 and all("--remote-debug" in e["argv"] for e in started if e["event"] == "launch")
        assert [pid for pid in pids if _alive(pid)] == pids[-1:]  # only the last one runs

        # A setting the user changes afterwards does win over the command line at the next restart.
        desktop.settings.update("stage", remote_debug=True, remote_debug_uri="tcp://127.0.0.1:6012")
        await desktop.restart_stage()
        assert desktop.options.remote_debug == "tcp://127.0.0.1:6012" and desktop.options.runtime == "native"
    finally:
        await asyncio.wait_for(desktop.close(), 20)
    records = [json.loads(line) for line in launches.read_text().splitlines()]
    assert not [entry["pid"] for entry in records if entry["event"] == "launch" and _alive(entry["pid"])]
