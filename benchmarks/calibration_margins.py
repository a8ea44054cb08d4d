"""The margins behind the calibration's sanity checks (:func:`app.lipsync.profile.check_take` and
:func:`~app.lipsync.profile.check_profile`): each measure for real espeak voices (the lip-sync benchmark's, calibrated
with their phonemes and from their audio alone) against the garbage a provider may return, beside its limit.

``python -m benchmarks.calibration_margins [--json]``
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from app.lipsync.espeak_voice import espeak_synthesize
from app.lipsync.features import analyse_all
from app.lipsync.profile import (
    MIN_MODULATION_DB,
    MIN_RECORDING_S,
    MIN_VOWEL_LEVEL_DB,
    MIN_VOWEL_SEPARATION,
    CalibrationError,
    CalibrationRecording,
    Synthesize,
    closest_vowels,
    loudness_span_db,
    profile_from_recordings,
    profile_from_speech,
    profile_from_take,
    record_calibration,
)
from app.speech.espeak import EspeakEngine

VOICES = ("en-us", "en-us+f3", "en", "de", "es")
RATE = 24_000


@dataclass
class Margins:
    case: str
    shortest_s: float
    same_audio: bool
    loudness_span_db: float
    vowel_level_db: float | None
    closest_vowels: float | None
    refused: str
    """The check's reason; empty when it passes."""


async def measured(case: str, language: str, synthesize: Synthesize, *, marks: bool) -> Margins:
    """Every measure of a calibration take (not stopping at the first check that fails), and the checks' verdict."""
    take = await record_calibration(language, synthesize, marks=marks)
    recordings = take.recordings()
    spans = []
    for pcm, rate in recordings:
        frames = analyse_all(pcm, rate)[0].level_db
        spans.append(loudness_span_db(frames) if len(frames) else 0.0)
    same = any(np.array_equal(a, b) for (a, _), (b, _) in itertools.combinations(recordings, 2))
    vowel_level: float | None = None
    closest: float | None = None
    try:  # the profile as it would be built without the checks, for its level and vowel distances
        if take.sentences is not None:
            raw = profile_from_speech("x", take.sentences)
        else:
            raw = profile_from_recordings("x", take.vowels or {}, take.closures, take.classes)
        vowel_level, closest = raw.level_db, closest_vowels(raw)
    except CalibrationError:
        pass
    try:
        profile_from_take("x", take)
        refused = ""
    except CalibrationError as error:
        refused = str(error)
    shortest = min(len(pcm) / rate for pcm, rate in recordings)
    return Margins(case, shortest, same, min(spans), vowel_level, closest, refused)


Garbage = Callable[[str, npt.NDArray[np.int16]], npt.NDArray[np.int16]]


def garbage_cases() -> dict[str, Garbage]:
    rng = np.random.default_rng(0)
    clip = rng.normal(0, 3000, RATE).astype(np.int16)
    pitches = itertools.count(400, 150)

    def quiet(_text: str, speech: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        rms = float(np.sqrt(np.mean(np.square(speech.astype(np.float64)))))
        return np.round(speech * (32768 * 10 ** (-60 / 20) / rms)).astype(np.int16)

    return {
        "white noise": lambda _t, _s: rng.normal(0, 3000, RATE).astype(np.int16),
        "a tone per text": lambda _t, _s: (8000 * np.sin(2 * np.pi * next(pitches) * np.arange(RATE) / RATE)).astype(
            np.int16
        ),
        "one tone for all": lambda _t, _s: (8000 * np.sin(2 * np.pi * 1000 * np.arange(RATE) / RATE)).astype(np.int16),
        "a 20 ms clip": lambda _t, speech: speech[len(speech) // 2 :][: RATE // 50],
        "one clip for all": lambda _t, _s: clip,
        "speech at -60 dBFS": quiet,
    }


async def run() -> list[Margins]:
    engine = EspeakEngine()
    rows = []
    try:
        for voice in VOICES:
            espeak = espeak_synthesize(engine, voice)

            async def alone(text: str, espeak: Synthesize = espeak) -> CalibrationRecording:
                spoken = await espeak(text)
                return CalibrationRecording(spoken.pcm, spoken.sample_rate, [])

            rows.append(await measured(f"{voice} (phonemes)", voice, espeak, marks=True))
            rows.append(await measured(f"{voice} (audio alone)", voice, alone, marks=False))
        english = espeak_synthesize(engine, "en-us")
        for case, garbage in garbage_cases().items():

            async def broken(text: str, garbage: Garbage = garbage) -> CalibrationRecording:
                spoken = await english(text)
                return CalibrationRecording(garbage(text, spoken.pcm), spoken.sample_rate, [])

            rows.append(await measured(case, "en", broken, marks=False))
        repeats = itertools.count(2)

        async def one_vowel(_text: str) -> CalibrationRecording:
            """Real speech, different for each text, of one vowel only (a voice reading something else)."""
            spoken = await english(", ".join(["Ma"] * (2 + next(repeats) % 4)) + ".")
            return CalibrationRecording(spoken.pcm, spoken.sample_rate, [])

        rows.append(await measured("one vowel for all", "en", one_vowel, marks=False))
    finally:
        engine.close()
    return rows


def _number(value: float | None, form: str) -> str:
    return "-" if value is None else format(value, form)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.calibration_margins", description=__doc__)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = asyncio.run(run())
    if args.json:
        print(json.dumps([asdict(row) for row in rows], indent=1))
        return
    print(
        f"{'case':<24} {'shortest s':>10} {'same':>5} {'span dB':>8} {'level dBFS':>10} {'closest':>8}  verdict\n"
        f"{'limit':<24} {MIN_RECORDING_S:>10g} {'no':>5} {MIN_MODULATION_DB:>8g} {MIN_VOWEL_LEVEL_DB:>10g}"
        f" {MIN_VOWEL_SEPARATION:>8g}"
    )
    for row in rows:
        print(
            f"{row.case:<24} {row.shortest_s:>10.3f} {'yes' if row.same_audio else 'no':>5}"
            f" {row.loudness_span_db:>8.1f} {_number(row.vowel_level_db, '.1f'):>10}"
            f" {_number(row.closest_vowels, '.2f'):>8}  {row.refused or 'accepted'}"
        )


if __name__ == "__main__":
    main()
