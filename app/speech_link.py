"""What the tamagotchi window needs from speech: say a text, stop, and hear which sentence is playing.

The window talks only to a :class:`SpeechLink`. :class:`SpeakerLink` connects it to the app's speech service: a
sentence is announced when its first sample is heard (the sink's clock), not when it is synthesized, so the bubble
follows the voice. :class:`NoSpeech` stands in where speech cannot start, and says why nothing is heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from app.speech.chat import Conversation
    from app.speech.events import ErrorEvent, SentenceEvent, SessionStats
    from app.speech.hooks import SpeakerHooks
    from app.speech.player import ScheduledAudio
    from app.speech.service import SpeechService

log = logging.getLogger("app.speech_link")

SpeechEventKind = Literal["sentence", "idle", "error"]


@dataclass(frozen=True)
class SpeechEvent:
    kind: SpeechEventKind
    """``sentence``: ``text`` starts playing now; ``idle``: nothing is playing; ``error``: ``text`` says why."""
    text: str = ""


SpeechListener = Callable[[SpeechEvent], None]


class SpeechLink(Protocol):
    def say(self, text: str) -> None: ...

    def stop(self) -> None: ...

    def subscribe(self, listener: SpeechListener) -> Callable[[], None]: ...


class SpeechEvents:
    """The listener list every link shares."""

    def __init__(self) -> None:
        self._listeners: list[SpeechListener] = []

    def subscribe(self, listener: SpeechListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def emit(self, event: SpeechEvent) -> None:
        for listener in list(self._listeners):
            listener(event)


class NoSpeech(SpeechEvents):
    """No speech service: the text is shown as the bubble and an error says nothing will be heard."""

    REASON = "Speech is not set up in this build, so nothing is heard."

    def __init__(self, reason: str = REASON) -> None:
        super().__init__()
        self.reason = reason

    def say(self, text: str) -> None:
        if text.strip():
            self.emit(SpeechEvent("sentence", text.strip()))
            self.emit(SpeechEvent("error", self.reason))

    def stop(self) -> None:
        self.emit(SpeechEvent("idle"))


class SpeakerLink(SpeechEvents):
    """The window's link to :class:`~app.speech.service.SpeechService`, through the speaker's hooks."""

    def __init__(self, hooks: SpeakerHooks) -> None:
        super().__init__()
        self.service: SpeechService | None = None
        self.conversation: Conversation | None = None
        """Set when a language model is configured: what is typed is asked, and the answer spoken."""
        self.unavailable = "Speech is still starting; try again in a moment."
        """What the bubble says when there is no service to speak with."""
        self._sentences: dict[tuple[int, int], str] = {}
        self._announced: set[tuple[int, int]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        hooks.on_sentence = self._sentence
        hooks.on_audio = self._audio
        hooks.on_error = self._error
        hooks.on_done = self._done
        hooks.on_mouth_close = self._mouth_closed

    def attach(self, service: SpeechService) -> None:
        self.service = service

    def say(self, text: str) -> None:
        if not text.strip():
            return
        if self.service is None:
            self.emit(SpeechEvent("error", self.unavailable))
            return
        self._run(self._say(self.service, text.strip()))

    def stop(self) -> None:
        if self.conversation is not None:
            self._run(self.conversation.interrupt())  # the history keeps what was heard, marked interrupted
        elif self.service is not None:
            self._run(self.service.stop())

    async def _say(self, service: SpeechService, text: str) -> None:
        try:
            if self.conversation is not None:
                outcome = await self.conversation.reply(text)  # the language model's reply, spoken as it streams
                if outcome.error is not None:
                    self.emit(SpeechEvent("error", f"The language model did not answer: {outcome.error.message}"))
                return
            await service.say(text)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a provider that fails: say so in the bubble, keep the app running
            log.warning("speech failed: %s", error)
            self.emit(SpeechEvent("error", f"Speech failed: {getattr(error, 'message', None) or error}"))

    def _sentence(self, turn: int, event: SentenceEvent) -> None:
        self._sentences[(turn, event.index)] = event.text

    def _audio(self, scheduled: ScheduledAudio) -> None:
        key = (scheduled.turn, scheduled.event.index)
        if key in self._announced or self.service is None:
            return
        self._announced.add(key)
        self._run(self._announce_when_heard(self.service, key, scheduled.sink_start))

    async def _announce_when_heard(self, service: SpeechService, key: tuple[int, int], sample: int) -> None:
        await service.speaker.sink.wait_position(sample)
        current = service.speaker.current
        if current is not None and current.number == key[0] and key in self._sentences:
            self.emit(SpeechEvent("sentence", self._sentences[key]))

    def _error(self, turn: int, event: ErrorEvent) -> None:
        self.emit(SpeechEvent("error", event.message))

    def _done(self, turn: int, stats: SessionStats) -> None:
        self._forget(turn)

    def _mouth_closed(self, turn: int) -> None:
        self._forget(turn)
        self.emit(SpeechEvent("idle"))

    def _forget(self, turn: int) -> None:
        for key in [k for k in self._sentences if k[0] <= turn]:
            del self._sentences[key]
        self._announced = {k for k in self._announced if k[0] > turn}

    def _run(self, job: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
