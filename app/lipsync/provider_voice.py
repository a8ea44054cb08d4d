"""Calibration through any speech provider: each calibration text is spoken in a fresh session of the current
settings, and its audio (with the phoneme marks, when the provider gives them) becomes a calibration recording."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

import numpy as np

from app.lipsync.espeak_voice import phones_of
from app.lipsync.profile import CalibrationRecording, Synthesize, VoiceProfile, calibrate
from app.speech.events import AudioEvent, ErrorEvent, SpeechMark, SpeechProviderError
from app.speech.session import SpeechSession
from app.speech.sink import LinearResampler


def session_synthesize(make_session: Callable[[], SpeechSession | Awaitable[SpeechSession]]) -> Synthesize:
    """A :data:`~app.lipsync.profile.Synthesize` for any provider; its first error is raised as
    :class:`~app.speech.events.SpeechProviderError`. ``make_session`` may be a coroutine (``SessionFactory.open``,
    which looks the key up in the OS keyring off the loop)."""

    async def synthesize(text: str) -> CalibrationRecording:
        made = make_session()
        session = await made if inspect.isawaitable(made) else made
        await session.append_text(text)
        await session.finish()
        pieces: list[np.ndarray] = []
        marks: list[SpeechMark] = []
        rate = 0
        resampler: LinearResampler | None = None
        error: ErrorEvent | None = None
        async for event in session.events():
            if isinstance(event, AudioEvent):
                if not rate:
                    rate = event.sample_rate
                if event.sample_rate != rate:  # keep one rate; marks of a resampled chunk would be approximate
                    resampler = resampler or LinearResampler(event.sample_rate, rate)
                    pieces.append(resampler.process(event.pcm))
                    continue
                offset = sum(len(piece) for piece in pieces) - event.start_sample
                marks.extend(SpeechMark(m.kind, m.sample + offset, name=m.name) for m in event.marks)
                pieces.append(event.pcm)
            elif isinstance(event, ErrorEvent) and error is None:
                error = event
        if error is not None:
            raise SpeechProviderError(error.code, error.message, retriable=error.retriable)
        if not pieces:
            raise SpeechProviderError("no-audio", f"the provider returned no audio for {text!r}")
        pcm = np.concatenate(pieces).astype(np.int16)
        return CalibrationRecording(pcm, rate, phones_of(marks, rate, len(pcm)))

    return synthesize


async def calibrate_off_loop(
    voice: str, language: str, synthesize: Synthesize, progress: Callable[[int], None] | None = None
) -> VoiceProfile:
    """:func:`~app.lipsync.profile.calibrate` with its analysis in a worker thread (the GUI stays responsive) and
    its speech on this loop (where the provider's connections live); ``progress(n)`` after the n-th recording."""
    loop = asyncio.get_running_loop()
    done = 0

    async def on_this_loop(text: str) -> CalibrationRecording:
        nonlocal done

        async def speak() -> CalibrationRecording:
            return await synthesize(text)

        recording = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(speak(), loop))
        done += 1
        if progress is not None:
            loop.call_soon_threadsafe(progress, done)
        return recording

    worker: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[VoiceProfile]]] = []

    async def in_worker() -> VoiceProfile:
        task = asyncio.ensure_future(calibrate(voice, language, on_this_loop))
        worker.append((asyncio.get_running_loop(), task))
        return await task

    job = asyncio.ensure_future(asyncio.to_thread(asyncio.run, in_worker()))
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:  # the worker thread must end too, or it would keep the process alive
        for worker_loop, task in worker:
            worker_loop.call_soon_threadsafe(task.cancel)
        await asyncio.gather(job, return_exceptions=True)
        raise
