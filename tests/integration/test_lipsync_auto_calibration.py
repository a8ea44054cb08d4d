"""A new voice's mouth profile made by itself: the calibrator against a real OpenAI-compatible server speaking real
espeak audio (no phoneme marks), once per voice, one at a time, each profile under its own voice, failures not
retried; and the desktop app doing it in the background, shown on the Lip sync page, off when the setting says so."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.config.service import SettingsService
from app.config.store import SettingsStore
from app.lipsync.auto_calibration import CalibrationFailed, VoiceCalibrator
from app.lipsync.profile import ProfileStore, default_profile
from app.lipsync.provider_voice import calibration_language, voice_key
from app.speech.espeak import EspeakEngine
from app.speech.factory import SessionFactory
from app.speech.providers import SpeechSettings
from tests.support.espeak_http_voice import EspeakHttpVoice
from tests.waiting import until


def remote(voice: EspeakHttpVoice, name: str) -> SpeechSettings:
    return SpeechSettings(provider="openai-compatible", base_url=voice.base_url, voice=name)


def key(voice: EspeakHttpVoice, name: str) -> str:
    """The profile store's name of ``name`` on this server (its address is part of it)."""
    settings = remote(voice, name)
    return voice_key(settings.provider, settings.voice, settings.model, settings.base_url)


class Current:
    """The app's current voice key, as lip sync reads it."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self) -> str:
        return self.key


@pytest.fixture
async def factory() -> AsyncIterator[SessionFactory]:
    engine = EspeakEngine()
    try:
        async with httpx.AsyncClient() as http:
            yield SessionFactory(engine, http)
    finally:
        engine.close()


async def test_a_new_remote_voice_is_calibrated_once_in_the_background(tmp_path: Path, factory: SessionFactory) -> None:
    with EspeakHttpVoice() as server:
        store = ProfileStore(tmp_path)
        calibrator = VoiceCalibrator(store, factory, Current(key(server, "af_bella")))
        settings = remote(server, "af_bella")
        seen: list[str] = []
        calibrator.subscribe(seen.append)
        assert calibrator.status(settings).text() == "built-in profile"
        assert calibrator.auto(settings)
        assert calibrator.status(settings).text().startswith("built-in profile (calibrating…")
        assert not calibrator.auto(settings), "one calibration per voice at a time"
        await until(lambda: not calibrator.busy(), 30, "the calibration")
        stored = store.load(key(server, "af_bella"))
        assert stored is not None and store.path_of(key(server, "af_bella")).is_file()
        assert not (stored.means == default_profile().means).all()
        status = calibrator.status(settings)
        assert status.phase == "calibrated" and status.text().startswith("calibrated (20")
        assert set(server.voices()) == {"af_bella"} and seen.count(key(server, "af_bella")) > 3  # progress
        asked = len(server.requests)
        assert not calibrator.auto(settings) and len(server.requests) == asked, "a stored profile is kept"

        # A damaged file is not a profile: the voice is calibrated again (until then the built-in one is used).
        store.path_of(key(server, "af_bella")).write_text("{broken", encoding="utf-8")
        assert "the stored profile is damaged" in calibrator.status(settings).text()
        assert calibrator.auto(settings)
        await until(lambda: not calibrator.busy(), 30, "the damaged profile replaced")
        assert store.load(key(server, "af_bella")) is not None
        assert not list(store.folder.glob("*.tmp")), "no temporary file left"


async def test_a_failing_voice_is_tried_once_and_the_status_says_why(tmp_path: Path, factory: SessionFactory) -> None:
    with EspeakHttpVoice(refused={"bm_lewis"}) as server:
        calibrator = VoiceCalibrator(ProfileStore(tmp_path), factory, Current(key(server, "bm_lewis")))
        settings = remote(server, "bm_lewis")
        assert calibrator.auto(settings)
        await until(lambda: not calibrator.busy(), 30, "the failed calibration")
        text = calibrator.status(settings).text()
        assert text.startswith("built-in profile: calibration failed: the voice failed: "), text
        assert "Incorrect API key provided" in text
        asked = len(server.requests)
        assert asked >= 1
        for _ in range(3):  # settings applied again, a restart of speech...: no retry storm
            assert not calibrator.auto(settings)
        await asyncio.sleep(0.2)
        assert len(server.requests) == asked and not list(calibrator.store.folder.glob("*.json"))
        # The button still tries, and says why it failed.
        with pytest.raises(CalibrationFailed, match="Incorrect API key provided"):
            await calibrator.calibrate(settings)
        assert len(server.requests) > asked
        # A saved key lets the provider's failed voices try again by themselves.
        calibrator.forget_failures("openai-compatible")
        assert calibrator.auto(settings)
        await until(lambda: not calibrator.busy(), 30)
        assert calibrator.status(settings).phase == "failed"


async def test_a_voice_change_mid_calibration_stores_each_profile_under_its_own_voice(
    tmp_path: Path, factory: SessionFactory
) -> None:
    with EspeakHttpVoice(delay_s=0.05) as server:
        store = ProfileStore(tmp_path)
        current = Current(key(server, "af_sky"))
        calibrator = VoiceCalibrator(store, factory, current)
        assert calibrator.auto(remote(server, "af_sky"))
        await until(lambda: len(server.requests) >= 2, 10, "af_sky being calibrated")
        current.key = key(server, "am_adam")  # the user picks another voice mid-calibration
        assert calibrator.auto(remote(server, "am_adam"))
        assert calibrator.status(remote(server, "am_adam")).phase == "calibrating"
        await until(lambda: not calibrator.busy(), 60, "both calibrations")
        voices = server.voices()
        switch = voices.index("am_adam")
        assert set(voices[:switch]) == {"af_sky"} and set(voices[switch:]) == {"am_adam"}, "one at a time"
        first, second = store.load(key(server, "af_sky")), store.load(key(server, "am_adam"))
        assert first is not None and first.voice == key(server, "af_sky")
        assert second is not None and second.voice == key(server, "am_adam")

        # A voice passed through while another calibrates is dropped when its turn comes: nobody pays for it.
        current.key = key(server, "bf_emma")
        assert calibrator.auto(remote(server, "bf_emma"))
        await until(lambda: len(server.requests) > len(voices) + 1, 10, "bf_emma being calibrated")
        assert calibrator.auto(remote(server, "bm_george"))  # waits for bf_emma
        current.key = key(server, "am_echo")
        assert calibrator.auto(remote(server, "am_echo"))
        await until(lambda: not calibrator.busy(), 60, "the calibrations")
        assert "bm_george" not in server.voices() and store.load(key(server, "bm_george")) is None
        assert store.load(key(server, "am_echo")) is not None


async def test_the_button_joins_a_running_calibration_and_recalibrates_a_calibrated_voice(
    tmp_path: Path, factory: SessionFactory
) -> None:
    with EspeakHttpVoice() as server:
        store = ProfileStore(tmp_path)
        calibrator = VoiceCalibrator(store, factory, Current(key(server, "af_nova")))
        settings = remote(server, "af_nova")
        assert calibrator.auto(settings)
        profile = await calibrator.calibrate(settings)  # joins: not a second calibration
        once = len(server.requests)
        assert store.load(profile.voice) is not None
        before = store.path_of(profile.voice).stat().st_mtime_ns
        await calibrator.calibrate(settings)  # calibrated already: the button makes it again
        assert len(server.requests) == 2 * once
        assert store.path_of(profile.voice).stat().st_mtime_ns > before


async def test_closing_mid_calibration_stores_nothing_and_returns_at_once(
    tmp_path: Path, factory: SessionFactory
) -> None:
    with EspeakHttpVoice(delay_s=0.2) as server:
        store = ProfileStore(tmp_path)
        calibrator = VoiceCalibrator(store, factory, Current(key(server, "af_river")))
        assert calibrator.auto(remote(server, "af_river"))
        await until(lambda: len(server.requests) >= 2, 10, "the calibration under way")
        started = time.monotonic()
        await calibrator.aclose()
        assert time.monotonic() - started < 1.0 and not calibrator.busy()
        await asyncio.sleep(0.1)  # a request already on the wire at the close may reach the server's thread late
        asked = len(server.requests)
        await asyncio.sleep(0.5)
        assert len(server.requests) == asked, "no request after closing"
        assert not store.folder.exists() or not list(store.folder.iterdir()), "no profile, no temporary file"


def test_the_calibration_language_comes_from_the_best_the_settings_tell() -> None:
    assert calibration_language(SpeechSettings(voice="de")) == "de"
    assert calibration_language(SpeechSettings()) == "en-us"
    assert calibration_language(SpeechSettings(provider="openai-compatible")) == "en-us"  # af_heart, Kokoro's default
    assert calibration_language(SpeechSettings(provider="openai-compatible", voice="jf_alpha")) == "ja"
    assert calibration_language(SpeechSettings(provider="openai-compatible", voice="ff_siwis")) == "fr"
    assert calibration_language(SpeechSettings(provider="openai", voice="alloy")) == "en"
    assert calibration_language(SpeechSettings(provider="openai", voice="xf_unknown")) == "en"
    assert calibration_language(SpeechSettings(provider="openai", voice="nova"), " de ") == "de", "configured wins"
    assert calibration_language(SpeechSettings(voice="fr"), "es") == "es"


async def test_the_app_quits_on_sigterm_mid_calibration_without_a_trace(tmp_path: Path) -> None:
    """The real app process, offscreen, calibrating a new remote voice after its start delay: SIGTERM ends it."""
    with EspeakHttpVoice(delay_s=0.3) as server:
        settings = SettingsService(SettingsStore(tmp_path))
        settings.update("speech", provider="openai-compatible", base_url=server.base_url, voice="af_river")
        hidden = {"GODOT4", "GODOT", "DISPLAY", "WAYLAND_DISPLAY"}
        env = {k: v for k, v in os.environ.items() if k not in hidden}
        env.update(QT_QPA_PLATFORM="offscreen", PATH="/usr/bin:/bin")
        app = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app",
            "--user-data",
            str(tmp_path),
            "--runtime",
            "native",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await until(lambda: len(server.requests) >= 2, 60, "the app calibrating the voice")
            app.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(app.communicate(), 15)
        finally:
            if app.returncode is None:
                app.kill()
                await app.wait()
        assert app.returncode == 130, stderr.decode()  # "interrupted": the signal's documented exit
        assert b"Traceback" not in stderr and b"never retrieved" not in stderr, stderr.decode()
        assert b"retrying" not in stderr, "the calibration's requests stopped with it, none retried"
        asked = len(server.requests)
        await asyncio.sleep(0.5)
        assert len(server.requests) == asked
        voices = ProfileStore(tmp_path).folder
        assert not voices.exists() or not list(voices.iterdir()), "no profile, no temporary file"
