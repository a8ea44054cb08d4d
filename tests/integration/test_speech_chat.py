"""The optional language model: a local server speaking OpenAI-style SSE, tokens flowing into a real espeak turn."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from app.speech.chat import ChatClient, ChatSettings, Conversation
from app.speech.espeak import EspeakEngine, EspeakSynthesizer
from app.speech.events import SpeechProviderError
from app.speech.hooks import SpeakerHooks
from app.speech.player import ScheduledAudio, Speaker
from app.speech.providers import ApiKey
from app.speech.session import SegmentedSession
from app.speech.sink import NullSink
from tests.support.speech_servers import ChatScript, SseChatServer

ANSWER = (
    "Hello there, my friend. The river is calm today, and the birds are singing in the old oak trees by the bridge."
)


def tokens(text: str) -> list[str]:
    return re.findall(r"\s*\S{1,5}", text)


@pytest.fixture(scope="module")
def engine() -> Iterator[EspeakEngine]:
    engine = EspeakEngine()
    yield engine
    engine.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def conversation(
    server: SseChatServer,
    http: httpx.AsyncClient,
    engine: EspeakEngine,
    hooks: SpeakerHooks | None = None,
    rate: int = 450,  # fast speech keeps the tests short
) -> Conversation:
    chat = ChatClient(http, ChatSettings(server.base_url, "local-model", timeout_s=5), ApiKey("sk-chat-secret"))
    speaker = Speaker(NullSink(22050), lambda: SegmentedSession(EspeakSynthesizer(engine, rate=rate)), hooks)
    return Conversation(chat, speaker)


async def test_tokens_are_spoken_while_the_reply_still_streams(http: httpx.AsyncClient, engine: EspeakEngine) -> None:
    first_audio: list[float] = []

    def on_audio(_scheduled: ScheduledAudio) -> None:
        if not first_audio:
            first_audio.append(asyncio.get_running_loop().time())

    async with SseChatServer(ChatScript(tokens(ANSWER))) as server:
        talk = conversation(server, http, engine, SpeakerHooks(on_audio=on_audio))
        outcome = await talk.reply("How is the weather?")
    assert server.last_token_sent_at is not None and first_audio[0] < server.last_token_sent_at
    assert outcome.received == ANSWER and outcome.spoken == ANSWER and not outcome.interrupted
    request = server.requests[0]
    assert request["model"] == "local-model" and request["stream"] is True
    assert request["messages"][0]["role"] == "system"
    assert request["messages"][1] == {"role": "user", "content": "How is the weather?"}
    assert [(m.role, m.content, m.interrupted) for m in talk.history] == [
        ("user", "How is the weather?", False),
        ("assistant", ANSWER, False),
    ]


async def test_a_dropped_stream_keeps_what_was_spoken_marked_interrupted(
    http: httpx.AsyncClient, engine: EspeakEngine
) -> None:
    pieces = tokens(ANSWER)
    async with SseChatServer(ChatScript(pieces, interval_s=0.01, mode="drop", drop_after=12)) as server:
        talk = conversation(server, http, engine)
        outcome = await talk.reply("How is the weather?")
        assert outcome.error is not None and outcome.error.code == "stream-dropped"
        received = "".join(pieces[:12])
        assert outcome.received == received and outcome.interrupted
        assert outcome.spoken == " ".join(received.split())  # what arrived was still said, then the turn ended
        assert talk.history[-1].interrupted and talk.history[-1].content == outcome.spoken
        server.script = ChatScript(tokens("Sorry about that."))
        await talk.reply("Go on.")
        assert server.requests[1]["messages"][2] == {"role": "assistant", "content": outcome.spoken + " [interrupted]"}


async def test_a_stream_without_done_is_a_dropped_stream(http: httpx.AsyncClient, engine: EspeakEngine) -> None:
    async with SseChatServer(ChatScript(tokens("Just this."), mode="no-done")) as server:
        outcome = await conversation(server, http, engine).reply("Hi")
    assert outcome.error is not None and outcome.error.code == "stream-dropped"


async def test_the_user_interrupting_keeps_only_the_words_heard(http: httpx.AsyncClient, engine: EspeakEngine) -> None:
    async with SseChatServer(ChatScript(tokens(ANSWER), interval_s=0.005)) as server:
        talk = conversation(server, http, engine, rate=175)
        replying = asyncio.create_task(talk.reply("Tell me about the river."))
        await asyncio.sleep(1.2)  # "Hello there, my friend." is about 1.5 s long
        await talk.interrupt()
        outcome = await replying
    assert outcome.interrupted and outcome.received == ANSWER
    assert outcome.spoken and ANSWER.startswith(outcome.spoken)
    assert len(outcome.spoken) < len("Hello there, my friend. The river")
    assert re.fullmatch(r"[\w ,.]*\w[,.]?", outcome.spoken)  # ends at a word
    assert talk.history[-1].content == outcome.spoken and talk.history[-1].interrupted


async def test_a_refusal_is_reported_with_its_reason_and_nothing_is_spoken(
    http: httpx.AsyncClient, engine: EspeakEngine
) -> None:
    async with SseChatServer(ChatScript([], mode="refuse")) as server:
        talk = conversation(server, http, engine)
        outcome = await talk.reply("Hi")
    assert outcome.error is not None and outcome.error.code == "http-401"
    assert "Invalid API key" in outcome.error.message and "sk-chat-secret" not in outcome.error.message
    assert outcome.spoken == ""
    assert [m.role for m in talk.history] == ["user"]


async def test_cancelling_reply_interrupts_it_like_the_user(http: httpx.AsyncClient, engine: EspeakEngine) -> None:
    async with SseChatServer(ChatScript(tokens(ANSWER), interval_s=0.005)) as server:
        talk = conversation(server, http, engine, rate=175)
        replying = asyncio.create_task(talk.reply("Tell me about the river."))
        await asyncio.sleep(1.0)
        replying.cancel()
        with pytest.raises(asyncio.CancelledError):
            await replying
        # the reply's own work stopped with it: silence, no turn left, and the history keeps what was heard
        assert talk.speaker.current is None
        sink = talk.speaker.sink
        heard = sink.position()
        await asyncio.sleep(0.3)
        assert sink.position() == heard == sink.written()
        assert [m.role for m in talk.history] == ["user", "assistant"] and talk.history[-1].interrupted
        await talk.interrupt()  # nothing left to interrupt: harmless


async def test_a_voice_that_cannot_start_is_an_error_and_leaves_the_history_alone(http: httpx.AsyncClient) -> None:
    def no_voice() -> SegmentedSession:
        raise SpeechProviderError("missing-key", "OpenAI speech needs an API key: set OPENAI_API_KEY")

    async with SseChatServer(ChatScript(tokens("Hello."))) as server:
        chat = ChatClient(http, ChatSettings(server.base_url, "local-model", timeout_s=5), None)
        talk = Conversation(chat, Speaker(NullSink(22050), no_voice))
        outcome = await talk.reply("Hi")
    assert outcome.error is not None and outcome.error.code == "missing-key"
    assert "needs an API key" in outcome.error.message
    assert talk.history == [] and server.requests == []  # nothing asked, no dangling question


async def test_the_history_is_bounded_by_turns_and_characters_and_keeps_the_system_prompt(
    http: httpx.AsyncClient, engine: EspeakEngine
) -> None:
    async with SseChatServer(ChatScript(tokens("Fine."))) as server:
        settings = ChatSettings(server.base_url, "local-model", timeout_s=5, history_turns=2, history_chars=60)
        chat = ChatClient(http, settings, None)
        talk = Conversation(chat, Speaker(NullSink(22050), lambda: SegmentedSession(EspeakSynthesizer(engine))))
        for question in ("One?", "Two?", "Three?"):
            await talk.reply(question)
        assert [m.content for m in talk.history] == ["Two?", "Fine.", "Three?", "Fine."]  # two exchanges
        await talk.reply("A long question that alone takes most of the sixty characters?")
        assert [m.role for m in talk.history] == ["user", "assistant"]  # the characters bound, whole exchanges
        sent = server.requests[-1]["messages"]
        assert sent[0] == {"role": "system", "content": settings.system_prompt}
        assert sent[-1]["content"].startswith("A long question")
