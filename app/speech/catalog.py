"""What a provider offers, asked over HTTP for the settings pages' pickers: models (OpenAI-compatible
``GET {base}/models``) and voices (OpenAI's fixed list; Kokoro-style ``GET {base}/audio/voices``; unspeech's
``GET /api/voices?provider=<backend>``). Plus the pages' "Test" buttons: one short completion from a language model.

Every request has a timeout, and every failure is a :class:`CatalogError` whose message is fit to show next to the
picker: a refused key, an unreachable server, an answer that is not the expected JSON.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from app.speech.chat import ChatClient, ChatError, ChatMessage, ChatSettings
from app.speech.events import SpeechProviderError
from app.speech.providers import (
    ApiKey,
    ProviderDefinition,
    SpeechSettings,
    error_snippet,
    new_request_id,
    request_headers,
    scrub,
)
from app.speech.redaction import LIBRARY_LOGGERS, guard, redact
from app.speech.service import SpeechService

log = logging.getLogger("app.speech.catalog")

LIST_TIMEOUT_S = 8.0
OPENAI_VOICES = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "nova",
    "onyx",
    "sage",
    "shimmer",
    "verse",
)
"""The built-in voices of OpenAI's speech API (it has no endpoint that lists them)."""
TEST_PROMPT = "Say hello in five words or fewer."


class CatalogError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Choice:
    id: str
    name: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id})" if self.name and self.name != self.id else self.id


async def get_json(http: httpx.AsyncClient, url: str, key: ApiKey | None, timeout_s: float = LIST_TIMEOUT_S) -> Any:
    """``GET url`` as JSON, every failure a :class:`CatalogError` in plain words (the key never in it)."""
    guard(log, *LIBRARY_LOGGERS)
    request_id = new_request_id("list")
    shown = redact(url)
    log.info("[%s] GET %s", request_id, shown)
    try:
        response = await http.get(url, headers=request_headers(request_id, key), timeout=httpx.Timeout(timeout_s))
    except httpx.TimeoutException:
        raise CatalogError("timeout", f"{shown} did not answer within {timeout_s:g} s") from None
    except httpx.TransportError as error:
        reason = scrub(str(error), key) or type(error).__name__
        raise CatalogError("unreachable", f"{shown} cannot be reached ({reason})") from None
    if response.status_code in (401, 403):
        reason = error_snippet(response.text, key, response.reason_phrase)
        raise CatalogError("key-refused", f"the key was refused (HTTP {response.status_code}: {reason})")
    if response.status_code >= 400:
        reason = error_snippet(response.text, key, response.reason_phrase)
        raise CatalogError(f"http-{response.status_code}", f"{shown} answered HTTP {response.status_code}: {reason}")
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CatalogError("bad-answer", f"{shown} did not answer JSON") from None


def _choices(items: Any, where: str, id_keys: tuple[str, ...] = ("id",)) -> list[Choice]:
    """A list of ids, or of objects with an id (and maybe a name); anything else is a bad answer."""
    if not isinstance(items, list):
        raise CatalogError("bad-answer", f"{where} did not answer a list")
    found: list[Choice] = []
    for item in items:
        if isinstance(item, str) and item:
            found.append(Choice(item))
        elif isinstance(item, dict):
            identifier = next((item[k] for k in id_keys if isinstance(item.get(k), str) and item[k]), None)
            if identifier is not None:
                name = item.get("name")
                found.append(Choice(identifier, name if isinstance(name, str) else ""))
    return sorted(set(found), key=lambda choice: choice.id)


async def list_models(
    http: httpx.AsyncClient, base_url: str, key: ApiKey | None, timeout_s: float = LIST_TIMEOUT_S
) -> list[Choice]:
    """An OpenAI-compatible server's models: ``GET {base}/models`` answering ``{"data": [{"id": ...}, ...]}``."""
    if not base_url:
        raise CatalogError("not-configured", "set the base URL first")
    url = f"{base_url.rstrip('/')}/models"
    answer = await get_json(http, url, key, timeout_s)
    data = answer.get("data") if isinstance(answer, dict) else answer
    return _choices(data, redact(url))


def http_root(url: str) -> str:
    """``scheme://host:port`` of ``url``, with ``ws``/``wss`` as ``http``/``https`` (unspeech's REST lives there)."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "", "", ""))


async def list_voices(
    http: httpx.AsyncClient,
    definition: ProviderDefinition,
    settings: SpeechSettings,
    key: ApiKey | None,
    timeout_s: float = LIST_TIMEOUT_S,
) -> list[Choice]:
    """The voices of a speech provider (``settings`` resolved: defaults filled in). The embedded voice is listed by
    its engine, not here."""
    if definition.id == "openai":
        return [Choice(voice) for voice in OPENAI_VOICES]
    if not settings.base_url:
        raise CatalogError("not-configured", "set the base URL first")
    if definition.capabilities.transport == "bidirectional-ws":
        backend = (settings.model or "").split("/", 1)[0]
        if not backend:
            raise CatalogError("not-configured", "the model names the backend (e.g. volcengine/seed-tts-2.0)")
        url = f"{http_root(settings.base_url)}/api/voices?provider={backend}"
    elif definition.capabilities.transport == "http":
        url = f"{settings.base_url.rstrip('/')}/audio/voices"
    else:
        return []
    answer = await get_json(http, url, key, timeout_s)
    voices = answer.get("voices") if isinstance(answer, dict) else answer
    return _choices(voices, redact(url), ("id", "voice_id", "name"))


async def try_completion(
    http: httpx.AsyncClient, base_url: str, model: str, key: ApiKey | None, timeout_s: float = 20.0
) -> str:
    """One short completion (streamed, as the app asks), as the "Test" button shows it."""
    if not base_url or not model:
        raise CatalogError("not-configured", "set the base URL and the model first")
    chat = ChatClient(http, ChatSettings(base_url, model, timeout_s=timeout_s), key)
    pieces: list[str] = []
    try:
        async for piece in chat.stream_reply([ChatMessage("user", TEST_PROMPT)]):
            pieces.append(piece)
    except ChatError as error:
        if error.code in ("http-401", "http-403"):
            raise CatalogError("key-refused", f"the key was refused ({error.message})") from None
        raise CatalogError(error.code, error.message) from None
    reply = "".join(pieces).strip()
    if not reply:
        raise CatalogError("empty-reply", "the model answered nothing")
    return reply


TEST_SENTENCE = "Hello! This is how I sound."


async def speak_test(service: SpeechService, text: str = TEST_SENTENCE) -> str:
    """Speaks ``text`` with the current speech settings (heard, and the mouth moves) and says how it went; a
    provider that fails raises :class:`CatalogError` with its reason."""
    try:
        turn = await service.begin_reply()
    except SpeechProviderError as error:  # no key, a bad setting: nothing was asked
        raise CatalogError(error.code, error.message) from None
    await turn.append_text(text)
    await turn.finish()
    stats = await turn.wait()
    if turn.errors:
        first = turn.errors[0]
        code = "key-refused" if first.code in ("http-401", "http-403") else first.code
        message = f"the key was refused ({first.message})" if code == "key-refused" else first.message
        raise CatalogError(code, message)
    if stats.cancelled:
        raise CatalogError("cancelled", "the test was interrupted before it finished")
    if stats.audio_seconds <= 0:
        raise CatalogError("no-audio", "the provider answered no audio")
    first_audio = f", first sound after {stats.first_audio_s * 1000:.0f} ms" if stats.first_audio_s else ""
    return f"Spoke {stats.audio_seconds:.1f} s of audio{first_audio}."
