"""Calibration through any speech provider: each calibration text is spoken in a fresh session of the current
settings, and its audio (with the phoneme marks, when the provider gives them) becomes a calibration recording."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Awaitable, Callable

import numpy as np

from app.lipsync.espeak_voice import espeak_synthesize, phones_of
from app.lipsync.profile import (
    CalibrationRecording,
    Synthesize,
    VoiceProfile,
    profile_from_take,
    record_calibration,
)
from app.speech.espeak import DEFAULT_VOICE
from app.speech.events import AudioEvent, ErrorEvent, SpeechMark, SpeechProviderError
from app.speech.factory import SessionFactory
from app.speech.providers import SpeechSettings, provider_table
from app.speech.session import SpeechSession
from app.speech.sink import LinearResampler


def voice_key(provider: str, voice: str | None) -> str:
    """The profile store's name for a provider's voice, ``provider:voice``; with no voice set, the provider's default
    voice (what it speaks with), so that the app, ``say --cues`` and ``lipsync calibrate`` name it alike."""
    if not voice:
        definition = provider_table().get(provider)
        voice = definition.defaults.voice if definition is not None else None
    return f"{provider}:{voice or 'default'}"


KOKORO_LANGUAGES = {
    "a": "en-us",
    "b": "en-gb",
    "e": "es",
    "f": "fr",
    "h": "hi",
    "i": "it",
    "j": "ja",
    "p": "pt-br",
    "z": "zh",
}
"""Kokoro's voice ids start with their language and sex (``af_heart``: American English, female; ``jf_alpha``:
Japanese); Kokoro-FastAPI, the usual OpenAI-compatible server, serves them under these ids."""
KOKORO_VOICE = re.compile(r"^([a-z])[fm]_[a-z]+$")


def calibration_language(settings: SpeechSettings, configured: str = "") -> str:
    """The language the calibration texts are in, from the best the settings tell: the language configured for it
    (the Lip sync page's, ``lipsync calibrate --language``), else the one an espeak voice names or a Kokoro voice's
    id starts with (the provider's default voice when none is set), else English."""
    if configured.strip():
        return configured.strip()
    if settings.provider == "espeak":
        return settings.voice or DEFAULT_VOICE
    definition = provider_table().get(settings.provider)
    voice = settings.voice or (definition.defaults.voice if definition is not None else None) or ""
    kokoro = KOKORO_VOICE.match(voice.lower())
    if kokoro is not None and kokoro.group(1) in KOKORO_LANGUAGES:
        return KOKORO_LANGUAGES[kokoro.group(1)]
    return "en"


def provider_synthesize(settings: SpeechSettings, factory: SessionFactory) -> Synthesize:
    """Calibration speech from the provider of ``settings``: espeak directly (with its phonemes), any other provider
    through a new session per text, as the app speaks with it (its key from the environment or the OS keyring)."""
    if settings.provider == "espeak":
        return espeak_synthesize(factory.espeak, settings.voice or DEFAULT_VOICE)
    return session_synthesize(lambda: factory.open(settings))


def session_synthesize(make_session: Callable[[], SpeechSession | Awaitable[SpeechSession]]) -> Synthesize:
    """A :data:`~app.lipsync.profile.Synthesize` for any provider; its first error is raised as
    :class:`~app.speech.events.SpeechProviderError`. ``make_session`` may be a coroutine (``SessionFactory.open``,
    which looks the key up in the OS keyring off the loop)."""

    async def synthesize(text: str) -> CalibrationRecording:
        made = make_session()
        session = await made if inspect.isawaitable(made) else made
        try:
            return await _recorded(session, text)
        except asyncio.CancelledError:  # the calibration stopped (the app quits): its requests stop with it
            await session.cancel("calibration stopped")
            raise

    return synthesize


async def _recorded(session: SpeechSession, text: str) -> CalibrationRecording:
    """``text`` spoken in ``session``: its audio at one rate, with its phonemes when the provider marks them."""
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


async def calibrate_off_loop(
    voice: str, language: str, synthesize: Synthesize, progress: Callable[[int], None] | None = None
) -> VoiceProfile:
    """:func:`~app.lipsync.profile.calibrate` with its speech on this loop (where the provider's connections live)
    and its analysis in a worker thread (the GUI stays responsive); ``progress(n)`` after the n-th recording."""
    done = 0

    async def counted(text: str) -> CalibrationRecording:
        nonlocal done
        recording = await synthesize(text)
        done += 1
        if progress is not None:
            progress(done)
        return recording

    take = await record_calibration(language, counted)
    return await asyncio.to_thread(profile_from_take, voice, take)
