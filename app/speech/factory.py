"""Builds the session for the chosen provider: the one place that branches on ``speech.transport``."""

from __future__ import annotations

import os
from collections.abc import Mapping

import httpx

from app.speech.espeak import DEFAULT_RATE, MAX_RATE, MIN_RATE, EspeakEngine, EspeakSynthesizer
from app.speech.events import SpeechProviderError
from app.speech.http_provider import HttpSpeechSynthesizer
from app.speech.providers import ProviderDefinition, SpeechSettings, find_api_key, provider_table
from app.speech.session import SegmentedSession, SessionOptions, SpeechSession
from app.speech.ws_provider import WsSpeechSession


class SessionFactory:
    """Explicit dependencies: the espeak engine, one shared HTTP client, the provider table and the environment."""

    def __init__(
        self,
        espeak: EspeakEngine,
        http: httpx.AsyncClient,
        providers: Mapping[str, ProviderDefinition] | None = None,
        environ: Mapping[str, str] = os.environ,
        retry_backoff_s: float = 0.5,
    ) -> None:
        self.espeak = espeak
        self.http = http
        self.providers = dict(providers) if providers is not None else provider_table()
        self._environ = environ
        self._backoff = retry_backoff_s

    def definition(self, provider: str) -> ProviderDefinition:
        try:
            return self.providers[provider]
        except KeyError:
            known = ", ".join(sorted(self.providers))
            raise SpeechProviderError("unknown-provider", f"no speech provider {provider!r} (known: {known})") from None

    def create(self, settings: SpeechSettings) -> SpeechSession:
        """A new session (one reply) with ``settings``; call it on the event loop."""
        definition = self.definition(settings.provider)
        resolved = definition.resolve(settings)
        key = find_api_key(definition.id, resolved.api_key_env, self._environ)
        if definition.capabilities.needs_key and key is None:
            raise SpeechProviderError(
                "missing-key", f"{definition.label} needs an API key: set {resolved.api_key_env or 'its key'}"
            )
        options = SessionOptions(concurrency=resolved.concurrency, max_pending_segments=resolved.max_pending_segments)
        transport = definition.capabilities.transport
        if transport == "local":
            rate = min(MAX_RATE, max(MIN_RATE, round(DEFAULT_RATE * resolved.speed)))
            return SegmentedSession(EspeakSynthesizer(self.espeak, resolved.voice or "en-us", rate), options)
        if transport == "http":
            synthesizer = HttpSpeechSynthesizer(self.http, resolved, key, self._backoff)
            return SegmentedSession(synthesizer, options)
        if transport == "bidirectional-ws":
            return WsSpeechSession(resolved, key, self._backoff)
        raise SpeechProviderError("unknown-transport", f"{definition.id} declares an unknown transport {transport!r}")
