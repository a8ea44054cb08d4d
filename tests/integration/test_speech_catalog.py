"""What the settings pages ask providers, against real loopback servers: model and voice lists, a test completion,
a test sentence; every failure (refused key, unreachable, slow, not JSON) an error in words, never the key."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.speech.catalog import (
    OPENAI_VOICES,
    CatalogError,
    Choice,
    http_root,
    list_models,
    list_voices,
    speak_test,
    try_completion,
)
from app.speech.providers import ApiKey, SpeechSettings, provider_table
from app.speech.service import SpeechService
from app.speech.sink import NullSink
from tests.support.keyrings import keyring_in
from tests.support.speech_servers import (
    ChatScript,
    HttpReply,
    SeenRequest,
    SpeechHttpServer,
    SseChatServer,
    StreamingServer,
)

KEY = ApiKey("sk-catalog-secret-1234")
PROVIDERS = provider_table()


def json_reply(status: int, body: object, delay_s: float = 0.0) -> HttpReply:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpReply(status=status, body=raw, chunked=False, content_type="application/json", delay_s=delay_s)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_models_come_from_get_models_with_the_key(http: httpx.AsyncClient) -> None:
    models = {"object": "list", "data": [{"id": "tts-b", "object": "model"}, {"id": "tts-a"}, {"no": "id"}]}
    async with SpeechHttpServer(lambda _r: json_reply(200, models)) as server:
        found = await list_models(http, server.base_url + "/", KEY)
    assert found == [Choice("tts-a"), Choice("tts-b")]
    request = server.requests[0]
    assert request.path == "/v1/models" and request.headers["authorization"] == f"Bearer {KEY.reveal()}"


@pytest.mark.parametrize(
    ("reply", "code", "says"),
    [
        (json_reply(401, {"error": {"message": "Incorrect API key provided"}}), "key-refused", "the key was refused"),
        (json_reply(403, {"detail": "forbidden"}), "key-refused", "the key was refused (HTTP 403: forbidden)"),
        (json_reply(500, b"upstream exploded"), "http-500", "answered HTTP 500: upstream exploded"),
        (json_reply(200, b"<html>not json</html>"), "bad-answer", "did not answer JSON"),
        (json_reply(200, {"data": "nope"}), "bad-answer", "did not answer a list"),
        (json_reply(200, {"data": []}, delay_s=2.0), "timeout", "did not answer within 0.5 s"),
    ],
)
async def test_model_listing_failures_are_said_in_words(
    http: httpx.AsyncClient, reply: HttpReply, code: str, says: str
) -> None:
    async with SpeechHttpServer(lambda _r: reply) as server:
        with pytest.raises(CatalogError) as failure:
            await list_models(http, server.base_url, KEY, timeout_s=0.5)
    assert failure.value.code == code and says in failure.value.message, failure.value.message
    assert KEY.reveal() not in failure.value.message


async def test_an_unreachable_server_and_a_missing_url_are_said_in_words(http: httpx.AsyncClient) -> None:
    with pytest.raises(CatalogError) as failure:
        await list_models(http, f"http://127.0.0.1:{closed_port()}/v1", KEY, timeout_s=2)
    assert failure.value.code == "unreachable" and "cannot be reached" in failure.value.message
    with pytest.raises(CatalogError, match="set the base URL first"):
        await list_models(http, "", KEY)


async def test_voices_per_provider(http: httpx.AsyncClient) -> None:
    openai = PROVIDERS["openai"]
    assert await list_voices(http, openai, openai.resolve(SpeechSettings("openai")), None) == [
        Choice(v) for v in OPENAI_VOICES
    ]
    # An OpenAI-compatible server with Kokoro-FastAPI's GET /audio/voices (a list of names).
    compatible = PROVIDERS["openai-compatible"]

    def kokoro(request: SeenRequest) -> HttpReply:
        return json_reply(200 if request.path == "/v1/audio/voices" else 404, {"voices": ["bf_emma", "af_heart"]})

    async with SpeechHttpServer(kokoro) as server:
        settings = compatible.resolve(SpeechSettings("openai-compatible", base_url=server.base_url))
        assert await list_voices(http, compatible, settings, None) == [Choice("af_heart"), Choice("bf_emma")]
    # unspeech: GET /api/voices?provider=<the model's backend> on the streaming server's host.
    streaming = PROVIDERS["unspeech-stream"]
    async with StreamingServer() as streaming_server:
        voices = {"voices": [{"id": "zh_female_1", "name": "Vivi", "labels": {}}, {"id": "en_male_2", "name": "Max"}]}
        streaming_server.voices["volcengine"] = (200, json.dumps(voices).encode())
        settings = streaming.resolve(SpeechSettings("unspeech-stream", base_url=streaming_server.url))
        listed = await list_voices(http, streaming, settings, KEY)
        assert listed == [Choice("en_male_2", "Max"), Choice("zh_female_1", "Vivi")]
        assert streaming_server.headers[-1]["Authorization"] == f"Bearer {KEY.reveal()}"
        elevenlabs = SpeechSettings("unspeech-stream", base_url=streaming_server.url, model="elevenlabs/v2")
        other = streaming.resolve(elevenlabs)
        with pytest.raises(CatalogError, match="unsupported backend") as failure:
            await list_voices(http, streaming, other, KEY)
        assert failure.value.code == "http-404"
    assert http_root("wss://example.org:5933/v1/audio/speech/stream") == "https://example.org:5933"


async def test_a_test_completion_shows_the_reply_or_why_not(http: httpx.AsyncClient) -> None:
    async with SseChatServer(ChatScript(["Hello", " there", ", friend!"], interval_s=0.0)) as server:
        assert await try_completion(http, server.base_url, "local-model", KEY) == "Hello there, friend!"
        assert server.requests[0]["model"] == "local-model"
    async with SseChatServer(ChatScript([], mode="refuse")) as server:
        with pytest.raises(CatalogError) as failure:
            await try_completion(http, server.base_url, "local-model", KEY)
        assert failure.value.code == "key-refused" and "Invalid API key" in failure.value.message
    async with SseChatServer(ChatScript(["Hi"], mode="drop", drop_after=0)) as server:
        with pytest.raises(CatalogError, match=r"connection broke|before it was complete"):
            await try_completion(http, server.base_url, "local-model", KEY)
    with pytest.raises(CatalogError, match="set the base URL and the model"):
        await try_completion(http, "", "", KEY)


async def test_a_test_sentence_is_spoken_through_the_provider_or_fails_in_words(
    http: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with keyring_in(tmp_path):  # an empty keyring: the openai provider finds no key
        await _speak_tests()


async def _speak_tests() -> None:
    async with SpeechHttpServer() as server, httpx.AsyncClient() as http:
        settings = SpeechSettings("openai-compatible", base_url=server.base_url, model="kokoro", voice="af_heart")
        service = SpeechService(NullSink(24_000), settings, http=http)
        try:
            said = await speak_test(service, "A sentence of forty characters, or so!!")
            assert re.fullmatch(r"Spoke 0\.4 s of audio, first sound after \d+ ms\.", said), said
            body = server.requests[0].body
            assert body["input"].startswith("A sentence") and body["voice"] == "af_heart"
            server.script = lambda _r: json_reply(401, {"error": {"message": "bad key"}})
            with pytest.raises(CatalogError) as failure:
                await speak_test(service, "Hi.")
            assert failure.value.code == "key-refused" and "bad key" in failure.value.message
            await service.apply_settings(SpeechSettings("openai", base_url=server.base_url))
            with pytest.raises(CatalogError, match="needs an API key") as missing:
                await asyncio.wait_for(speak_test(service, "Hi."), 10)
            assert missing.value.code == "missing-key"
        finally:
            await service.close()
