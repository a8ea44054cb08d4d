"""The Speech, Language model and Lip sync pages driven offscreen around real services: loopback HTTP and WebSocket
servers as the providers, a real keyring backend (a file in the temp folder), real espeak for calibration."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import keyring.backends.fail
import pytest
from pytestqt.qtbot import QtBot

from app.config.model import Settings
from app.config.service import SettingsService
from app.config.store import SettingsStore
from app.lipsync.auto_calibration import VoiceCalibrator
from app.lipsync.provider_voice import voice_key
from app.lipsync.service import LipSyncService
from app.speech.keys import LANGUAGE_MODEL_KEY
from app.speech.providers import KEYRING_SERVICE
from app.speech.service import SpeechService
from app.speech.sink import NullSink
from app.ui.desktop import lipsync_voice, speech_settings
from app.ui.provider_panels import ApiKeyField, CheckButton, ChoicePicker
from app.ui.provider_settings import ProviderServices, ProviderSettings
from app.ui.settings_window import SettingsWindow
from tests.support.keyrings import keyring_in, keyring_set
from tests.support.speech_servers import ChatScript, HttpReply, SeenRequest, SpeechHttpServer, SseChatServer
from tests.waiting import until

pytestmark = pytest.mark.qt


def json_reply(status: int, body: object, delay_s: float = 0.0) -> HttpReply:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpReply(status=status, body=raw, chunked=False, content_type="application/json", delay_s=delay_s)


def compatible_server(request: SeenRequest) -> HttpReply:
    """An OpenAI-compatible speech server (Kokoro-FastAPI's shape) that wants the key ``sk-good-1234``."""
    if request.headers.get("authorization") != "Bearer sk-good-1234":
        return json_reply(401, {"error": {"message": "Incorrect API key provided"}})
    if request.path == "/v1/models":
        return json_reply(200, {"data": [{"id": "kokoro"}, {"id": "kokoro-hd"}]})
    if request.path == "/v1/audio/voices":
        return json_reply(200, {"voices": ["af_heart", "bf_emma"]})
    return HttpReply()  # /v1/audio/speech: the tone


@dataclass
class Pages:
    settings: SettingsService
    speech: SpeechService
    lipsync: LipSyncService
    calibrator: VoiceCalibrator
    panels: ProviderSettings
    window: SettingsWindow
    keys_changed: list[str]


@pytest.fixture
def keyring_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("STAGE_TTS_API_KEY", "OPENAI_API_KEY", "STAGE_TAMAGOTCHI_LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with keyring_in(tmp_path):
        yield tmp_path / "keyring_pass.cfg"


@pytest.fixture
async def pages(qtbot: QtBot, tmp_path: Path, keyring_file: Path) -> AsyncIterator[Pages]:
    # Qt objects of earlier tests' loops are collected here, on the GUI thread: left to the garbage collector, they
    # may be freed in a worker thread (a calibration's analysis allocates a lot), whose Qt timers then crash Qt.
    gc.collect()
    settings = SettingsService(SettingsStore(tmp_path / "data"))
    sink = NullSink(24_000)
    lipsync = LipSyncService(sink, None, tmp_path / "data", voice=lambda: lipsync_voice(settings.settings))
    async with httpx.AsyncClient() as http:
        speech = SpeechService(sink, speech_settings(settings.settings), lipsync.speaker_hooks(), http=http)
        calibrator = VoiceCalibrator(lipsync.store, speech.factory, lipsync.voice)
        keys_changed: list[str] = []
        panels = ProviderSettings(
            ProviderServices(
                settings,
                http,
                speech=lambda: speech,
                lipsync=lambda: lipsync,
                calibrator=lambda: calibrator,
                speech_unavailable=lambda: None,
                speech_settings=speech_settings,
                lipsync_voice=lipsync_voice,
                keys_changed=keys_changed.append,
            )
        )

        async def apply(new: Settings, changed: frozenset[str]) -> None:
            if any(name.startswith("speech.") for name in changed):
                await speech.apply_settings(speech_settings(new))

        tasks: set[asyncio.Task[None]] = set()

        def applied(new: Settings, changed: frozenset[str]) -> None:
            task = asyncio.ensure_future(apply(new, changed))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        settings.subscribe(applied)
        window = SettingsWindow(
            settings, {}, {"app": "test"}, page_extras=panels.page_extras(), field_notes=panels.field_notes()
        )
        qtbot.addWidget(window)
        window.show()
        try:
            yield Pages(settings, speech, lipsync, calibrator, panels, window, keys_changed)
        finally:
            await asyncio.wait_for(panels.aclose(), 5)
            await asyncio.wait_for(calibrator.aclose(), 5)
            await speech.close()


async def settle(pages: Pages) -> None:
    """Every request of the pages answered: a test ends with nothing in flight (qasync may lose the wake-up of a
    task whose answer arrives while the test's loop is stopped between the test and its teardown)."""
    panels = pages.panels
    widgets = (panels.speech_key, panels.speech_models, panels.speech_voices, panels.speech_test, panels.chat_key)
    for widget in (*widgets, panels.chat_models, panels.chat_test, panels.calibrate):
        await until(idle(widget), 15, f"{type(widget).__name__} idle")


def idle(widget: ApiKeyField | ChoicePicker | CheckButton) -> Callable[[], bool]:
    return lambda: not widget._jobs.busy()


async def test_the_speech_page_keeps_the_key_in_the_keyring_and_fills_its_pickers_from_the_provider(
    pages: Pages, keyring_file: Path
) -> None:
    async with SpeechHttpServer(compatible_server) as server:
        pages.window.show_page("speech")
        form = pages.window.forms["speech"]
        form.editors["provider"].setCurrentText("openai-compatible")  # type: ignore[attr-defined]
        pages.settings.update("speech", base_url=server.base_url)
        key, models, voices = pages.panels.speech_key, pages.panels.speech_models, pages.panels.speech_voices
        assert key.isVisibleTo(pages.window)
        await until(lambda: "No key yet" in key.status.text(), 5, "the key status")
        await until(lambda: "the key was refused (HTTP 401" in models.note.text(), 5, "the refusal shown")
        assert "Incorrect API key provided" in models.note.text() and not models.combo.isEnabled()

        key.edit.setText("sk-good-1234")
        assert key.edit.echoMode() == key.edit.EchoMode.Password
        key.save.click()
        await until(lambda: "saved in the OS keyring (••••••••1234" in key.status.text(), 5, "the key saved")
        assert "PlaintextKeyring: a file, not encrypted" in key.status.text()  # which keyring, and what it is
        assert key.edit.text() == "" and key.edit.placeholderText() == "••••••••1234"
        assert keyring.get_password(KEYRING_SERVICE, "openai-compatible") == "sk-good-1234"
        assert "sk-good-1234" not in pages.settings.path.read_text()
        assert pages.keys_changed == ["openai-compatible"]

        # The saved key reloads both lists, which now come from the server.
        await until(lambda: models.choices() == ["kokoro", "kokoro-hd"], 5, "the models listed")
        await until(lambda: voices.choices() == ["af_heart", "bf_emma"], 5, "the voices listed")
        assert server.requests[-1].headers["authorization"] == "Bearer sk-good-1234"
        models.combo.setCurrentIndex(1)
        voices.combo.setCurrentIndex(1)
        assert (pages.settings.settings.speech.model, pages.settings.settings.speech.voice) == ("kokoro-hd", "bf_emma")

        # Test: a short sentence through the configured provider, reported in words.
        test = pages.panels.speech_test
        test.button.click()
        await until(lambda: not test.busy(), 15, "the test sentence spoken")
        assert test.result.text().startswith("Spoke "), test.result.text()
        spoken = [r for r in server.requests if r.path == "/v1/audio/speech"]
        assert spoken and spoken[-1].body["voice"] == "bf_emma" and spoken[-1].body["model"] == "kokoro-hd"

        # Removing the key: the next test is refused, in words.
        key.remove.click()
        await until(lambda: "No key yet" in key.status.text(), 5, "the key removed")
        assert keyring.get_password(KEYRING_SERVICE, "openai-compatible") is None
        test.button.click()
        await until(lambda: not test.busy(), 15, "the refused test")
        assert test.result.text().startswith("Failed: the key was refused"), test.result.text()
        await settle(pages)


async def test_list_failures_show_inline_and_never_hang_the_page(pages: Pages) -> None:
    pages.settings.update("speech", provider="openai-compatible", base_url="http://127.0.0.1:9/v1")
    models = pages.panels.speech_models
    await until(lambda: "cannot be reached" in models.note.text(), 10, "unreachable shown")

    async with SpeechHttpServer(lambda _r: json_reply(200, b"<html>oops</html>")) as server:
        pages.settings.update("speech", base_url=server.base_url)
        await until(lambda: "did not answer JSON" in models.note.text(), 5, "bad JSON shown")
        await settle(pages)

    async with SpeechHttpServer(lambda _r: json_reply(200, {"data": []}, delay_s=3.0)) as server:
        models._timeout_s = 0.5  # the page's own bound on a slow answer (10 s in the app)
        pages.settings.update("speech", base_url=server.base_url)
        assert models.loading() and not models.combo.isEnabled()
        # While it waits, the page works: another page opens and a timer of the GUI thread fires.
        pages.window.show_page("lip_sync")
        ticks: list[float] = []
        loop = asyncio.get_running_loop()
        for _ in range(3):
            await asyncio.sleep(0.05)
            ticks.append(loop.time())
        assert ticks[-1] - ticks[0] < 0.5 and models.loading()
        await until(lambda: "no answer in time" in models.note.text(), 5, "the timeout shown")
        await settle(pages)


async def test_without_a_keyring_saving_says_so_and_names_the_variable(pages: Pages) -> None:
    pages.settings.update("speech", provider="openai")
    key = pages.panels.speech_key
    with keyring_set(keyring.backends.fail.Keyring()):  # type: ignore[no-untyped-call]
        key.refresh()
        await until(lambda: "no OS keyring on this machine" in key.status.text(), 5, "no keyring shown")
        assert "OPENAI_API_KEY" in key.status.text()
        key.edit.setText("sk-kept-in-the-field")
        key.save.click()
        await until(lambda: "could not be saved" in key.status.text(), 5, "the save refused")
        assert "set the environment variable OPENAI_API_KEY instead" in key.status.text()
        assert key.edit.text() == "sk-kept-in-the-field"  # nothing typed is lost
        # Without a key the pickers say so instead of asking the server for a refusal; OpenAI's voices need none.
        pages.panels.load()
        await settle(pages)
        assert "needs an API key: save it above (or set $OPENAI_API_KEY)" in pages.panels.speech_models.note.text()
        assert "alloy" in pages.panels.speech_voices.choices()
        await settle(pages)


async def test_the_embedded_voice_needs_no_key_and_lists_espeaks_voices(pages: Pages) -> None:
    assert not pages.panels.speech_key.isVisibleTo(pages.window)
    pages.panels.load()
    voices = pages.panels.speech_voices
    await until(lambda: "en-us" in voices.choices(), 10, "espeak voices listed")
    assert voices.combo.currentData() == "en-us"  # the current voice is selected
    voices.combo.setCurrentIndex(voices.choices().index("de"))
    assert pages.settings.settings.speech.voice == "de"
    await until(lambda: "one model" in pages.panels.speech_models.note.text(), 5)
    await settle(pages)


async def test_the_language_model_page_lists_models_and_tests_a_completion(pages: Pages) -> None:
    panels = pages.panels
    async with SseChatServer(
        ChatScript(["Hello", " from", " the model!"], interval_s=0.0), ["llama-3", "qwen"]
    ) as chat:
        pages.window.show_page("language_model")
        pages.settings.update("language_model", base_url=chat.base_url)
        await until(lambda: panels.chat_models.choices() == ["llama-3", "qwen"], 5, "the models listed")
        panels.chat_models.combo.setCurrentIndex(1)
        assert pages.settings.settings.language_model.model == "qwen"
        panels.chat_key.edit.setText("sk-chat-5678")
        panels.chat_key.save.click()
        await until(lambda: "••••••••5678" in panels.chat_key.status.text(), 5, "the chat key saved")
        assert keyring.get_password(KEYRING_SERVICE, LANGUAGE_MODEL_KEY) == "sk-chat-5678"
        assert pages.keys_changed == [LANGUAGE_MODEL_KEY]
        panels.chat_test.button.click()
        await until(lambda: not panels.chat_test.busy(), 10, "the test completion")
        assert panels.chat_test.result.text() == "qwen answered: Hello from the model!"
        assert chat.requests[-1]["model"] == "qwen"
        await settle(pages)
    async with SseChatServer(ChatScript([], mode="refuse")) as refusing:
        pages.settings.update("language_model", base_url=refusing.base_url)
        await until(lambda: "the key was refused" in panels.chat_models.note.text(), 5, "the list refused")
        panels.chat_test.button.click()
        await until(lambda: not panels.chat_test.busy(), 10)
        assert panels.chat_test.result.text().startswith("Failed: the key was refused (Invalid API key")
        await settle(pages)


async def test_calibrate_this_voice_stores_the_profile_lip_sync_reads(pages: Pages) -> None:
    pages.window.show_page("lip_sync")
    pages.settings.update("speech", voice="en-us")
    calibrate = pages.panels.calibrate
    progress: list[str] = []
    calibrate.button.click()
    assert not calibrate.button.isEnabled()
    while calibrate.busy():
        progress.append(calibrate.result.text())
        await asyncio.sleep(0.005)
    assert calibrate.button.isEnabled()
    assert calibrate.result.text().startswith("Calibrated espeak:en-us: vowel level"), calibrate.result.text()
    assert any("recordings made" in text for text in progress), progress
    stored = pages.lipsync.store.load("espeak:en-us")
    assert stored is not None and pages.lipsync.current_profile().voice == "espeak:en-us"
    assert str(pages.lipsync.store.path_of("espeak:en-us")) in calibrate.result.text()

    # A provider that cannot speak: the failure, in words, and no profile stored for it.
    pages.settings.update("speech", provider="openai-compatible", base_url="http://127.0.0.1:9/v1", voice="x")
    calibrate.button.click()
    await until(lambda: not calibrate.busy(), 30, "the failed calibration")
    assert calibrate.result.text().startswith("Failed: the voice failed:"), calibrate.result.text()
    assert pages.lipsync.store.load(voice_key("openai-compatible", "x", None, "http://127.0.0.1:9/v1")) is None
    await settle(pages)
