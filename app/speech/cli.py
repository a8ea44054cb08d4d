"""``python -m app say TEXT``: speak (or write) text with the configured voice and report its timing.

Synthesis is not throttled by playback here, so the real-time factor is the provider's own: the time from the text to
the last audio, divided by the audio's duration. Audio is written to the sink as it arrives and the command returns
once it has been heard; with ``--out`` it goes to a WAV file instead.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sys
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from app.paths import resolve_user_data_dir
from app.speech.espeak import EspeakEngine
from app.speech.events import AudioEvent, DoneEvent, ErrorEvent, SentenceEvent, SpeechMark, SpeechProviderError
from app.speech.factory import SessionFactory
from app.speech.providers import BUILTIN_PROVIDERS, SpeechSettings
from app.speech.session import SpeechSession
from app.speech.sink import AudioSink, LinearResampler, open_sink


def add_say_parser(commands: Any) -> None:
    """Adds the ``say`` subcommand to ``python -m app``'s subparsers."""
    say = commands.add_parser("say", help="speak text with the configured voice and report its timing")
    say.add_argument("text", help="what to say")
    providers = [definition.id for definition in BUILTIN_PROVIDERS]
    say.add_argument("--provider", default="espeak", choices=providers, help="speech provider (default: espeak)")
    say.add_argument("--voice", help="voice name (espeak: en-us, en, de, fr, ja, cmn, ...)")
    say.add_argument("--model", help="model, for remote providers")
    say.add_argument("--base-url", help="provider URL (http: .../v1, bidirectional-ws: ws://...)")
    say.add_argument("--speed", type=float, default=1.0, help="speaking speed, 1.0 is normal")
    say.add_argument("--api-key-env", metavar="NAME", help="environment variable holding the API key")
    say.add_argument("--out", type=Path, metavar="FILE.wav", help="write the audio to a WAV file instead of playing")
    say.add_argument("--cues", type=Path, metavar="FILE.json", help="also write the lip-sync cue track of the speech")
    say.add_argument("--json", action="store_true", help="print one JSON object")
    say.add_argument("--user-data", metavar="DIR", help="the app's data folder, for the voice's lip-sync profile")


@dataclass
class SayResult:
    sentences: list[dict[str, Any]] = field(default_factory=list)
    audio: list[np.ndarray[Any, np.dtype[np.int16]]] = field(default_factory=list)
    marks: list[SpeechMark] = field(default_factory=list)
    sample_rate: int = 0
    error: ErrorEvent | None = None
    first_audio_s: float | None = None
    synthesis_s: float = 0.0

    @property
    def audio_seconds(self) -> float:
        return sum(len(chunk) for chunk in self.audio) / self.sample_rate if self.sample_rate else 0.0


async def say(text: str, settings: SpeechSettings, sink: AudioSink | None) -> SayResult:
    result = SayResult()
    engine = EspeakEngine()
    try:
        async with httpx.AsyncClient() as http:
            session = await SessionFactory(engine, http).open(settings)
            started = time.monotonic()
            # Fed while the events are consumed: append_text waits for room once a few segments are pending
            # (backpressure), so appending a long text before reading any event would never return.
            feeding = asyncio.create_task(_feed(session, text))
            try:
                await _consume(session, result, sink)
            finally:
                if not feeding.done():
                    await session.cancel("say ended")
                await asyncio.gather(feeding, return_exceptions=True)
            result.synthesis_s = time.monotonic() - started
            if sink is not None:
                await sink.drain()
    finally:
        engine.close()
    return result


async def _feed(session: SpeechSession, text: str) -> None:
    await session.append_text(text)
    await session.finish()


async def _consume(session: SpeechSession, result: SayResult, sink: AudioSink | None) -> None:
    resampler: LinearResampler | None = None
    async for event in session.events():
        if isinstance(event, SentenceEvent):
            result.sentences.append({"index": event.index, "text": event.text.strip()})
        elif isinstance(event, AudioEvent):
            result.sample_rate = event.sample_rate
            result.audio.append(event.pcm)
            result.marks.extend(event.marks)
            if sink is not None:
                resampler = resampler or LinearResampler(event.sample_rate, sink.sample_rate)
                sink.write(resampler.process(event.pcm))
        elif isinstance(event, ErrorEvent):
            result.error = event
        elif isinstance(event, DoneEvent):
            result.first_audio_s = event.stats.first_audio_s


def _write_wav(path: Path, result: SayResult) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(result.sample_rate)
        out.writeframes(np.concatenate(result.audio).astype("<i2").tobytes())


def _write_cues(path: Path, result: SayResult, settings: SpeechSettings, user_data: Path) -> str | None:
    """Writes the lip-sync cue track of what was spoken, with the voice's calibrated profile when it has one (as the
    app does); returns why it could not."""
    from app.lipsync.cli import cue_track_of, write_cue_file  # noqa: PLC0415 - only for --cues
    from app.lipsync.profile import CalibrationError, ProfileStore  # noqa: PLC0415
    from app.lipsync.provider_voice import voice_key  # noqa: PLC0415

    if not result.audio:
        return "the provider returned no audio to compute cues from"
    try:
        profile = ProfileStore(user_data).load_or_default(
            voice_key(settings.provider, settings.voice, settings.model, settings.base_url)
        )
    except CalibrationError as error:
        return f"the voice's lip-sync profile is damaged: {error} (python -m app lipsync calibrate makes it anew)"
    track = cue_track_of(np.concatenate(result.audio), result.sample_rate, result.marks, profile)
    try:
        write_cue_file(path, track)
    except OSError as error:
        return f"cannot write {path}: {error.strerror or error}"
    return None


def unwritable(path: Path) -> str | None:
    """Why a file cannot be written at ``path`` (a folder there, no such folder, no permission), else None. It is
    tried for real, without touching a file already there: a temporary file next to it, or that file opened for
    update."""
    if path.is_dir():
        return f"{path} is a folder; give a file name"
    folder = path.parent
    if not folder.is_dir():
        return f"the folder {folder} does not exist"
    try:
        if path.exists():
            with path.open("r+b"):
                pass
        else:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".say-", suffix=".tmp"):
                pass
    except OSError as error:
        return f"cannot write {path}: {error.strerror or error}"
    return None


def run_say(args: argparse.Namespace) -> int:
    settings = SpeechSettings(
        provider=args.provider,
        voice=args.voice,
        model=args.model,
        base_url=args.base_url,
        speed=args.speed,
        api_key_env=args.api_key_env,
    )

    def fail(code: str, message: str) -> int:
        print(json.dumps({"ok": False, "code": code, "message": message}) if args.json else f"say failed: {message}")
        return 1

    if not args.text.strip():
        return fail("empty-text", "there is nothing to say")
    for target in (args.out, args.cues):
        problem = None if target is None else unwritable(target)
        if problem:
            return fail("bad-output", problem)  # before speaking: the speech would be lost

    async def job() -> tuple[SayResult, str]:
        sink = None if args.out else open_sink(prefer_device=True)
        output = str(args.out) if args.out else getattr(sink, "device_name", "null sink (no audio device; silent)")
        try:
            return await say(args.text, settings, sink), output
        finally:
            if sink is not None:
                sink.close()

    try:
        result, output = _run(job())
    except SpeechProviderError as error:
        return fail(error.code, error.message)
    if result.error is not None and not result.audio:
        return fail(result.error.code, result.error.message)
    if args.out is not None:
        if not result.audio:
            return fail("no-audio", "the provider returned no audio")
        try:
            _write_wav(args.out, result)
        except OSError as error:
            return fail("bad-output", f"cannot write {args.out}: {error.strerror or error}")
    if args.cues is not None:
        problem = _write_cues(args.cues, result, settings, resolve_user_data_dir(args.user_data))
        if problem:
            return fail("bad-output", problem)
    rtf = result.synthesis_s / result.audio_seconds if result.audio_seconds else None
    summary = {
        "ok": result.error is None,
        "provider": settings.provider,
        "sentences": result.sentences,
        "firstAudioMs": None if result.first_audio_s is None else round(result.first_audio_s * 1000, 1),
        "audioSeconds": round(result.audio_seconds, 3),
        "sampleRate": result.sample_rate,
        "realTimeFactor": None if rtf is None else round(rtf, 4),
        "output": output,
    }
    if result.error is not None:
        summary.update(code=result.error.code, message=result.error.message)
    if args.json:
        print(json.dumps(summary))
    else:
        for sentence in result.sentences:
            print(f"[{sentence['index']}] {sentence['text']}")
        first = "-" if summary["firstAudioMs"] is None else f"{summary['firstAudioMs']:.0f} ms"
        factor = "-" if rtf is None else f"{rtf:.4f}"
        print(
            f"first audio {first}, audio {result.audio_seconds:.2f} s at {result.sample_rate} Hz, "
            f"real-time factor {factor}, output: {output}"
        )
        if result.error is not None:
            print(f"stopped early: {result.error.message}")
    return 0 if result.error is None else 1


def _run(job: Any) -> Any:
    """On a Qt loop when QtMultimedia can play to a device (it needs a Qt application), else on plain asyncio."""
    if importlib.util.find_spec("PySide6.QtMultimedia") is None:
        return asyncio.run(job)
    from PySide6.QtCore import QCoreApplication  # noqa: PLC0415 - Qt only when a device can be used

    from app.qt_loop import QtAsyncioLoop  # noqa: PLC0415

    app = QCoreApplication.instance() or QCoreApplication(sys.argv[:1])
    loop = QtAsyncioLoop(app)
    with loop:
        return loop.run_until_complete(job)
