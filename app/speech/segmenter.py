"""Cuts streamed text into speakable segments for providers that synthesise whole utterances.

Rules (issue 4):
- hard boundaries ``. ! ?`` and their CJK forms, the ellipsis and newlines end a segment; soft boundaries ``, ; :``
  (and CJK forms) end only the first segment, so the first audio starts early;
- a segment weighs at least ``min_weight`` (CJK characters count double), unless the text went idle for
  ``idle_flush_s``: then everything up to the last boundary is spoken;
- a run without boundaries is split before ``max_weight`` at a soft boundary or a space;
- decimals (3.14, 1,000, 12:30) and common abbreviations (Mr., e.g., U.S.) never end a segment;
- emoji and markdown markup are removed from what is spoken but kept in the display text;
- ``finish`` flushes the remainder exactly once.

A full stop at the very end of the text is only taken once the next character shows it really ends a sentence
("3." may become "3.14", "Wait." may become "Wait..."), or when the text goes idle or finishes; ``! ?`` and the CJK
marks end a sentence at once.

Pure: the caller passes the time, so tests need no clock.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

HARD = frozenset(".!?。！？…⋯\n‼⁉")  # noqa: RUF001 - the CJK forms are the point
SOFT = frozenset(",;:，；：、")  # noqa: RUF001
DEFINITE = frozenset("!?。！？\n")  # noqa: RUF001
CLOSERS = frozenset("\"'”’)]}」』》）】")  # noqa: RUF001
MARKUP = frozenset("*_`#~")
ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "approx", "dept", "est", "fig", "inc", "ltd"}
    | {"co", "corp", "mt", "no", "vol", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov"}
    | {"dec"}
)
_INITIALS = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]|[A-Z]")

Reason = Literal["hard", "early", "max", "idle", "finish"]


def is_emoji(char: str) -> bool:
    code = ord(char)
    return (
        code >= 0x1F000
        or 0x2600 <= code <= 0x27BF
        or 0x2B00 <= code <= 0x2BFF
        or code in (0x200D, 0xFE0E, 0xFE0F, 0x20E3)
    )


def is_spoken(char: str) -> bool:
    """Whether a character reaches the voice: emoji and markdown markup are display only."""
    return char not in MARKUP and not is_emoji(char)


def spoken_form(text: str) -> str:
    """What of ``text`` is spoken; the segmenter's spoken segments, joined, equal this for the whole input."""
    return "".join(char for char in text if is_spoken(char))


def weight(text: str) -> int:
    """Length as the ear hears it: wide (CJK) characters count double, whitespace not at all."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text if not c.isspace())


@dataclass(frozen=True)
class Segment:
    index: int
    text: str
    """The original text, for display."""
    spoken: str
    """``text`` without emoji and markup, whitespace as it came."""
    reason: Reason

    @property
    def speech(self) -> str:
        """What a synthesizer gets: the spoken text with its whitespace collapsed."""
        return " ".join(self.spoken.split())


@dataclass(frozen=True)
class SegmenterOptions:
    min_weight: int = 12
    max_weight: int = 200
    idle_flush_s: float = 0.25


class Segmenter:
    def __init__(self, options: SegmenterOptions | None = None) -> None:
        self.options = options or SegmenterOptions()
        self._raw = ""
        self._kept: list[int] = []
        """Raw index of each spoken character in ``_raw``."""
        self._last_input_at: float | None = None
        self._next_index = 0
        self._finished = False

    @property
    def pending_text(self) -> str:
        return self._raw

    def idle_deadline(self) -> float | None:
        """When :meth:`poll` could flush by idleness (None when nothing is pending)."""
        if self._last_input_at is None or not self._raw:
            return None
        return self._last_input_at + self.options.idle_flush_s

    def push(self, text: str, now: float) -> list[Segment]:
        if self._finished:
            raise RuntimeError("the segmenter has finished")
        if not text:
            return []
        base = len(self._raw)
        self._raw += text
        self._kept.extend(base + offset for offset, char in enumerate(text) if is_spoken(char))
        self._last_input_at = now
        return self._cut(idle=False)

    def poll(self, now: float) -> list[Segment]:
        """Flush up to the last boundary when no text came for ``idle_flush_s``."""
        deadline = self.idle_deadline()
        if self._finished or deadline is None or now < deadline:
            return []
        return self._cut(idle=True)

    def finish(self) -> list[Segment]:
        """Everything still pending, exactly once; a later call returns nothing."""
        if self._finished:
            return []
        self._finished = True
        segments = self._cut(idle=True)
        if self._raw.strip():  # trailing whitespace alone is not a segment
            segments.append(self._emit(len(self._kept), "finish", whole=True))
        return segments

    # -- internals -----------------------------------------------------------------------------------------------

    def _spoken(self) -> str:
        return "".join(self._raw[i] for i in self._kept)

    def _cut(self, idle: bool) -> list[Segment]:
        segments: list[Segment] = []
        while True:
            spoken = self._spoken()
            cut = self._next_boundary(spoken, idle)
            if cut is not None and weight(spoken[: cut[0]]) <= self.options.max_weight:
                segments.append(self._emit(*cut))
            elif weight(spoken) > self.options.max_weight:
                segments.append(self._split_long(spoken))
            else:
                return segments

    def _next_boundary(self, spoken: str, idle: bool) -> tuple[int, Reason] | None:
        """The end of the next segment in ``spoken``, or None to wait for more text."""
        early = self._next_index == 0
        last_any: int | None = None
        for end, kind, confirmed in self._boundaries(spoken):
            if not confirmed and not idle:
                break
            last_any = end
            heavy = weight(spoken[:end]) >= self.options.min_weight
            if heavy and (kind == "hard" or early):
                return end, "hard" if kind == "hard" else "early"
        if idle and last_any is not None and weight(spoken[:last_any]) > 0:
            return last_any, "idle"
        return None

    def _boundaries(self, spoken: str) -> list[tuple[int, str, bool]]:
        """(end, hard|soft, confirmed) for each boundary, in order; ``end`` includes closing punctuation."""
        found: list[tuple[int, str, bool]] = []
        i = 0
        n = len(spoken)
        while i < n:
            char = spoken[i]
            if char in HARD or char in SOFT:
                if not self._is_boundary(spoken, i):
                    i += 1
                    continue
                hard = char in HARD
                end = i + 1
                while end < n and (spoken[end] in CLOSERS or (hard and spoken[end] in HARD and spoken[end] != "\n")):
                    end += 1
                # Only a full stop can still change meaning ("3." -> "3.5", "Wait." -> "Wait..."); the others end
                # a sentence at once, which saves waiting for the next token.
                found.append((end, "hard" if hard else "soft", end < n or spoken[end - 1] in DEFINITE))
                i = end
            else:
                i += 1
        return found

    @staticmethod
    def _is_boundary(spoken: str, i: int) -> bool:
        char = spoken[i]
        before = spoken[i - 1] if i > 0 else ""
        after = spoken[i + 1] if i + 1 < len(spoken) else ""
        if char in ".,:" and before.isdigit() and (after.isdigit() or not after):
            return False  # 3.14, 1,000, 12:30 (and "3." that may still become "3.5")
        if char == ".":
            start = i
            while start > 0 and not spoken[start - 1].isspace() and spoken[start - 1] not in CLOSERS:
                start -= 1
            word = spoken[start:i].lstrip("\"'“‘([{")  # noqa: RUF001
            if word.lower() in ABBREVIATIONS or _INITIALS.fullmatch(word):
                return False
        return True

    def _split_long(self, spoken: str) -> Segment:
        """Split a run without a usable boundary before ``max_weight``: at a soft boundary, else a space."""
        limit = 0
        total = 0
        for position, char in enumerate(spoken):
            total += weight(char)
            if total > self.options.max_weight:
                break
            limit = position + 1
        window = spoken[:limit]
        soft_ends = [end for end, _kind, _confirmed in self._boundaries(window) if end < limit]
        minimum = self.options.min_weight
        soft_ends = [end for end in soft_ends if weight(window[:end]) >= minimum]
        if soft_ends:
            return self._emit(soft_ends[-1], "max")
        space = max((p for p, c in enumerate(window) if c.isspace() and weight(window[:p]) >= minimum), default=-1)
        return self._emit(space if space > 0 else max(limit, 1), "max")

    def _emit(self, spoken_end: int, reason: Reason, whole: bool = False) -> Segment:
        """Cut the first ``spoken_end`` spoken characters.

        Emoji and markup straight after the cut (no space between) stay with the sentence they decorate.
        """
        raw_end = len(self._raw) if whole or spoken_end >= len(self._kept) else self._kept[spoken_end]
        raw = self._raw[:raw_end]
        segment = Segment(self._next_index, raw, spoken_form(raw), reason)
        self._next_index += 1
        self._raw = self._raw[raw_end:]
        consumed = len(segment.spoken)
        self._kept = [index - raw_end for index in self._kept[consumed:]]
        return segment
