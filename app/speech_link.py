"""What the tamagotchi window needs from speech: say a text, stop, and hear which sentence is playing.

The window talks only to a :class:`SpeechLink`; the composition root connects it to the app's speech service.
:class:`NoSpeech` stands in until one is wired: it shows what would be said and says plainly why nothing is heard.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

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

    def say(self, text: str) -> None:
        if text.strip():
            self.emit(SpeechEvent("sentence", text.strip()))
            self.emit(SpeechEvent("error", self.REASON))

    def stop(self) -> None:
        self.emit(SpeechEvent("idle"))
