"""Speech providers as data: what each one is, which transport it speaks, and its default settings.

The transport decides which session adapter serves a provider (:mod:`app.speech.factory`, the only place that
branches on it). A new provider that speaks one of the transports (ElevenLabs through unspeech, a Kokoro server,
OpenAI's Realtime behind a bidirectional relay) is one more :class:`ProviderDefinition`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

log = logging.getLogger("app.speech.providers")

Transport = Literal["local", "http", "bidirectional-ws"]
AudioFormatName = Literal["pcm", "wav"]
KEYRING_SERVICE = "stage-tamagotchi"
SNIPPET_CHARS = 160


@dataclass(frozen=True)
class Capabilities:
    transport: Transport
    """``speech.transport``: local (in-process engine), http (one request per utterance), bidirectional-ws."""
    timing_marks: bool = False
    """Word and phoneme events with sample positions (lip sync can use phonemes)."""
    formats: tuple[AudioFormatName, ...] = ("pcm",)
    needs_key: bool = False


@dataclass(frozen=True)
class SpeechSettings:
    """What the user chose; ``None`` means the provider's default."""

    provider: str = "espeak"
    voice: str | None = None
    model: str | None = None
    base_url: str | None = None
    speed: float = 1.0
    response_format: AudioFormatName | None = None
    api_key_env: str | None = None
    concurrency: int = 2
    max_pending_segments: int = 16
    timeout_s: float = 15.0
    """Per attempt: connecting and waiting for the next piece of audio."""


@dataclass(frozen=True)
class ProviderDefinition:
    id: str
    label: str
    capabilities: Capabilities
    defaults: SpeechSettings = field(default_factory=SpeechSettings)

    def resolve(self, settings: SpeechSettings) -> SpeechSettings:
        """The user's settings with this provider's defaults filled in."""
        base = self.defaults
        return replace(
            settings,
            voice=settings.voice or base.voice,
            model=settings.model or base.model,
            base_url=(settings.base_url or base.base_url or "").rstrip("/") or None,
            response_format=settings.response_format or base.response_format or self.capabilities.formats[0],
            api_key_env=settings.api_key_env or base.api_key_env,
        )


BUILTIN_PROVIDERS: tuple[ProviderDefinition, ...] = (
    ProviderDefinition(
        "espeak",
        "Embedded offline voice (espeak-ng)",
        Capabilities("local", timing_marks=True),
        SpeechSettings(voice="en-us"),
    ),
    ProviderDefinition(
        "openai",
        "OpenAI speech",
        Capabilities("http", formats=("pcm", "wav"), needs_key=True),
        SpeechSettings(
            base_url="https://api.openai.com/v1", model="gpt-4o-mini-tts", voice="alloy", api_key_env="OPENAI_API_KEY"
        ),
    ),
    ProviderDefinition(
        "openai-compatible",
        "OpenAI-compatible server (Kokoro-FastAPI, unspeech, ...)",
        Capabilities("http", formats=("pcm", "wav")),
        SpeechSettings(
            base_url="http://127.0.0.1:8880/v1", model="kokoro", voice="af_heart", api_key_env="STAGE_TTS_API_KEY"
        ),
    ),
    ProviderDefinition(
        "unspeech-stream",
        "Streaming server speaking the unspeech/AIRI protocol",
        Capabilities("bidirectional-ws", formats=("pcm",)),
        SpeechSettings(
            base_url="ws://127.0.0.1:5933/v1/audio/speech/stream",
            model="volcengine/seed-tts-2.0",
            voice="default",
            api_key_env="STAGE_TTS_API_KEY",
        ),
    ),
)


def provider_table(definitions: tuple[ProviderDefinition, ...] = BUILTIN_PROVIDERS) -> dict[str, ProviderDefinition]:
    return {definition.id: definition for definition in definitions}


class ApiKey:
    """A secret that cannot end up in a log line or an error message by accident."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "ApiKey(***)"

    __str__ = __repr__


def find_api_key(provider: str, env_name: str | None, environ: Mapping[str, str] = os.environ) -> ApiKey | None:
    """The key from the environment variable the settings name, else the OS keyring if the keyring package exists."""
    if env_name and environ.get(env_name):
        return ApiKey(environ[env_name])
    try:
        import keyring  # type: ignore[import-not-found]  # noqa: PLC0415 - optional
    except ImportError:
        return None
    try:
        stored = keyring.get_password(KEYRING_SERVICE, provider)
    except Exception as error:  # a locked or absent keyring backend is not fatal
        log.info("keyring unavailable for %s: %s", provider, type(error).__name__)
        return None
    return ApiKey(stored) if stored else None


def scrub(text: str, key: ApiKey | None) -> str:
    """``text`` with the key masked, in case a server echoes it back."""
    if key is not None and key.reveal():
        return text.replace(key.reveal(), "***")
    return text


def error_snippet(body: str, key: ApiKey | None, fallback: str) -> str:
    """A short, key-free reason from a provider's error body: OpenAI's ``error.message``, JSON:API's
    ``errors[0].detail``, FastAPI's ``detail``, or the text itself."""
    text = body.strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        error, errors = parsed.get("error"), parsed.get("errors")
        if isinstance(error, dict) and error.get("message"):
            text = str(error["message"])
        elif isinstance(error, str):
            text = error
        elif isinstance(errors, list) and errors and isinstance(errors[0], dict):
            text = str(errors[0].get("detail") or errors[0].get("title") or errors[0])
        elif parsed.get("detail"):
            text = str(parsed["detail"])
    text = " ".join(scrub(text, key).split()) or fallback or "no reason given"
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"
