"""The window's speech link on the real speech service (espeak on the null sink): sentences are announced as they
are heard, stop goes idle, failures reach the bubble."""

from __future__ import annotations

import itertools
import time

from app.speech.hooks import SpeakerHooks
from app.speech.providers import SpeechSettings
from app.speech.service import SpeechService
from app.speech.sink import NullSink
from app.speech_link import SpeakerLink, SpeechEvent
from tests.waiting import until


def linked(settings: SpeechSettings | None = None) -> tuple[SpeakerLink, SpeechService, NullSink]:
    hooks = SpeakerHooks()
    link = SpeakerLink(hooks)
    sink = NullSink(22050)
    service = SpeechService(sink, settings or SpeechSettings(speed=1.5), hooks)
    link.attach(service)
    return link, service, sink


async def test_each_sentence_is_announced_when_its_audio_starts_playing() -> None:
    link, service, sink = linked()
    heard: list[tuple[SpeechEvent, float, int]] = []
    link.subscribe(lambda event: heard.append((event, time.monotonic(), sink.position())))
    try:
        link.say("Hello there. I am Tama, and I live on your desktop.")
        await until(lambda: any(e.kind == "idle" for e, _t, _p in heard), 20, "the reply to end")
        sentences = [(e.text, p) for e, _t, p in heard if e.kind == "sentence"]
        # The segmenter decides where pieces end; together they are the text, in order, each announced once.
        assert len(sentences) >= 2
        assert (
            " ".join(" ".join(text.split()) for text, _p in sentences)
            == "Hello there. I am Tama, and I live on your desktop."
        )
        positions = [p for _text, p in sentences]
        assert positions[0] < 0.1 * 22050  # the first as soon as the voice starts
        assert all(later - earlier > 0.2 * 22050 for earlier, later in itertools.pairwise(positions))
        assert heard[-1][0].kind == "idle"
    finally:
        await link.aclose()
        await service.close()


async def test_stop_goes_idle_at_once_and_nothing_more_is_announced() -> None:
    link, service, _sink = linked()
    events: list[SpeechEvent] = []
    link.subscribe(events.append)
    try:
        link.say("This is a long sentence that the user will interrupt. " * 4 + "Never heard.")
        await until(lambda: any(e.kind == "sentence" for e in events), 10)
        link.stop()
        await until(lambda: events[-1].kind == "idle", 5)
        count = len(events)
        await until(lambda: True, 0.1)
        assert all(e.text != "Never heard." for e in events) and len(events) == count
    finally:
        await link.aclose()
        await service.close()


async def test_a_failing_provider_reaches_the_bubble_and_no_service_says_why() -> None:
    link, service, _sink = linked(SpeechSettings(provider="openai-compatible", base_url="http://127.0.0.1:9/v1"))
    events: list[SpeechEvent] = []
    link.subscribe(events.append)
    try:
        link.say("Hello?")
        await until(lambda: any(e.kind == "error" for e in events), 30, "an error event")
    finally:
        await link.aclose()
        await service.close()
    lonely = SpeakerLink(SpeakerHooks())
    lonely.unavailable = "Speech could not start: no voice"
    said: list[SpeechEvent] = []
    lonely.subscribe(said.append)
    lonely.say("hi")
    assert said == [SpeechEvent("error", "Speech could not start: no voice")]
