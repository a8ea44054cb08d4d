"""The live envelope log: every frame between the app and the stage with its time, direction, type, size and, for
replies, the round-trip time since the request it answers."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Direction = Literal["in", "out"]
PREVIEW_CHARS = 4000


@dataclass(frozen=True)
class LoggedFrame:
    at: float
    """Wall-clock time (``time.time()``) when the frame was seen."""
    direction: Direction
    type: str
    id: str | None
    re: str | None
    size: int
    rtt_ms: float | None
    """For a reply: milliseconds since its request went the other way."""
    text: str


class EnvelopeLog:
    def __init__(self, limit: int = 1000, clock: Callable[[], float] = time.time) -> None:
        self.entries: deque[LoggedFrame] = deque(maxlen=limit)
        self._clock = clock
        self._requests: dict[tuple[Direction, str], float] = {}
        self._listeners: list[Callable[[LoggedFrame], None]] = []

    def subscribe(self, listener: Callable[[LoggedFrame], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def add(self, direction: Direction, frame: str | bytes) -> LoggedFrame:
        now = self._clock()
        raw = frame if isinstance(frame, bytes) else frame.encode("utf-8", "replace")
        text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
        type_, id_, re_ = "(not an envelope)", None, None
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            type_ = str(data.get("type", "(no type)"))
            id_ = data["id"] if isinstance(data.get("id"), str) else None
            re_ = data["re"] if isinstance(data.get("re"), str) else None
        rtt = None
        if id_ is not None:
            self._requests[(direction, id_)] = now
            if len(self._requests) > 4 * (self.entries.maxlen or 1000):  # requests that never got a reply
                self._requests.pop(next(iter(self._requests)))
        if re_ is not None:
            asked = self._requests.pop(("out" if direction == "in" else "in", re_), None)
            rtt = None if asked is None else (now - asked) * 1000
        entry = LoggedFrame(now, direction, type_, id_, re_, len(raw), rtt, text[:PREVIEW_CHARS])
        self.entries.append(entry)
        for listener in list(self._listeners):
            listener(entry)
        return entry

    def observe(self, direction: Direction, frame: str | bytes) -> None:
        """The bridge's frame observer."""
        self.add(direction, frame)

    def types(self) -> list[str]:
        return sorted({entry.type for entry in self.entries})

    def matching(self, type_filter: str) -> list[LoggedFrame]:
        """Entries whose type contains ``type_filter`` (all when it is empty)."""
        wanted = type_filter.strip().lower()
        return [entry for entry in self.entries if wanted in entry.type.lower()]
