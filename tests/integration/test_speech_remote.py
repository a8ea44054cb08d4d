"""The ``http`` and ``bidirectional-ws`` providers against local servers speaking their wire formats over loopback,
and the factory that picks the adapter by transport."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import keyring
import keyring.backend
import keyring.backends.fail
import numpy as np
import pytest

from app.speech.espeak import EspeakEngine, EspeakSynthesizer
from app.speech.events import AudioEvent, DoneEvent, ErrorEvent, SentenceEvent, SessionEvent, SpeechProviderError
from app.speech.factory import SessionFactory
from app.speech.hooks import SpeakerHooks
from app.speech.http_provider import HttpSpeechSynthesizer
from app.speech.player import ScheduledAudio, Speaker
from app.speech.providers import BUILTIN_PROVIDERS, Capabilities, ProviderDefinition, SpeechSettings
from app.speech.session import SegmentedSession, SessionOptions, SpeechSession
from app.speech.sink import NullSink
from app.speech.ws_provider import OUTBOX_FRAMES, WsSpeechSession
from tests.support.speech_servers import (
    HttpReply,
    SeenRequest,
    SpeechHttpServer,
    StreamingBehaviour,
    StreamingServer,
    level_of,
)
from tests.waiting import until

SECRET = "sk-test-0123456789abcdef"
ENV = {"TEST_TTS_KEY": SECRET}
REPLY = "The first sentence is here. The second one follows it. And a third to end with."


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def factory_for(http: httpx.AsyncClient) -> SessionFactory:
    return SessionFactory(EspeakEngine(), http, environ=ENV, retry_backoff_s=0.2)


def http_settings(server: SpeechHttpServer, **changes: object) -> SpeechSettings:
    base = {
        "provider": "openai-compatible",
        "base_url": server.base_url,
        "model": "tts-test",
        "voice": "nova",
        "api_key_env": "TEST_TTS_KEY",
        "timeout_s": 2.0,
    }
    return SpeechSettings(**{**base, **changes})  # type: ignore[arg-type]


async def speak(session: SpeechSession, text: str = REPLY, tokens: bool = True) -> list[SessionEvent]:
    async def feed() -> None:
        for piece in text.split(" ") if tokens else [text]:
            await session.append_text(piece + " " if tokens else piece)
        await session.finish()

    feeding = asyncio.create_task(feed())
    events = [event async for event in session.events()]
    await feeding
    return events


def audio_levels(events: list[SessionEvent]) -> list[int]:
    return [int(e.pcm[0]) for e in events if isinstance(e, AudioEvent) and len(e.pcm)]


def sentences(events: list[SessionEvent]) -> list[str]:
    return [e.spoken.strip() for e in events if isinstance(e, SentenceEvent)]


def errors(events: list[SessionEvent]) -> list[ErrorEvent]:
    return [e for e in events if isinstance(e, ErrorEvent)]


# -- factory -------------------------------------------------------------------------------------------------------


async def test_the_factory_builds_the_adapter_for_each_transport(http: httpx.AsyncClient) -> None:
    factory = factory_for(http)
    local = factory.create(SpeechSettings(provider="espeak"))
    assert isinstance(local, SegmentedSession) and isinstance(local._synthesizer, EspeakSynthesizer)
    remote = factory.create(SpeechSettings(provider="openai-compatible"))
    assert isinstance(remote, SegmentedSession) and isinstance(remote._synthesizer, HttpSpeechSynthesizer)
    streaming = factory.create(SpeechSettings(provider="unspeech-stream", base_url="ws://127.0.0.1:9"))
    assert isinstance(streaming, WsSpeechSession)
    for session in (local, remote, streaming):
        await session.cancel("test over")
    assert {d.capabilities.transport for d in BUILTIN_PROVIDERS} == {"local", "http", "bidirectional-ws"}


async def test_a_new_provider_needs_only_a_definition(http: httpx.AsyncClient) -> None:
    async with SpeechHttpServer() as server:
        elevenlabs_via_unspeech = ProviderDefinition(
            "elevenlabs",
            "ElevenLabs through unspeech",
            Capabilities("http", formats=("pcm",), needs_key=True),
            SpeechSettings(base_url=server.base_url, model="elevenlabs/eleven_v3", voice="rachel"),
        )
        factory = SessionFactory(EspeakEngine(), http, {"elevenlabs": elevenlabs_via_unspeech}, environ=ENV)
        events = await speak(factory.create(SpeechSettings(provider="elevenlabs", api_key_env="TEST_TTS_KEY")))
        assert sentences(events) == [
            "The first sentence is here.",
            "The second one follows it.",
            "And a third to end with.",
        ]
        assert server.requests[0].body["model"] == "elevenlabs/eleven_v3"


async def test_unknown_provider_and_missing_key_are_clear_errors(http: httpx.AsyncClient) -> None:
    factory = factory_for(http)
    with pytest.raises(SpeechProviderError, match="no speech provider 'nope'") as unknown:
        factory.create(SpeechSettings(provider="nope"))
    assert unknown.value.code == "unknown-provider"
    with pytest.raises(SpeechProviderError, match="set OPENAI_API_KEY") as missing:
        factory.create(SpeechSettings(provider="openai"))
    assert missing.value.code == "missing-key"


# -- http ----------------------------------------------------------------------------------------------------------


async def test_http_happy_path_streams_pcm_per_segment_with_the_documented_request(http: httpx.AsyncClient) -> None:
    async with SpeechHttpServer() as server:
        events = await speak(factory_for(http).create(http_settings(server, speed=1.25)))
    assert sentences(events) == [
        "The first sentence is here.",
        "The second one follows it.",
        "And a third to end with.",
    ]
    assert audio_levels(events)[0] == level_of("The first sentence is here.")
    levels = [level_of(s) for s in sentences(events)]
    assert sorted(set(audio_levels(events)), key=audio_levels(events).index) == levels  # in order
    audio = [e for e in events if isinstance(e, AudioEvent)]
    assert all(e.sample_rate == 24000 for e in audio)
    assert sum(len(e.pcm) for e in audio) == sum(len(s) for s in sentences(events)) * 240
    request = server.requests[0]
    assert request.path == "/v1/audio/speech"
    assert request.body == {
        "model": "tts-test",
        "input": "The first sentence is here.",
        "voice": "nova",
        "response_format": "pcm",
        "speed": 1.25,
    }
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.headers["x-request-id"].startswith("tts-")
    done = events[-1]
    assert isinstance(done, DoneEvent) and not done.stats.failed and done.stats.first_audio_s is not None


@pytest.mark.parametrize("chunked", [True, False], ids=["streamed", "buffered"])
@pytest.mark.parametrize("response_format", ["pcm", "wav"])
async def test_http_pcm_and_wav_streamed_or_buffered_give_the_same_audio(
    http: httpx.AsyncClient, response_format: str, chunked: bool
) -> None:
    async with SpeechHttpServer(lambda _r: HttpReply(chunked=chunked)) as server:
        settings = http_settings(server, response_format=response_format)
        events = await speak(factory_for(http).create(settings), "Just one sentence here.", tokens=False)
    audio = np.concatenate([e.pcm for e in events if isinstance(e, AudioEvent)])
    assert len(audio) == len("Just one sentence here.") * 240
    assert set(audio.tolist()) == {level_of("Just one sentence here.")}


async def test_http_synthesis_runs_two_ahead_yet_plays_in_order(http: httpx.AsyncClient) -> None:
    def slow_first(request: SeenRequest) -> HttpReply:
        return HttpReply(delay_s=0.4 if request.body["input"].startswith("The first") else 0.0)

    async with SpeechHttpServer(slow_first) as server:
        factory = factory_for(http)
        heard: list[ScheduledAudio] = []
        speaker = Speaker(
            NullSink(48000), lambda: factory.create(http_settings(server)), SpeakerHooks(on_audio=heard.append)
        )
        turn = await speaker.begin_turn()
        await turn.append_text(REPLY)
        await turn.finish()
        await turn.wait()
    assert server.max_in_flight == 2  # the second request ran while the first was slow
    order = [int(s.event.pcm[0]) for s in heard]
    expected = [
        level_of(s) for s in ["The first sentence is here.", "The second one follows it.", "And a third to end with."]
    ]
    assert sorted(set(order), key=order.index) == expected
    assert order == sorted(order, key=expected.index)  # never interleaved


async def test_http_4xx_is_not_retried_and_shows_the_reason_never_the_key(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = b'{"error": {"message": "Incorrect API key provided: ' + SECRET.encode() + b'. Check your account."}}'
    caplog.set_level(logging.INFO, logger="app.speech")
    async with SpeechHttpServer(lambda _r: HttpReply(401, body, content_type="application/json")) as server:
        events = await speak(factory_for(http).create(http_settings(server)))
    assert [r.attempt for r in server.requests] == [1] * len(server.requests)  # the next segment may have started
    [error] = errors(events)
    assert error.code == "http-401" and not error.retriable
    assert "Incorrect API key provided" in error.message and SECRET not in error.message
    request_ids = {r.headers["x-request-id"] for r in server.requests}
    assert server.requests[0].headers["x-request-id"] in error.message
    assert SECRET not in caplog.text
    http_lines = [r.getMessage() for r in caplog.records if r.name == "app.speech.http"]
    assert http_lines and all(any(f"[{rid}]" in line for rid in request_ids) for line in http_lines)
    assert isinstance(events[-1], DoneEvent) and events[-1].stats.failed


async def test_http_5xx_is_retried_once_after_a_backoff(http: httpx.AsyncClient) -> None:
    def fail_first(request: SeenRequest) -> HttpReply:
        return HttpReply(503, b"overloaded") if request.attempt == 1 else HttpReply()

    async with SpeechHttpServer(fail_first) as server:
        started = time.monotonic()
        events = await speak(factory_for(http).create(http_settings(server)), "A single sentence to say.", tokens=False)
        elapsed = time.monotonic() - started
    assert [r.attempt for r in server.requests] == [1, 2]
    assert server.requests[0].headers["x-request-id"] == server.requests[1].headers["x-request-id"]
    assert not errors(events) and audio_levels(events)[0] == level_of("A single sentence to say.")
    assert elapsed >= 0.2


async def test_http_5xx_twice_is_reported_as_retriable(http: httpx.AsyncClient) -> None:
    async with SpeechHttpServer(lambda _r: HttpReply(500, b'{"errors": [{"detail": "backend exploded"}]}')) as server:
        events = await speak(factory_for(http).create(http_settings(server)), "A single sentence to say.", tokens=False)
    assert len(server.requests) == 2
    [error] = errors(events)
    assert error.code == "http-500" and error.retriable and "backend exploded" in error.message


async def test_http_timeout_per_attempt(http: httpx.AsyncClient) -> None:
    async with SpeechHttpServer(lambda _r: HttpReply(delay_s=30)) as server:
        started = time.monotonic()
        events = await speak(
            factory_for(http).create(http_settings(server, timeout_s=0.3)), "A single sentence to say.", tokens=False
        )
        elapsed = time.monotonic() - started
    [error] = errors(events)
    assert error.code == "timeout" and error.retriable
    assert len(server.requests) == 2 and 0.8 <= elapsed < 3.0  # two attempts of 0.3 s and a 0.2 s backoff


async def test_http_truncated_body_keeps_the_audio_and_reports_without_retry(http: httpx.AsyncClient) -> None:
    text = "A sentence long enough to be cut in the middle."
    async with SpeechHttpServer(lambda _r: HttpReply(chunked=False, truncate_at=len(text) * 240)) as server:
        events = await speak(factory_for(http).create(http_settings(server)), text, tokens=False)
    delivered = sum(len(e.pcm) for e in events if isinstance(e, AudioEvent))
    assert 0 < delivered <= len(text) * 120
    [error] = errors(events)
    assert error.code == "network" and "after part of the audio" in error.message
    assert len(server.requests) == 1  # what was played stays played; no repeat


async def test_http_cancel_mid_stream_closes_the_request(http: httpx.AsyncClient) -> None:
    async with SpeechHttpServer(lambda _r: HttpReply(piece_delay_s=0.1)) as server:
        session = factory_for(http).create(http_settings(server))
        await session.append_text("A sentence that takes the server a long time to stream out completely.")
        await session.finish()
        events: list[SessionEvent] = []
        async for event in session.events():
            events.append(event)
            if isinstance(event, AudioEvent):
                await session.cancel("user")
        assert isinstance(events[-1], DoneEvent) and events[-1].stats.cancelled
        await until(lambda: server.in_flight == 0, 2.0, "the server to see the request closed")


# -- bidirectional-ws ----------------------------------------------------------------------------------------------


def ws_settings(server: StreamingServer, **changes: object) -> SpeechSettings:
    base = {
        "provider": "unspeech-stream",
        "base_url": server.url,
        "model": "volcengine/seed-tts-2.0",
        "voice": "zh_female",
        "api_key_env": "TEST_TTS_KEY",
        "timeout_s": 2.0,
    }
    return SpeechSettings(**{**base, **changes})  # type: ignore[arg-type]


async def test_ws_happy_path_sends_raw_tokens_and_reports_the_servers_sentences(http: httpx.AsyncClient) -> None:
    async with StreamingServer() as server:
        events = await speak(factory_for(http).create(ws_settings(server)))
    assert server.received[0] == {
        "event": "start",
        "model": "volcengine/seed-tts-2.0",
        "voice": "zh_female",
        "response_format": "pcm",
        "extra_body": {"audio": {"sample_rate": 24000}, "speed": 1.0},
    }
    texts = [f["text"] for f in server.received if f["event"] == "text"]
    assert texts == [word + " " for word in REPLY.split(" ")]  # unsegmented: the server splits
    assert server.received[-1] == {"event": "finish"}
    assert server.headers[0]["Authorization"] == f"Bearer {SECRET}"
    assert sentences(events) == [
        "The first sentence is here.",
        "The second one follows it.",
        "And a third to end with.",
    ]
    assert [e.index for e in events if isinstance(e, AudioEvent)] == [0, 0, 1, 1, 2, 2]
    assert audio_levels(events)[::2] == [level_of(s) for s in sentences(events)]
    assert isinstance(events[-1], DoneEvent) and not events[-1].stats.failed


async def test_ws_buffered_session_gives_one_sentence_with_all_audio(http: httpx.AsyncClient) -> None:
    async with StreamingServer(StreamingBehaviour("buffered")) as server:
        events = await speak(factory_for(http).create(ws_settings(server)))
    assert len(sentences(events)) == 1
    assert sum(len(e.pcm) for e in events if isinstance(e, AudioEvent)) == len(sentences(events)[0]) * 240
    assert not errors(events)


@pytest.mark.parametrize(
    ("mode", "code", "retriable"),
    [("error", "upstream_error", False), ("close-early", "streaming_tts_closed", True)],
)
async def test_ws_upstream_error_and_close_without_finished_are_errors_after_the_audio(
    http: httpx.AsyncClient, mode: str, code: str, retriable: bool
) -> None:
    async with StreamingServer(StreamingBehaviour(mode)) as server:
        events = await speak(factory_for(http).create(ws_settings(server)))
    assert audio_levels(events)[0] == level_of("The first sentence is here.")  # what came is kept
    [error] = errors(events)
    assert error.code == code and error.retriable is retriable
    assert isinstance(events[-1], DoneEvent) and events[-1].stats.failed


async def test_ws_silence_after_finish_times_out(http: httpx.AsyncClient) -> None:
    async with StreamingServer(StreamingBehaviour("silent")) as server:
        events = await speak(factory_for(http).create(ws_settings(server, timeout_s=0.3)), "No period at all")
    [error] = errors(events)
    assert error.code == "timeout"


async def test_ws_cancel_sends_cancel_and_ends_at_once(http: httpx.AsyncClient) -> None:
    async with StreamingServer() as server:
        session = factory_for(http).create(ws_settings(server))
        await session.append_text("The first sentence is here. And more text that never ends")
        events: list[SessionEvent] = []
        async for event in session.events():
            events.append(event)
            if isinstance(event, AudioEvent):
                await session.cancel("user")
        assert isinstance(events[-1], DoneEvent) and events[-1].stats.cancelled
        assert {"event": "cancel"} in server.received


@pytest.mark.parametrize(("mode", "code", "handshakes"), [("refuse-401", "http-401", 1), ("refuse-503", "http-503", 2)])
async def test_ws_refused_handshake_4xx_is_final_5xx_retried_once(
    http: httpx.AsyncClient, mode: str, code: str, handshakes: int
) -> None:
    async with StreamingServer(StreamingBehaviour(mode)) as server:
        events = await speak(factory_for(http).create(ws_settings(server)))
        assert server.handshakes == handshakes
    [error] = errors(events)
    assert error.code == code and error.retriable is (handshakes == 2) and SECRET not in error.message


async def test_bounds_below_one_are_clear_errors_not_hangs(http: httpx.AsyncClient) -> None:
    factory = factory_for(http)
    for bad in ({"concurrency": 0}, {"max_pending_segments": 0}, {"concurrency": -2}):
        with pytest.raises(SpeechProviderError) as refused:
            factory.create(SpeechSettings(provider="espeak", **bad))  # type: ignore[arg-type]
        assert refused.value.code == "invalid-settings"
        assert f"{next(iter(bad))} must be a whole number of at least 1" in refused.value.message
    with pytest.raises(ValueError, match="event_buffer"):
        SessionOptions(event_buffer=0)


async def test_ws_append_text_waits_when_the_outbox_is_full_and_cancel_frees_it() -> None:
    # a server that accepts TCP but never answers the handshake: nothing leaves the outbox meanwhile
    silent = await asyncio.start_server(lambda _reader, _writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        settings = SpeechSettings(
            provider="unspeech-stream", base_url=f"ws://127.0.0.1:{port}/", model="m", voice="v", timeout_s=30
        )
        session = WsSpeechSession(settings, None)

        async def feed() -> None:
            for _ in range(10 * OUTBOX_FRAMES):
                await session.append_text("token ")

        feeding = asyncio.create_task(feed())
        await asyncio.sleep(0.3)
        assert not feeding.done()  # backpressure: append_text waits for room
        assert session._outbox.qsize() == OUTBOX_FRAMES
        await asyncio.wait_for(session.cancel("test over"), 2)
        await asyncio.wait_for(feeding, 2)  # the waiting writer was let go; later tokens are dropped at once
        assert session._outbox.qsize() <= OUTBOX_FRAMES
    finally:
        silent.close()
        await silent.wait_closed()


async def test_keys_in_urls_and_headers_never_reach_logs_or_errors(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # websockets logs every handshake header at DEBUG, httpx every URL at INFO
    hidden = ["PASSWORD-SECRET", "QUERY-SECRET", SECRET]
    closed = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = closed.sockets[0].getsockname()[1]
    closed.close()
    await closed.wait_closed()
    async with StreamingServer() as server:
        url = server.url.replace("ws://", "ws://user:PASSWORD-SECRET@") + "?api_key=QUERY-SECRET&lang=en"
        events = await speak(factory_for(http).create(ws_settings(server, base_url=url)))
        assert isinstance(events[-1], DoneEvent) and not events[-1].stats.failed
        unreachable_ws = ws_settings(server, base_url=f"ws://127.0.0.1:{port}/s?access_token=QUERY-SECRET")
    async with StreamingServer(StreamingBehaviour("refuse-401")) as server:
        events = await speak(factory_for(http).create(ws_settings(server, base_url=server.url + "?token=QUERY-SECRET")))
    async with SpeechHttpServer() as speech:
        base = speech.base_url.replace("http://", "http://user:PASSWORD-SECRET@")
        events += await speak(factory_for(http).create(http_settings(speech, base_url=base)))
        unreachable_http = http_settings(speech, base_url=f"http://user:PASSWORD-SECRET@127.0.0.1:{port}/v1")
    events += await speak(factory_for(http).create(unreachable_http))
    events += await speak(factory_for(http).create(unreachable_ws))
    messages = [e.message for e in errors(events)]
    assert any("http-401" in e.code for e in errors(events)) and any(e.code == "network" for e in errors(events))
    ours = "\n".join(  # the test servers' own logs are not the app's
        f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records if not r.name.startswith("websockets.server")
    )
    assert "> Authorization: ***" in ours and "GET /v1/audio/speech/stream?api_key=***&lang=en" in ours
    for secret in [*hidden, "dXNlcjpQQVNTV09SRC1TRUNSRVQ"]:  # the last: user:PASSWORD-SECRET as Basic auth
        assert secret not in ours
        assert not [message for message in messages if secret in message]


async def test_http_malformed_wav_is_reported_once_and_not_retried(http: httpx.AsyncClient) -> None:
    script = lambda _request: HttpReply(body=b"<html>gateway says hello</html>", content_type="audio/wav")  # noqa: E731
    async with SpeechHttpServer(script) as server:
        session = factory_for(http).create(http_settings(server, response_format="wav"))
        events = await speak(session, "One sentence only.", tokens=False)
    assert [(e.code, e.retriable) for e in errors(events)] == [("bad-audio", False)]
    assert "not RIFF/WAVE" in errors(events)[0].message
    assert len(server.requests) == 1


class MemoryKeyring(keyring.backend.KeyringBackend):
    """An OS keyring behind keyring's real backend interface (no Secret Service on this machine); notes each lookup
    and whether it ran on the event loop's thread."""

    priority = 1.0

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.passwords: dict[tuple[str, str], str] = {}
        self.lookups: list[tuple[str, str, bool]] = []

    def get_password(self, service: str, username: str) -> str | None:
        self.lookups.append((service, username, threading.current_thread() is threading.main_thread()))
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.passwords[(service, username)]


@pytest.fixture
def os_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    fake = MemoryKeyring()
    keyring.set_keyring(fake)
    yield fake
    keyring.set_keyring(previous)


async def test_a_key_in_the_os_keyring_is_looked_up_off_the_loop_only_when_needed(
    http: httpx.AsyncClient, os_keyring: MemoryKeyring
) -> None:
    keyring.set_password("stage-tamagotchi", "openai", "sk-from-the-keyring")
    factory = factory_for(http)
    await (await factory.open(SpeechSettings(provider="espeak"))).cancel()
    assert os_keyring.lookups == []  # the embedded voice takes no key
    async with SpeechHttpServer() as server:
        settings = http_settings(server, provider="openai", api_key_env="UNSET_TEST_KEY")
        with pytest.raises(SpeechProviderError, match="OS keyring"):
            factory.create(settings)  # the synchronous builder never touches the keyring
        assert os_keyring.lookups == []
        events = await speak(await factory.open(settings), "One sentence.", tokens=False)
        assert not errors(events)
        assert server.requests[0].headers["authorization"] == "Bearer sk-from-the-keyring"
        assert os_keyring.lookups == [("stage-tamagotchi", "openai", False)]  # off the event loop's thread
        await (await factory.open(http_settings(server, provider="openai"))).cancel()  # from the environment
        assert len(os_keyring.lookups) == 1


async def test_without_a_keyring_backend_keys_come_from_the_environment_and_the_log_says_so(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]  # what a Debian machine without a Secret Service has
    caplog.set_level(logging.INFO, logger="app.speech")
    try:
        with pytest.raises(SpeechProviderError) as missing:
            await factory_for(http).open(SpeechSettings(provider="openai", api_key_env="UNSET_TEST_KEY"))
        assert missing.value.code == "missing-key" and "set UNSET_TEST_KEY or store it" in missing.value.message
        assert "no OS keyring on this machine" in caplog.text
        session = await factory_for(http).open(SpeechSettings(provider="openai", api_key_env="TEST_TTS_KEY"))
        await session.cancel()
    finally:
        keyring.set_keyring(previous)
