"""What the Speech, Language model and Lip sync pages add to their generated forms: API keys, model and voice
pickers filled from the provider, Test buttons, the current voice's mouth profile status with "Calibrate this
voice", and why the VMC output is off (under the VMC fields).

Built from the app's services (the settings, a shared HTTP client, the running speech and lip-sync services), so a
test can build the same panels around real services and loopback servers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.config.model import Settings
from app.config.service import Changed, SettingsService
from app.lipsync.auto_calibration import CALIBRATION_TIMEOUT_S, CalibrationFailed, VoiceCalibrator
from app.lipsync.service import LipSyncService
from app.speech.catalog import CatalogError, Choice, list_models, list_voices, speak_test, try_completion
from app.speech.keys import LANGUAGE_MODEL_KEY, LANGUAGE_MODEL_KEY_ENV
from app.speech.providers import ApiKey, ProviderDefinition, SpeechSettings, find_api_key, provider_table
from app.speech.service import SpeechService
from app.ui.provider_panels import (
    ERROR_STYLE,
    MUTED_STYLE,
    OK_STYLE,
    ApiKeyField,
    CheckButton,
    ChoicePicker,
    note_label,
)

SPEECH_LISTS_FOLLOW = frozenset({"speech.provider", "speech.base_url"})
VOICES_FOLLOW = SPEECH_LISTS_FOLLOW | {"speech.model"}  # unspeech lists the voices of the model's backend
LANGUAGE_MODELS_FOLLOW = frozenset({"language_model.base_url"})


@dataclass
class ProviderServices:
    settings: SettingsService
    http: httpx.AsyncClient
    speech: Callable[[], SpeechService | None]
    lipsync: Callable[[], LipSyncService | None]
    calibrator: Callable[[], VoiceCalibrator | None]
    speech_unavailable: Callable[[], str | None]
    """Why speech could not start, when it could not."""
    speech_settings: Callable[[Settings], SpeechSettings]
    lipsync_voice: Callable[[Settings], str]
    keys_changed: Callable[[str], None] = lambda _user: None
    """A key was saved or removed (``language-model`` or a provider id): what uses it picks it up."""


class ProviderSettings:
    def __init__(self, services: ProviderServices) -> None:
        self.services = services
        self.providers = provider_table()
        settings = services.settings
        self.speech_key = ApiKeyField(self._speech_key_owner, lambda: self._key_changed(self._provider().id))
        self.speech_models = ChoicePicker(
            "Models of this provider",
            "speechModels",
            fetch=self._speech_models,
            current=lambda: self._resolved().model or "",  # an empty field means the provider's default
            pick=lambda model: settings.update("speech", model=model),
        )
        self.speech_voices = ChoicePicker(
            "Voices of this provider",
            "speechVoices",
            fetch=self._speech_voices,
            current=lambda: self._resolved().voice or "",
            pick=lambda voice: settings.update("speech", voice=voice),
        )
        self.speech_test = CheckButton("Test the voice", "testVoice", self._speak_test)
        self.chat_key = ApiKeyField(
            lambda: (LANGUAGE_MODEL_KEY, LANGUAGE_MODEL_KEY_ENV), lambda: self._key_changed(LANGUAGE_MODEL_KEY)
        )
        self.chat_models = ChoicePicker(
            "Models of this server",
            "chatModels",
            fetch=self._chat_models,
            current=lambda: settings.settings.language_model.model,
            pick=lambda model: settings.update("language_model", model=model),
        )
        self.chat_test = CheckButton("Test the language model", "testChat", self._chat_test)
        self.profile_status = note_label("profileStatus")
        self.profile_panel = QWidget()
        column = QVBoxLayout(self.profile_panel)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(QLabel("Mouth profile of the current voice"))
        column.addWidget(self.profile_status)
        # The calibration has its own bound (CALIBRATION_TIMEOUT_S), which says why in the status.
        timeout_s = CALIBRATION_TIMEOUT_S + 30.0
        self.calibrate = CheckButton("Calibrate this voice", "calibrateVoice", self._calibrate, timeout_s=timeout_s)
        column.addWidget(self.calibrate)
        self.vmc_problem = note_label("vmcProblem")
        self.vmc_problem.setStyleSheet(ERROR_STYLE)
        self._unsubscribers = [settings.subscribe(self._changed)]
        calibrator, lipsync = services.calibrator(), services.lipsync()
        if calibrator is not None:
            self._unsubscribers.append(calibrator.subscribe(lambda _voice: self.show_profile_status()))
        if lipsync is not None:
            self._unsubscribers.append(lipsync.watch_vmc_problem(self._show_vmc_problem))
        self._show_vmc_problem(lipsync.vmc_problem if lipsync is not None else None)
        self.show_profile_status()

    def page_extras(self) -> dict[str, list[QWidget]]:
        return {
            "speech": [self.speech_key, self.speech_models, self.speech_voices, self.speech_test],
            "language_model": [self.chat_key, self.chat_models, self.chat_test],
            "lip_sync": [self.profile_panel],
        }

    def field_notes(self) -> dict[str, dict[str, QWidget]]:
        """Notes shown under a form's field: why the VMC output is off, under its port."""
        return {"lip_sync": {"vmc_port": self.vmc_problem}}

    async def aclose(self) -> None:
        """Stops whatever the pages are still asking or running (the app quits)."""
        for unsubscribe in self._unsubscribers:
            unsubscribe()
        widgets = (self.speech_key, self.speech_models, self.speech_voices, self.speech_test, self.chat_key)
        for widget in (*widgets, self.chat_models, self.chat_test, self.calibrate):
            await widget.aclose()

    def load(self) -> None:
        """Fill the pickers (the settings window opened)."""
        self.speech_models.reload()
        self.speech_voices.reload()
        if self.services.settings.settings.language_model.base_url:
            self.chat_models.reload()

    # -- settings changes ----------------------------------------------------------------------------------------

    def _changed(self, _settings: Settings, changed: Changed) -> None:
        if any(name.startswith(("speech.", "lip_sync.")) for name in changed):
            self.show_profile_status()
        if "speech.provider" in changed:
            self.speech_key.refresh()
        if changed & SPEECH_LISTS_FOLLOW:
            self.speech_models.reload()
        else:
            self.speech_models.select_current()
        if changed & VOICES_FOLLOW:
            self.speech_voices.reload()
        else:
            self.speech_voices.select_current()
        if changed & LANGUAGE_MODELS_FOLLOW:
            self.chat_models.reload()
        else:
            self.chat_models.select_current()

    def _key_changed(self, user: str) -> None:
        self.services.keys_changed(user)
        if user == LANGUAGE_MODEL_KEY:
            self.chat_models.reload()
        else:
            self.speech_models.reload()
            self.speech_voices.reload()

    # -- speech ------------------------------------------------------------------------------------------------

    def _provider(self) -> ProviderDefinition:
        name = self.services.settings.settings.speech.provider
        return self.providers[name]

    def _resolved(self) -> SpeechSettings:
        return self._provider().resolve(self.services.speech_settings(self.services.settings.settings))

    def _speech_key_owner(self) -> tuple[str, str | None] | None:
        definition = self._provider()
        env_name = definition.defaults.api_key_env
        if not (definition.capabilities.needs_key or env_name):
            return None
        return definition.id, env_name

    async def _key(self, user: str, env_name: str | None) -> ApiKey | None:
        return await asyncio.to_thread(find_api_key, user, env_name)

    async def _speech_key(self, definition: ProviderDefinition, env_name: str | None) -> ApiKey | None:
        key = await self._key(definition.id, env_name)
        if key is None and definition.capabilities.needs_key:  # asking without one would only say "refused"
            where = f" (or set ${env_name})" if env_name else ""
            raise CatalogError("missing-key", f"{definition.label} needs an API key: save it above{where}")
        return key

    async def _speech_models(self) -> list[Choice]:
        definition, resolved = self._provider(), self._resolved()
        if definition.capabilities.transport == "local":
            raise CatalogError("no-models", "the embedded voice has one model; pick a voice below")
        if definition.capabilities.transport == "bidirectional-ws":
            raise CatalogError("no-models", "unspeech lists no models: type backend/model in the Model field")
        key = await self._speech_key(definition, resolved.api_key_env)
        models = await list_models(self.services.http, resolved.base_url or "", key)
        if definition.id == "openai":  # the account lists every model; these are the speech ones
            models = [model for model in models if "tts" in model.id]
        return models

    async def _speech_voices(self) -> list[Choice]:
        definition, resolved = self._provider(), self._resolved()
        if definition.capabilities.transport == "local":
            return await asyncio.to_thread(self._espeak_voices)
        if definition.id == "openai":  # a fixed list: no request, no key needed to see it
            return await list_voices(self.services.http, definition, resolved, None)
        key = await self._speech_key(definition, resolved.api_key_env)
        return await list_voices(self.services.http, definition, resolved, key)

    def _espeak_voices(self) -> list[Choice]:
        speech = self.services.speech()
        if speech is None:
            raise CatalogError("no-speech", self.services.speech_unavailable() or "speech is not running")
        voices = speech.espeak.voices()
        # "gmw/en-US" is selected as "en-us" (espeak ignores case; the settings and profiles use lower case)
        choices = {Choice(v.identifier.rsplit("/", 1)[-1].lower(), v.name) for v in voices}
        return sorted(choices, key=lambda c: c.name)

    def _running_speech(self) -> SpeechService:
        speech = self.services.speech()
        if speech is None:
            raise CatalogError("no-speech", self.services.speech_unavailable() or "speech is not running")
        return speech

    async def _speak_test(self, progress: Callable[[str], None]) -> str:
        speech = self._running_speech()
        await speech.apply_settings(self.services.speech_settings(self.services.settings.settings))
        progress(f"Speaking through {self._provider().label}…")
        return await speak_test(speech)

    # -- language model ----------------------------------------------------------------------------------------

    async def _chat_models(self) -> list[Choice]:
        model = self.services.settings.settings.language_model
        key = await self._key(LANGUAGE_MODEL_KEY, LANGUAGE_MODEL_KEY_ENV)
        return await list_models(self.services.http, model.base_url, key)

    async def _chat_test(self, progress: Callable[[str], None]) -> str:
        model = self.services.settings.settings.language_model
        key = await self._key(LANGUAGE_MODEL_KEY, LANGUAGE_MODEL_KEY_ENV)
        progress(f"Asking {model.model or 'the model'}…")
        reply = await try_completion(self.services.http, model.base_url, model.model, key)
        return f"{model.model} answered: {reply}"

    # -- lip sync ----------------------------------------------------------------------------------------------

    def _calibrator(self) -> VoiceCalibrator:
        calibrator = self.services.calibrator()
        if calibrator is None:
            raise CatalogError("no-speech", self.services.speech_unavailable() or "speech is not running")
        return calibrator

    def show_profile_status(self) -> None:
        """The current voice's profile: calibrated (when), the built-in one (and why), or not needed."""
        calibrator = self.services.calibrator()
        if calibrator is None:
            self.profile_status.setText(self.services.speech_unavailable() or "Speech is not running.")
            self.profile_status.setStyleSheet(ERROR_STYLE)
            return
        settings = self.services.settings.settings
        status = calibrator.status(self.services.speech_settings(settings))
        text = status.text()
        if status.phase == "built-in" and not settings.lip_sync.auto_calibrate:
            text += " (automatic calibration is off)"
        self.profile_status.setText(f"{status.voice}: {text}")
        style = {"calibrated": OK_STYLE, "failed": ERROR_STYLE}.get(status.phase, MUTED_STYLE)
        self.profile_status.setStyleSheet(style)

    def _show_vmc_problem(self, problem: str | None) -> None:
        self.vmc_problem.setText(problem or "")
        self.vmc_problem.setVisible(problem is not None)

    async def _calibrate(self, progress: Callable[[str], None]) -> str:
        """The same calibration as the automatic one, made again even when the voice has a profile."""
        calibrator = self._calibrator()
        settings = self.services.settings.settings
        speech = self.services.speech_settings(settings)
        voice = self.services.lipsync_voice(settings)

        def spoken(changed: str) -> None:
            recordings = calibrator.recordings(voice) if changed == voice else 0
            if recordings:
                progress(f"Calibrating {voice}: {recordings} recordings made…")

        unsubscribe = calibrator.subscribe(spoken)
        progress(f"Calibrating {voice}: speaking the first recording…")
        try:
            profile = await calibrator.calibrate(speech, settings.lip_sync.calibration_language)
        except CalibrationFailed as error:
            raise CatalogError(error.code, error.message) from None
        finally:
            unsubscribe()
        path = calibrator.store.path_of(voice)
        return (
            f"Calibrated {voice}: vowel level {profile.level_db:.1f} dBFS, saved to {path}. Used from the next reply."
        )
