"""What the Speech, Language model and Lip sync pages add to their generated forms: API keys, model and voice
pickers filled from the provider, Test buttons, and "Calibrate this voice".

Built from the app's services (the settings, a shared HTTP client, the running speech and lip-sync services), so a
test can build the same panels around real services and loopback servers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from PySide6.QtWidgets import QWidget

from app.config.model import Settings
from app.config.service import Changed, SettingsService
from app.lipsync.profile import CalibrationError
from app.lipsync.provider_voice import calibrate_off_loop, session_synthesize
from app.lipsync.service import LipSyncService
from app.speech.catalog import CatalogError, Choice, list_models, list_voices, speak_test, try_completion
from app.speech.events import SpeechProviderError
from app.speech.factory import SessionFactory
from app.speech.keys import LANGUAGE_MODEL_KEY, LANGUAGE_MODEL_KEY_ENV
from app.speech.providers import ApiKey, ProviderDefinition, SpeechSettings, find_api_key, provider_table
from app.speech.service import SpeechService
from app.ui.provider_panels import ApiKeyField, CheckButton, ChoicePicker

SPEECH_LISTS_FOLLOW = frozenset({"speech.provider", "speech.base_url"})
VOICES_FOLLOW = SPEECH_LISTS_FOLLOW | {"speech.model"}  # unspeech lists the voices of the model's backend
LANGUAGE_MODELS_FOLLOW = frozenset({"language_model.base_url"})


@dataclass
class ProviderServices:
    settings: SettingsService
    http: httpx.AsyncClient
    speech: Callable[[], SpeechService | None]
    lipsync: Callable[[], LipSyncService | None]
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
        self.calibrate = CheckButton("Calibrate this voice", "calibrateVoice", self._calibrate, timeout_s=180.0)
        self._unsubscribe = settings.subscribe(self._changed)

    def page_extras(self) -> dict[str, list[QWidget]]:
        return {
            "speech": [self.speech_key, self.speech_models, self.speech_voices, self.speech_test],
            "language_model": [self.chat_key, self.chat_models, self.chat_test],
            "lip_sync": [self.calibrate],
        }

    async def aclose(self) -> None:
        """Stops whatever the pages are still asking or running (the app quits)."""
        self._unsubscribe()
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

    async def _calibrate(self, progress: Callable[[str], None]) -> str:
        speech = self._running_speech()
        lipsync = self.services.lipsync()
        if lipsync is None:
            raise CatalogError("no-lipsync", "lip sync is not running")
        settings = self.services.settings.settings
        voice = self.services.lipsync_voice(settings)
        provider_settings = self.services.speech_settings(settings)
        factory: SessionFactory = speech.factory
        # espeak voice ids are languages (en-us, de); other voices are calibrated with English vowels.
        language = (settings.speech.voice or "en-us") if settings.speech.provider == "espeak" else "en"
        progress(f"Calibrating {voice}: speaking the first recording…")
        try:
            profile = await calibrate_off_loop(
                voice,
                language,
                session_synthesize(lambda: factory.open(provider_settings)),
                lambda done: progress(f"Calibrating {voice}: {done} recordings made…"),
            )
            path = await asyncio.to_thread(lipsync.store.save, profile)
        except SpeechProviderError as error:
            raise CatalogError(error.code, f"the voice failed: {error.message}") from None
        except CalibrationError as error:
            raise CatalogError("calibration-failed", str(error)) from None
        return (
            f"Calibrated {voice}: vowel level {profile.level_db:.1f} dBFS, saved to {path}. Used from the next reply."
        )
