"""The speech session: one reply of the companion, the same interface for every transport.

``append_text`` / ``finish`` / ``cancel`` go in; :class:`~app.speech.events.SessionEvent` s come out of
:meth:`SpeechSession.events`, ending with exactly one :class:`~app.speech.events.DoneEvent`.

:class:`SegmentedSession` serves providers that synthesise whole utterances (the embedded espeak voice, HTTP
providers): the segmenter cuts the text, up to ``concurrency`` segments are synthesised ahead, and their audio is
released strictly in order. Memory stays bounded: at most ``max_pending_segments`` cut segments wait for synthesis
(``append_text`` waits when the queue is full), at most ``concurrency`` are synthesised or held, and the event queue
to the consumer is small (the player drains it at the pace of playback).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from app.speech.events import (
    AudioEvent,
    DoneEvent,
    ErrorEvent,
    Pcm,
    SentenceEvent,
    SessionEvent,
    SessionStats,
    SpeechMark,
    SpeechProviderError,
)
from app.speech.segmenter import Segment, Segmenter, SegmenterOptions

log = logging.getLogger("app.speech.session")


@dataclass(frozen=True)
class SynthChunk:
    """Audio from a synthesizer; marks are positioned in samples from the start of its utterance."""

    pcm: Pcm
    sample_rate: int
    marks: tuple[SpeechMark, ...] = ()


class UtteranceSynthesizer(Protocol):
    """Speaks one utterance; cancelling the consuming task must stop the work (espeak aborted, request closed)."""

    def synthesize(self, text: str) -> AsyncIterator[SynthChunk]: ...


class SpeechSession(abc.ABC):
    @abc.abstractmethod
    async def append_text(self, text: str) -> None:
        """More text of the reply (a token, or all of it). Waits while the pending queue is full (backpressure)."""

    @abc.abstractmethod
    async def finish(self) -> None:
        """No more text: what is pending is spoken, then the session is done."""

    @abc.abstractmethod
    async def cancel(self, reason: str = "cancelled") -> None:
        """Stop now: upstream work cancelled, queued audio dropped; ``DoneEvent(cancelled)`` is the next event."""

    @abc.abstractmethod
    def events(self) -> AsyncIterator[SessionEvent]:
        """The session's events in order, ending with one ``DoneEvent``; one consumer only."""


@dataclass(frozen=True)
class SessionOptions:
    concurrency: int = 2
    """Segments synthesised ahead of (or held for) playback."""
    max_pending_segments: int = 16
    event_buffer: int = 1
    """Events queued for the consumer; with 1, synthesis runs at most ``concurrency`` segments ahead of playback."""
    segmenter: SegmenterOptions = field(default_factory=SegmenterOptions)


class EventChannel:
    """The bounded queue of session events. ``close`` appends the terminal ``DoneEvent`` even when full."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._events: deque[SessionEvent] = deque()
        self._changed = asyncio.Event()
        self.closed = False

    async def put(self, event: SessionEvent) -> None:
        while len(self._events) >= self._size and not self.closed:
            await self._wait()
        if not self.closed:
            self._push(event)

    def close(self, done: DoneEvent, *, drop_queued: bool) -> None:
        if self.closed:
            return
        self.closed = True
        if drop_queued:
            self._events.clear()
        self._push(done)

    async def __aiter__(self) -> AsyncIterator[SessionEvent]:
        while True:
            while not self._events:
                await self._wait()
            event = self._events.popleft()
            self._changed.set()
            yield event
            if isinstance(event, DoneEvent):
                return

    def _push(self, event: SessionEvent) -> None:
        self._events.append(event)
        self._changed.set()

    async def _wait(self) -> None:
        self._changed.clear()
        await self._changed.wait()


class StatsRecorder:
    """Time to first audio, characters and audio seconds of one session."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.first_text_at: float | None = None
        self.first_audio_at: float | None = None
        self.characters = 0
        self.audio_seconds = 0.0

    def text(self, text: str) -> None:
        if self.first_text_at is None:
            self.first_text_at = self._clock()
        self.characters += len(text)

    def audio(self, event: AudioEvent) -> None:
        if self.first_audio_at is None:
            self.first_audio_at = self._clock()
        self.audio_seconds += event.seconds

    def done(self, *, cancelled: bool = False, failed: bool = False) -> DoneEvent:
        first = None
        if self.first_audio_at is not None and self.first_text_at is not None:
            first = self.first_audio_at - self.first_text_at
        return DoneEvent(SessionStats(first, self.characters, self.audio_seconds, cancelled, failed))


_END = object()


class SegmentedSession(SpeechSession):
    def __init__(
        self,
        synthesizer: UtteranceSynthesizer,
        options: SessionOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options or SessionOptions()
        self._synthesizer = synthesizer
        self._segmenter = Segmenter(self.options.segmenter)
        self._segments: asyncio.Queue[Segment | object] = asyncio.Queue(maxsize=self.options.max_pending_segments)
        self._slots = asyncio.Semaphore(self.options.concurrency)
        self._started: asyncio.Queue[tuple[Segment, asyncio.Queue[object], asyncio.Task[None] | None] | object]
        self._started = asyncio.Queue()
        self._channel = EventChannel(self.options.event_buffer)
        self._stats = StatsRecorder(clock)
        self._input_lock = asyncio.Lock()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._finished = False
        self._cancelled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()
        self._spawn(self._start_synthesis())
        self._spawn(self._release_in_order())

    # -- interface -------------------------------------------------------------------------------------------------

    async def append_text(self, text: str) -> None:
        if self._cancelled or not text:
            return  # tokens after a cancel (an abort, a hot swap) are dropped on purpose
        if self._finished:
            raise RuntimeError("append_text after finish")
        self._stats.text(text)
        async with self._input_lock:
            segments = self._segmenter.push(text, self._loop.time())
            await self._enqueue(segments)
        self._arm_idle_flush()

    async def finish(self) -> None:
        if self._cancelled or self._finished:
            return
        self._finished = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        async with self._input_lock:
            await self._enqueue(self._segmenter.finish())
            if not self._cancelled:
                await self._segments.put(_END)

    async def cancel(self, reason: str = "cancelled") -> None:
        if self._cancelled or self._channel.closed:
            return
        self._cancelled = True
        log.info("session cancelled (%s)", reason)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        await self._stop_tasks()
        self._release_writers()
        self._channel.close(self._stats.done(cancelled=True), drop_queued=True)

    def events(self) -> AsyncIterator[SessionEvent]:
        return self._channel.__aiter__()

    # -- internals -------------------------------------------------------------------------------------------------

    def _spawn(self, job: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _stop_tasks(self) -> None:
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _release_writers(self) -> None:
        """Frees callers of append_text/finish waiting for room; they see the session ended and return."""
        while not self._segments.empty():
            self._segments.get_nowait()

    async def _enqueue(self, segments: list[Segment]) -> None:
        for segment in segments:
            if self._cancelled:
                return
            await self._segments.put(segment)

    def _arm_idle_flush(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        deadline = self._segmenter.idle_deadline()
        if deadline is not None and not self._finished:
            self._idle_timer = self._loop.call_at(deadline, lambda: self._spawn(self._flush_idle()))

    async def _flush_idle(self) -> None:
        async with self._input_lock:
            if not self._finished and not self._cancelled:
                await self._enqueue(self._segmenter.poll(self._loop.time()))

    async def _start_synthesis(self) -> None:
        """Takes segments in order and starts each one's synthesis when a slot is free."""
        while True:
            item = await self._segments.get()
            if item is _END:
                await self._started.put(_END)
                return
            assert isinstance(item, Segment)
            await self._slots.acquire()
            chunks: asyncio.Queue[object] = asyncio.Queue()
            task = self._spawn(self._synthesize(item, chunks)) if item.speech else None
            await self._started.put((item, chunks, task))

    async def _synthesize(self, segment: Segment, chunks: asyncio.Queue[object]) -> None:
        try:
            async for chunk in self._synthesizer.synthesize(segment.speech):
                chunks.put_nowait(chunk)  # bounded: one segment's audio, and at most `concurrency` segments
            chunks.put_nowait(_END)
        except SpeechProviderError as error:
            chunks.put_nowait(error)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a provider bug must end this session with an error, not hang it
            log.exception("speech provider failed on segment %d", segment.index)
            chunks.put_nowait(SpeechProviderError("provider-failed", f"{type(error).__name__}: {error}"))

    async def _release_in_order(self) -> None:
        """Emits each segment's sentence and audio strictly in order, then Done."""
        next_sample = 0
        while True:
            item = await self._started.get()
            if item is _END:
                self._channel.close(self._stats.done(), drop_queued=False)
                return
            segment, chunks, task = item  # type: ignore[misc]
            await self._channel.put(SentenceEvent(segment.index, segment.text, segment.spoken))
            while task is not None:
                chunk = await chunks.get()
                if chunk is _END:
                    break
                if isinstance(chunk, SpeechProviderError):
                    await self._fail(chunk, segment.index)
                    return
                assert isinstance(chunk, SynthChunk)
                event = AudioEvent(
                    segment.index,
                    chunk.pcm,
                    chunk.sample_rate,
                    next_sample,
                    tuple(replace(mark, sample=mark.sample + next_sample) for mark in chunk.marks),
                )
                next_sample = event.end_sample
                self._stats.audio(event)
                await self._channel.put(event)
            self._slots.release()

    async def _fail(self, error: SpeechProviderError, index: int) -> None:
        log.info("speech failed on segment %d: %s", index, error)  # the consumer reports it (ErrorEvent)
        self._cancelled = True
        await self._channel.put(ErrorEvent(error.code, error.message, error.retriable, index))
        await self._stop_tasks()
        self._release_writers()
        self._channel.close(self._stats.done(failed=True), drop_queued=False)
