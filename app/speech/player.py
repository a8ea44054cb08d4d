"""The speaking pipeline: one session per reply, its audio played in order on a sink, abort and hot swap.

:class:`Speaker` owns the current turn. Its player task reads the session's events, resamples audio to the sink's
rate, writes it and then waits while more than ``lookahead_s`` (530 ms: the lip-sync cue scheduler's 100 ms margin and
30 ms lead leave it 400 ms of audio to analyse in one go) is queued ahead of the playback clock. That wait is
the backpressure that keeps synthesis (and an LLM feeding text) from running away from playback. When the sink has
nothing queued (a turn's start, or a provider that fell behind), the hooks' ``start_delay_s`` of silence goes first,
so that lip-sync cues computed from the first chunk reach the stage before its first sound.

Everything the stage and lip sync need is reported through :class:`SpeakerHooks`, with positions on the sink's
playback clock (:class:`ScheduledAudio`), the one time source lip sync follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from app.speech.events import (
    AudioEvent,
    DoneEvent,
    ErrorEvent,
    Pcm,
    SentenceEvent,
    SessionStats,
    SpeechMark,
)
from app.speech.hooks import SpeakerHooks
from app.speech.session import SpeechSession
from app.speech.sink import AudioSink, LinearResampler

log = logging.getLogger("app.speech.player")


@dataclass(frozen=True)
class ScheduledAudio:
    """An audio event placed on the sink, playing sink samples ``[sink_start, sink_end)``; marks in sink samples."""

    turn: int
    event: AudioEvent
    pcm: Pcm
    """The samples as written, at the sink's rate."""
    sink_start: int
    sample_rate: int
    marks: tuple[SpeechMark, ...]

    @property
    def sink_end(self) -> int:
        return self.sink_start + len(self.pcm)


@dataclass(frozen=True)
class Placement:
    index: int
    sink_start: int
    sink_end: int
    words: tuple[SpeechMark, ...]


@dataclass
class Turn:
    """One reply being spoken."""

    number: int
    session: SpeechSession
    finished: asyncio.Future[SessionStats] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    task: asyncio.Task[None] | None = None
    sentences: list[SentenceEvent] = field(default_factory=list)
    placements: list[Placement] = field(default_factory=list)
    """Where each audio event went on the sink, to tell later what was heard."""
    errors: list[ErrorEvent] = field(default_factory=list)
    """What went wrong in this turn (also reported to ``on_error``), for a caller that waits on the turn."""

    async def append_text(self, text: str) -> None:
        await self.session.append_text(text)

    async def finish(self) -> None:
        await self.session.finish()

    async def wait(self) -> SessionStats:
        """Until the last sample was heard (or the turn was aborted)."""
        return await asyncio.shield(self.finished)


SessionMaker = Callable[[], SpeechSession | Awaitable[SpeechSession]]
"""Builds the session of a new turn; may be a coroutine (a key looked up in the OS keyring off the loop)."""


class Speaker:
    def __init__(
        self,
        sink: AudioSink,
        make_session: SessionMaker,
        hooks: SpeakerHooks | None = None,
        lookahead_s: float = 0.53,
    ) -> None:
        self.sink = sink
        self._make_session = make_session
        self.hooks = hooks or SpeakerHooks()
        self.lookahead_s = lookahead_s
        self._turn: Turn | None = None
        self._turns = 0
        self._switching = asyncio.Lock()
        """Held while a turn begins: the previous one is ended before the next starts, one begin at a time."""

    @property
    def current(self) -> Turn | None:
        return self._turn

    async def begin_turn(self) -> Turn:
        """A new reply: whatever is still speaking is aborted first (a new message interrupts the old one).

        Serialized: with two overlapping calls, the second ends the first's turn before its own starts, so only one
        turn ever plays on the sink and ``abort_turn`` always reaches it."""
        async with self._switching:
            await self.abort_turn("new-turn")
            made = self._make_session()
            session = await made if inspect.isawaitable(made) else made
            self._turns += 1
            turn = Turn(self._turns, session)
            turn.task = asyncio.create_task(self._play(turn), name=f"speech-turn-{turn.number}")
            self._turn = turn
            return turn

    async def say(self, text: str) -> SessionStats:
        turn = await self.begin_turn()
        await turn.append_text(text)
        await turn.finish()
        return await turn.wait()

    async def abort_turn(self, reason: str = "abort") -> None:
        """Silence now, then cancel upstream work and drop queued audio; the mouth closes."""
        turn = self._turn
        if turn is None:
            return
        self._turn = None
        if turn.task is not None:
            turn.task.cancel()  # the player is suspended: it cannot write another sample before this lands
        self.sink.stop()
        log.info("turn %d aborted (%s)", turn.number, reason)
        self._close_mouth(turn)
        await turn.session.cancel(reason)
        if turn.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await turn.task
        if not turn.finished.done():
            turn.finished.set_result(SessionStats(None, 0, 0.0, cancelled=True))

    async def replace_session_maker(self, make_session: SessionMaker, reason: str = "settings-changed") -> None:
        """Hot swap (provider, voice, model): the current turn is cancelled cleanly; the next one uses the new maker."""
        self._make_session = make_session
        await self.abort_turn(reason)

    def spoken_text(self, turn: Turn) -> str:
        """What of the turn has been heard so far: whole sentences, and of the one playing now the words that
        started (when the voice gives word marks; otherwise the whole sentence)."""
        heard = self.sink.position() if turn.placements else 0
        spoken: list[str] = []
        for sentence in turn.sentences:
            placed = [p for p in turn.placements if p.index == sentence.index]
            if not placed or placed[0].sink_start >= heard:
                break
            text = " ".join(sentence.spoken.split())
            if placed[-1].sink_end <= heard:
                spoken.append(text)
                continue
            words = [mark for p in placed for mark in p.words if mark.sample < heard and mark.text_start >= 0]
            if words:
                text = text[: words[-1].text_start + words[-1].text_length]
            spoken.append(text)
            break
        return " ".join(spoken)

    async def close(self) -> None:
        await self.abort_turn("closing")

    async def _play(self, turn: Turn) -> None:
        resampler: LinearResampler | None = None
        lookahead = round(self.lookahead_s * self.sink.sample_rate)
        try:
            async for event in turn.session.events():
                if isinstance(event, SentenceEvent):
                    turn.sentences.append(event)
                    self._call(self.hooks.on_sentence, turn.number, event)
                elif isinstance(event, AudioEvent):
                    if resampler is None or resampler.source_rate != event.sample_rate:
                        resampler = LinearResampler(event.sample_rate, self.sink.sample_rate)
                    pcm = resampler.process(event.pcm)
                    if len(pcm) and self.sink.buffered() <= 0:
                        self._write_start_delay()
                    scheduled = self._schedule(turn, event, pcm)
                    words = tuple(mark for mark in scheduled.marks if mark.kind == "word")
                    turn.placements.append(Placement(event.index, scheduled.sink_start, scheduled.sink_end, words))
                    self._call(self.hooks.on_audio, scheduled)
                    self.sink.write(scheduled.pcm)
                    await self.sink.wait_buffered_below(lookahead)
                elif isinstance(event, ErrorEvent):
                    turn.errors.append(event)
                    self._call(self.hooks.on_error, turn.number, event)
                elif isinstance(event, DoneEvent):
                    self._call(self.hooks.on_audio_end, turn.number)
                    await self.sink.drain()
                    self._close_mouth(turn)
                    self._call(self.hooks.on_done, turn.number, event.stats)
                    if not turn.finished.done():
                        turn.finished.set_result(event.stats)
        except Exception as error:  # a failing sink or resampler ends the turn with an error, it must not hang it
            log.exception("turn %d: playback failed", turn.number)
            await self._fail(turn, ErrorEvent("playback-failed", f"{type(error).__name__}: {error}", retriable=False))
        finally:
            if self._turn is turn and turn.finished.done():
                self._turn = None

    async def _fail(self, turn: Turn, error: ErrorEvent) -> None:
        turn.errors.append(error)
        self._call(self.hooks.on_error, turn.number, error)
        self._close_mouth(turn)
        if self._turn is turn:
            self._turn = None
        with contextlib.suppress(Exception):
            self.sink.stop()  # what was queued of this turn is not played after its error
        await turn.session.cancel("playback-failed")
        if not turn.finished.done():
            turn.finished.set_result(SessionStats(None, 0, 0.0, failed=True))

    def _write_start_delay(self) -> None:
        """Silence before audio written to an idle sink: playback starts that much later (not part of any event)."""
        delay = self.hooks.start_delay_s
        if delay is None:
            return
        samples = round(max(0.0, delay()) * self.sink.sample_rate)
        if samples:
            self.sink.write(np.zeros(samples, dtype=np.int16))

    def _schedule(self, turn: Turn, event: AudioEvent, pcm: Pcm) -> ScheduledAudio:
        start = self.sink.written()
        ratio = self.sink.sample_rate / event.sample_rate
        marks = tuple(
            SpeechMark(
                m.kind, start + round((m.sample - event.start_sample) * ratio), m.text_start, m.text_length, m.name
            )
            for m in event.marks
        )
        return ScheduledAudio(turn.number, event, pcm, start, self.sink.sample_rate, marks)

    def _close_mouth(self, turn: Turn) -> None:
        self._call(self.hooks.on_mouth_close, turn.number)

    @staticmethod
    def _call(hook: Callable[..., None] | None, *args: object) -> None:
        if hook is None:
            return
        try:
            hook(*args)
        except Exception:  # an observer's bug must not stop the voice
            log.exception("speech hook %s failed", getattr(hook, "__name__", hook))
