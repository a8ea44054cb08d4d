"""Calibration through any speech provider: each calibration text is spoken in a fresh session of the current
settings, and its audio (with the phoneme marks, when the provider gives them) becomes a calibration recording."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

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


def voice_key(provider: str, voice: str | None, model: str | None = None, base_url: str | None = None) -> str:
    """The profile store's name for what a voice sounds like: ``provider:voice``, then in brackets the model (what
    changes the sound of one voice name: OpenAI's ``alloy`` of tts-1 and of gpt-4o-mini-tts) and the server's host,
    when it is not the provider's default (two Kokoro servers, an OpenAI-compatible proxy):
    ``espeak:en-us``, ``openai:alloy (gpt-4o-mini-tts)``, ``openai-compatible:af_heart (kokoro, 10.0.0.5:8880)``.
    Unset parts are the provider's defaults (what it speaks with), so that the app, ``say --cues``, ``lipsync
    calibrate`` and the automatic calibration name a voice alike. A profile stored under the old ``provider:voice``
    name is taken over by the first of its models to be looked up (:meth:`~app.lipsync.profile.ProfileStore.load`)."""
    definition = provider_table().get(provider)
    defaults = definition.defaults if definition is not None else SpeechSettings(provider=provider)
    voice = voice or defaults.voice or "default"
    model = model or defaults.model
    server = _server(base_url)
    details = [part for part in (model, server if server != _server(defaults.base_url) else None) if part]
    return f"{provider}:{voice}" + (f" ({', '.join(details)})" if details else "")


def _server(base_url: str | None) -> str | None:
    """``host[:port]`` of a base URL, lowercased (None: no URL)."""
    if not base_url:
        return None
    parts = urlsplit(base_url.strip())
    host = (parts.hostname or parts.path.split("/")[0]).lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


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
    voice: str,
    language: str,
    synthesize: Synthesize,
    progress: Callable[[int], None] | None = None,
    *,
    marks: bool,
) -> VoiceProfile:
    """:func:`~app.lipsync.profile.calibrate` with its speech on this loop (where the provider's connections live)
    and its analysis in a worker thread (the GUI stays responsive); ``progress(n)`` after the n-th recording;
    ``marks``: the provider reports phoneme marks."""
    done = 0

    async def counted(text: str) -> CalibrationRecording:
        nonlocal done
        recording = await synthesize(text)
        done += 1
        if progress is not None:
            progress(done)
        return recording

    take = await record_calibration(language, counted, marks=marks)
    return await asyncio.to_thread(profile_from_take, voice, take)
