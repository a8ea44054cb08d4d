"""``python -m app lipsync analyze AUDIO.wav`` (the audio path on a WAV file), ``python -m app lipsync calibrate``
(build the profile of a voice, any provider's), and the cue track that ``python -m app say --cues FILE.json`` writes."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from app.lipsync.audio import AudioLipSync, analyse_audio
from app.lipsync.espeak_voice import phones_of
from app.lipsync.phonemes import PhoneAudio, analyse_phonemes
from app.lipsync.profile import CalibrationError, ProfileStore, VoiceProfile, calibrate, default_profile
from app.lipsync.provider_voice import calibration_language, provider_synthesize, voice_key
from app.lipsync.shaping import Shaper
from app.lipsync.track import VOWELS, CueTrack, concat_tracks
from app.lipsync.wav import WavError, wav_blocks
from app.paths import resolve_user_data_dir
from app.speech.espeak import EspeakEngine
from app.speech.events import SpeechMark, SpeechProviderError
from app.speech.factory import SessionFactory
from app.speech.providers import BUILTIN_PROVIDERS, SpeechSettings


def add_lipsync_parser(commands: Any, user_data: Callable[[argparse.ArgumentParser], None]) -> None:
    lipsync = commands.add_parser("lipsync", help="lip-sync analysis and voice calibration")
    actions = lipsync.add_subparsers(dest="lipsync_command", required=True)
    analyze = actions.add_parser("analyze", help="print the mouth cue frames the audio path computes for a WAV file")
    analyze.add_argument("audio", type=Path, metavar="AUDIO.wav")
    analyze.add_argument("--voice-profile", metavar="NAME", help="a calibrated voice (default: the built-in profile)")
    analyze.add_argument("--json", action="store_true", help="print one JSON object")
    user_data(analyze)
    calibrate_parser = actions.add_parser("calibrate", help="build and store the vowel profile of a voice")
    providers = [definition.id for definition in BUILTIN_PROVIDERS]
    calibrate_parser.add_argument("--provider", default="espeak", choices=providers, help="(default: espeak)")
    calibrate_parser.add_argument("--voice", help="the provider's voice (default: its default voice; espeak: en-us)")
    calibrate_parser.add_argument("--model", help="model, for remote providers")
    calibrate_parser.add_argument("--base-url", help="provider URL (http: .../v1, bidirectional-ws: ws://...)")
    calibrate_parser.add_argument("--api-key-env", metavar="NAME", help="environment variable holding the API key")
    calibrate_parser.add_argument(
        "--language", help="the language the voice speaks (default: espeak's voice, a Kokoro voice's, else en)"
    )
    calibrate_parser.add_argument("--json", action="store_true", help="print one JSON object")
    user_data(calibrate_parser)


def analyse_wav(path: Path, profile: VoiceProfile) -> CueTrack:
    """The audio path's cue track of a WAV file, read and analysed block by block (memory does not grow with the
    file's length, only the track does: 2 kB per second)."""
    wav, blocks = wav_blocks(path)
    audio = AudioLipSync(profile, wav.sample_rate)
    shaper = Shaper()
    try:
        tracks = [shaper.shape(audio.feed(block)) for block in blocks]
    except OSError as error:
        raise WavError(f"cannot read {path}: {error.strerror or error}") from None
    tracks.append(shaper.shape(audio.flush()))
    return concat_tracks([t for t in tracks if len(t)] or tracks[-1:])


def cue_track_of(
    pcm: npt.NDArray[np.int16], sample_rate: int, marks: list[SpeechMark], profile: VoiceProfile
) -> CueTrack:
    """The cue track of spoken audio: from its phoneme marks when there are any, else from the audio."""
    phones = phones_of(marks, sample_rate, len(pcm))
    raw = (
        analyse_phonemes(phones, len(pcm) / sample_rate, audio=PhoneAudio(pcm, sample_rate))
        if phones
        else analyse_audio(pcm, sample_rate, profile)
    )
    return Shaper().shape(raw)


def write_cue_file(path: Path, track: CueTrack) -> None:
    path.write_text(json.dumps(track.to_json()) + "\n", encoding="utf-8")


async def _calibrate(settings: SpeechSettings, language: str) -> VoiceProfile:
    engine = EspeakEngine()
    try:
        async with httpx.AsyncClient() as http:
            factory = SessionFactory(engine, http)
            voice = voice_key(settings.provider, settings.voice, settings.model, settings.base_url)
            marks = factory.definition(settings.provider).capabilities.timing_marks
            return await calibrate(voice, language, provider_synthesize(settings, factory), marks=marks)
    finally:
        engine.close()


def run_lipsync(args: argparse.Namespace) -> int:
    def fail(code: str, message: str) -> int:
        print(
            json.dumps({"ok": False, "code": code, "message": message}) if args.json else f"lipsync failed: {message}"
        )
        return 1

    store = ProfileStore(resolve_user_data_dir(args.user_data))
    if args.lipsync_command == "calibrate":
        settings = SpeechSettings(
            provider=args.provider,
            voice=args.voice,
            model=args.model,
            base_url=args.base_url,
            api_key_env=args.api_key_env,
        )
        try:
            profile = asyncio.run(_calibrate(settings, args.language or calibration_language(settings)))
            path = store.save(profile)
        except SpeechProviderError as error:
            return fail(error.code, error.message)
        except CalibrationError as error:
            return fail("calibration-failed", str(error))
        except OSError as error:
            return fail("cannot-save", f"cannot save the profile: {error.strerror or error}")
        if args.json:
            print(json.dumps({"ok": True, "voice": profile.voice, "path": str(path)}))
        else:
            print(f"calibrated {profile.voice}: vowel level {profile.level_db:.1f} dBFS, saved to {path}")
        return 0
    try:
        profile = default_profile()
        if args.voice_profile:
            stored = store.load(args.voice_profile)
            if stored is None:
                known = ", ".join(store.voices()) or "none yet (python -m app lipsync calibrate)"
                return fail("unknown-profile", f"no voice profile {args.voice_profile!r}; calibrated voices: {known}")
            profile = stored
        track = analyse_wav(args.audio, profile)
    except WavError as error:
        return fail("bad-audio", str(error))
    except CalibrationError as error:
        return fail("bad-profile", str(error))
    if args.json:
        print(json.dumps({"ok": True, "profile": profile.voice, **track.to_json()}))
        return 0
    print(f"{'t_ms':>9} " + " ".join(f"{name:>5}" for name in VOWELS))
    for frame in track.to_json()["frames"]:
        print(f"{frame['t_ms']:>9.1f} " + " ".join(f"{frame[name]:>5.2f}" for name in VOWELS))
    print(f"{len(track)} frames at {track.frame_rate:.1f} per second (profile {profile.voice})")
    return 0
