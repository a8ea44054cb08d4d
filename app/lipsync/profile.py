"""Per-voice vowel profiles: where each of the five vowels sits in MFCC space for one voice, and how loud it is.

A profile is built by :func:`calibrate`: the voice (any provider) speaks a few short words per vowel, and the
steady, loud frames of each recording give that vowel's mean coefficients (from words with all the vowels of that
mouth shape, where a language has several); their pooled spread scales the distance.
It also says words such as "Mommy. Bobby.", and the sounding lip closures between their vowels (found in the
audio as dips of the loudness) become the closed-mouth templates. A voice that reports its phonemes reads
sentences instead, and its vowels and closures are measured where the phonemes say they are. The
:class:`ProfileStore` keeps one JSON file per voice in the user-data folder.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.lipsync.features import MFCC_COUNT, analyse_all
from app.lipsync.phonemes import Phone, vowel_class
from app.lipsync.track import VOWELS
from app.models.store import write_file_atomically

PROFILE_FORMAT = 1
MIN_SPREAD = 0.5
"""Floor of a coefficient's spread, so a coefficient that barely varied in calibration cannot dominate."""

CALIBRATION_PROMPTS: dict[str, dict[str, str]] = {
    # Short words whose every vowel is the one calibrated, around lip and tongue consonants: the vowels as the voice
    # says them in words, not held on their own (isolated vowels are steadier and further out: profiles built from
    # them classified 60 % of the benchmark's vowel frames right, from these words 71 %).
    "en": {
        "aa": "Pa, ma, spa, bra.",
        "ih": "Bee, me, pea, tea, key.",
        "ou": "Boo, moo, two, shoe, zoo.",
        "ee": "Bet, met, pet, ten, get.",
        "oh": "Paw, saw, law, caught, taught.",
    },
    "de": {
        "aa": "Ma, Papa, Saal, Bahn.",
        "ih": "Bier, Miete, Tier, Lied.",
        "ou": "Buch, Mut, Hut, Schuh.",
        "ee": "Beet, Meer, See, Tee.",
        "oh": "Boot, Mond, Sohn, Tor.",
    },
    "es": {
        "aa": "Mamá, papá, casa, sala.",
        "ih": "Mimí, pipí, sí, ti.",
        "ou": "Mú, Pú, tú, su.",
        "ee": "Bebé, pene, teme, tele.",
        "oh": "Bobo, mono, todo, solo.",
    },
    "fr": {
        "aa": "Papa, patte, chat, la.",
        "ih": "Midi, pipi, lit, nid.",
        "ou": "Bout, mou, tout, loup.",
        "ee": "Bébé, été, thé, nez.",
        "oh": "Beau, mot, pot, tôt.",
    },
    "ja": {
        "aa": "あ。あ。あ。",
        "ih": "い。い。い。",
        "ou": "う。う。う。",
        "ee": "え。え。え。",
        "oh": "お。お。お。",
    },
    "*": {"aa": "A. A. A.", "ih": "I. I. I.", "ou": "U. U. U.", "ee": "E. E. E.", "oh": "O. O. O."},
}
"""Per language prefix; ``*`` for the languages (Italian, Portuguese, ...) whose letters name their vowels. Each
vowel's words hold that one vowel: their frames' spread around its mean is how much one vowel varies."""

CLASS_PROMPTS: dict[str, dict[str, str]] = {
    # Where a language has several vowels of one mouth shape (English "aa": the a of "father", "cat" and "cup"),
    # words with all of them: the shape's mean is taken from these (on the benchmark 76 % agreement, from the
    # single-vowel words 72 %). Their spread is not: it mixes the vowels, and a wider spread let too many sounds
    # pass for vowels, so fewer onsets were opened in time (89 % within 20 ms, against 93 %).
    "en": {
        "aa": "Pa, cat, cup, ma, bat, but.",
        "ih": "Bee, bit, me, pit, key, tip.",
        "ou": "Boo, book, two, put, zoo, foot.",
        "ee": "Bet, met, pet, ten, get, bed.",
        "oh": "Ball, talk, saw, law, dawn, caught.",
    },
    "de": {
        "aa": "Ma, Mann, Bahn, Ball, Saal, Katze.",
        "ih": "Bier, Bitte, Tier, Mitte, Lied, Tisch.",
        "ou": "Buch, Mutter, Hut, Butter, Schuh, Bund.",
        "ee": "Beet, Bett, Meer, Mensch, See, Tee.",
        "oh": "Boot, Sonne, Mond, Post, Sohn, Topf.",
    },
}
"""Per language prefix; a language without an entry has one vowel per shape, and its single-vowel words serve."""

CLOSURE_PROMPTS: dict[str, list[str]] = {
    "ja": ["まま、まま。ばば、ばば。", "あま。あば。えま。えべ。"],
    "*": ["Mommy, mommy. Bobby, bobby.", "Ama. Abba. Emma. Ebbe.", "Obo. Ubu. Abi. Ebo.", "Omo. Umu. Ami. Emo."],
}
"""Words with lip closures between vowels, for a voice without phoneme marks: the m murmur and the b voice bar are
found in the audio itself, as the dips between the vowels (:func:`closure_templates`). With the first two the audio
path opened 93 % of the benchmark's onsets within 20 ms, as with closures measured at phoneme marks; with "Mama.
Baba. Papa." alone 90 %. The last two add closures beside rounded vowels, which colour a murmur as they colour the
vowel (an m before u looked like the u and opened the mouth early; a u like an m and closed it): over 16
calibration takes, onsets within 20 ms rose from 95.2 to 96.1 % (tuning sentences) and 94.9 to 96.1 % (held-out)."""
CLOSURE_GAP_S = 0.15
"""A quiet stretch between two vowels shorter than this is a consonant; a longer one is a pause between words."""
CLOSURE_DEPTH_DB = 6.0
"""A closure is at least this much quieter than the vowels on both sides of it."""
CLOSURE_BOTTOM_DB = 1.0
"""The closure's frames: within this of the dip's quietest (a wider stretch takes in the vowels' transitions)."""
CLOSURE_AUDIBLE_DB = 45.0
"""A dip further than this below the loudest vowel is silent (a p): it has no sound to learn."""
CLOSURE_SAME = 0.5
"""Closures found this near each other (mean squared scaled distance) are the same one recorded twice, and are
averaged: an m murmur sits within 0.1-0.6 of its template. Kept apart, each take's noisy extremes let vowel frames
pass for closures; averaged, the benchmark's onsets within 20 ms rose from 94.2 to 94.7 % (tuning sentences) and
94.5 to 95.0 % (held-out) over 11 calibration takes, the worst take from 92.5 to 94.2 % (held-out)."""
NUCLEUS_BELOW_DB = 12.0
"""A vowel nucleus is within this of the recording's loudest frame."""

# The sanity checks a calibration passes before it becomes a profile (:func:`check_take`, :func:`check_profile`).
# Measured on espeak's benchmark voices (en-us, en-us+f3, en, de, es), each calibrated with its phonemes and from its
# audio alone, against garbage a provider may return: white noise, a 1 kHz tone, a 20 ms clip, one clip for every
# text, speech at -60 dBFS and real speech whose "vowels" are all the same ("Ma, ma, ma." for every prompt).
MIN_RECORDING_S = 0.3
"""A calibration text spoken shorter than this is not speech: the shortest real recording was 1.44 s, a clipped
answer 0.02 s."""
MIN_MODULATION_DB = 5.0
"""Speech rises and falls with its syllables: between the quiet and the loud tenth of a recording's frames (those
within 30 dB of its peak) real voices spanned 10.2-18.4 dB; white noise 0.9, a tone 0.0, a 20 ms clip 1.8."""
MIN_VOWEL_LEVEL_DB = -45.0
"""The vowels' level (dBFS) a profile needs: real voices were at -16 to -19; speech at -60 dBFS measured -57 (a
muted or broken output; its faint frames would open the mouth at every breath of a normal voice)."""
MIN_VOWEL_SEPARATION = 0.2
"""The least mean squared scaled distance (:class:`VoiceProfile`'s distance) between two vowel means: real voices'
closest pair was 0.95-8.9 (the phoneme path's 0.95-4.4, the audio path's 1.4-8.9); noise 0.01, a tone 0.00, real
speech of one vowel for every prompt 0.00."""
LANGUAGE_NAMES = {"en": "English", "de": "German", "es": "Spanish", "fr": "French", "ja": "Japanese"}

CALIBRATION_SPEECH: dict[str, list[str]] = {
    # Sentences rich in the five vowels, for voices that report their phonemes (espeak).
    "en": [
        "The quick brown fox jumps over the lazy dog.",
        "She sells sea shells on the sea shore.",
        "Who took the good food to school at noon?",
        "Father wants a large cart of apples.",
        "Go home and close the old door slowly.",
        "Ten red hens sat on the wet bed.",
        "Keep the green sheep in the deep field.",
    ],
    "de": [
        "Der Vater kam am Abend nach Hause.",
        "Sie liest die Zeitung im Garten.",
        "Im Sommer ist es warm und schön.",
        "Die Kuh steht auf der grünen Wiese.",
        "Der Esel geht langsam über den Weg.",
        "Ich gebe dir meine rote Rose.",
        "Wir wohnen in einem großen Haus.",
    ],
    "es": [
        "El gato duerme en la casa blanca.",
        "Quiero comer un poco de queso.",
        "Los niños juegan en el parque.",
        "Mi tío vive cerca del río.",
        "Todo el mundo come pollo y arroz.",
        "El sol sale temprano por la mañana.",
        "Susana usa una blusa azul.",
    ],
}


@dataclass(frozen=True)
class CalibrationRecording:
    pcm: npt.NDArray[np.int16]
    sample_rate: int
    phones: list[Phone]
    """Empty when the provider does not report phonemes."""


Synthesize = Callable[[str], Awaitable[CalibrationRecording]]
"""Speaks a text with the voice being calibrated."""


class CalibrationError(Exception):
    pass


@dataclass(frozen=True)
class VoiceProfile:
    voice: str
    means: npt.NDArray[np.float32]
    """Shape (5, MFCC_COUNT): each vowel's mean coefficients, rows in VOWELS order."""
    spread: npt.NDArray[np.float32]
    """Shape (MFCC_COUNT,): the pooled within-vowel standard deviation of each coefficient."""
    level_db: float
    """The typical loudness of this voice's vowels (dBFS): the mouth is fully open around it."""
    closed: npt.NDArray[np.float32] | None = None
    """Shape (k, MFCC_COUNT): mean coefficients of the voice's lip closures that still sound (m, and the voice bar
    of b), from the calibration speech's phonemes or found in its audio; frames nearer to them than to a vowel close
    the mouth."""

    @functools.cached_property
    def distance_tables(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """(1 / spread^2, 2 templates / spread^2 transposed, |template / spread|^2), all over the coefficient count,
        for the vowels then the closures: the constant parts of each frame's mean scaled squared distances, computed
        once rather than per analysed chunk."""
        templates = self.means if self.closed is None else np.concatenate([self.means, self.closed])
        weight = (1.0 / np.square(self.spread)).astype(np.float32)
        scaled = templates * weight
        # Divided by the number of coefficients (a mean), and the cross term's 2 folded in.
        return (
            (weight / MFCC_COUNT).astype(np.float32),
            np.ascontiguousarray((scaled * (2.0 / MFCC_COUNT)).T.astype(np.float32)),
            ((templates * scaled).sum(axis=1) / MFCC_COUNT).astype(np.float32),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PROFILE_FORMAT,
            "voice": self.voice,
            "level_db": round(self.level_db, 2),
            "spread": [round(float(v), 4) for v in self.spread],
            "vowels": {name: [round(float(v), 4) for v in row] for name, row in zip(VOWELS, self.means, strict=True)},
            "closed": None if self.closed is None else [[round(float(v), 4) for v in row] for row in self.closed],
        }

    @classmethod
    def from_json(cls, data: Any) -> VoiceProfile:
        try:
            if data["format"] != PROFILE_FORMAT:
                raise CalibrationError(f"unsupported profile format {data['format']!r}")
            means = np.array([data["vowels"][name] for name in VOWELS], dtype=np.float32)
            spread = np.array(data["spread"], dtype=np.float32)
            closed = None if data.get("closed") is None else np.array(data["closed"], dtype=np.float32)
            profile = cls(str(data["voice"]), means, spread, float(data["level_db"]), closed)
        except (KeyError, TypeError, ValueError) as error:
            raise CalibrationError(f"not a lip-sync voice profile: {error}") from None
        if means.shape != (len(VOWELS), MFCC_COUNT) or spread.shape != (MFCC_COUNT,):
            raise CalibrationError("not a lip-sync voice profile: wrong number of coefficients")
        if closed is not None and (closed.ndim != 2 or closed.shape[1] != MFCC_COUNT or not len(closed)):
            raise CalibrationError("not a lip-sync voice profile: wrong number of closed-mouth coefficients")
        finite = [means, spread, np.array([profile.level_db]), closed if closed is not None else np.zeros(1)]
        if not all(np.isfinite(values).all() for values in finite):
            raise CalibrationError("not a lip-sync voice profile: values are not finite")
        if (spread <= 0).any():
            raise CalibrationError("not a lip-sync voice profile: a spread is not positive")
        # Calibration never writes a spread under the floor; a smaller one (edited by hand) would let its
        # coefficient swamp the distances.
        return dataclasses.replace(profile, spread=np.maximum(spread, np.float32(MIN_SPREAD)))


def _steady_frames(pcm: npt.NDArray[np.int16], sample_rate: int) -> tuple[npt.NDArray[np.float32], float]:
    """The coefficients of the loud, steady middle of each spoken vowel, and their median level."""
    frames, _ = analyse_all(pcm, sample_rate)
    if not len(frames) or frames.level_db.max() < -60.0:
        raise CalibrationError("the voice produced no audible audio")
    loud = frames.level_db > frames.level_db.max() - 10.0
    # Trim transitions: keep frames whose neighbours two frames away are loud too.
    steady = loud.copy()
    steady[2:] &= loud[:-2]
    steady[:-2] &= loud[2:]
    chosen = steady if steady.sum() >= 5 else loud
    return frames.mfcc[chosen], float(np.median(frames.level_db[chosen]))


def closure_templates(pcm: npt.NDArray[np.int16], sample_rate: int) -> list[npt.NDArray[np.float32]]:
    """The coefficients of each sounding lip closure in a recording of words such as "Mama. Baba.", found without
    phoneme marks: between two vowel nuclei less than :data:`CLOSURE_GAP_S` apart, the quietest stretch, when it is
    a dip of :data:`CLOSURE_DEPTH_DB` yet audible (a p's silence is not)."""
    frames, frame_rate = analyse_all(pcm, sample_rate)
    if not len(frames):
        return []
    level = frames.level_db
    peak = float(level.max())
    loud = np.nonzero(level > peak - NUCLEUS_BELOW_DB)[0]
    nuclei = np.split(loud, np.nonzero(np.diff(loud) > 1)[0] + 1)
    templates = []
    for before, after in itertools.pairwise(nuclei):
        first, end = int(before[-1]) + 1, int(after[0])
        if not 0 < end - first <= CLOSURE_GAP_S * frame_rate:
            continue
        bottom = first + int(np.argmin(level[first:end]))
        depth = min(level[before].max(), level[after].max()) - level[bottom]
        if depth < CLOSURE_DEPTH_DB or level[bottom] < peak - CLOSURE_AUDIBLE_DB:
            continue
        quiet = np.arange(first, end)[level[first:end] <= level[bottom] + CLOSURE_BOTTOM_DB]
        templates.append(frames.mfcc[quiet].mean(axis=0).astype(np.float32))
    return templates


Recording = tuple[npt.NDArray[np.int16], int]
"""PCM and its sample rate."""


def profile_from_recordings(
    voice: str,
    recordings: dict[str, Recording],
    closures: Sequence[Recording] = (),
    classes: dict[str, Recording] | None = None,
) -> VoiceProfile:
    """A profile from one recording per vowel, optionally recordings of words with lip closures between vowels
    (:data:`CLOSURE_PROMPTS`), whose closures it learns from the audio alone, and optionally one recording per vowel
    of all the vowels of its shape (:data:`CLASS_PROMPTS`), which then give the means."""
    missing = [name for name in VOWELS if name not in recordings or (classes is not None and name not in classes)]
    if missing:
        raise CalibrationError(f"no recording for {', '.join(missing)}")
    means, deviations, levels = [], [], []
    for name in VOWELS:
        coefficients, level = _steady_frames(*recordings[name])
        deviations.append(coefficients - coefficients.mean(axis=0))
        if classes is not None:
            coefficients, _ = _steady_frames(*classes[name])
        means.append(coefficients.mean(axis=0))
        levels.append(level)
    spread = np.maximum(np.concatenate(deviations).std(axis=0), MIN_SPREAD)
    found = [template for recording in closures for template in closure_templates(*recording)]
    closed = np.array(merge_closures(found, spread), np.float32) if found else None
    return VoiceProfile(voice, np.array(means, np.float32), spread.astype(np.float32), float(np.median(levels)), closed)


def merge_closures(
    templates: Sequence[npt.NDArray[np.float32]], spread: npt.NDArray[np.floating[Any]]
) -> list[npt.NDArray[np.float32]]:
    """The closure templates with those within :data:`CLOSURE_SAME` of each other averaged, nearest pair first."""
    weight = 1.0 / np.square(spread)
    groups = [[template] for template in templates]
    while len(groups) > 1:
        means = np.array([np.mean(group, axis=0) for group in groups])
        distance = (np.square(means[:, None, :] - means[None, :, :]) * weight).mean(axis=2)
        distance[np.diag_indices(len(groups))] = np.inf
        first, second = np.unravel_index(int(np.argmin(distance)), distance.shape)
        if distance[first, second] > CLOSURE_SAME:
            break
        groups[min(first, second)] += groups.pop(max(first, second))
    return [np.mean(group, axis=0).astype(np.float32) for group in groups]


def profile_from_speech(voice: str, recordings: list[CalibrationRecording]) -> VoiceProfile:
    """A profile from running speech whose phonemes are known (a provider that gives phoneme marks): the frames in
    the middle of each vowel of the five classes, in context, as the voice really says them."""
    samples: dict[str, list[npt.NDArray[np.float32]]] = {name: [] for name in VOWELS}
    closures: dict[str, list[npt.NDArray[np.float32]]] = {"m": [], "b": []}
    levels = []
    for recording in recordings:
        frames, frame_rate = analyse_all(recording.pcm, recording.sample_rate)
        times = np.arange(len(frames)) / frame_rate
        for phone in recording.phones:
            classes = vowel_class(phone.name)
            margin = min(0.02, (phone.end_s - phone.start_s) / 4)
            inside = (times >= phone.start_s + margin) & (times < phone.end_s - margin)
            if phone.name.strip("ˈˌ") in closures:
                closures[phone.name.strip("ˈˌ")].append(frames.mfcc[inside])
            if len(classes) != 1 or not classes[0]:
                continue
            samples[classes[0]].append(frames.mfcc[inside])
            levels.extend(frames.level_db[inside].tolist())
    means, deviations = [], []
    for name in VOWELS:
        coefficients = np.concatenate(samples[name]) if samples[name] else np.zeros((0, MFCC_COUNT), np.float32)
        if len(coefficients) < 5:
            raise CalibrationError(f"the calibration speech has too little of the vowel {name}")
        mean = coefficients.mean(axis=0)
        means.append(mean)
        deviations.append(coefficients - mean)
    spread = np.maximum(np.concatenate(deviations).std(axis=0), MIN_SPREAD)
    prototypes = [np.concatenate(found).mean(axis=0) for found in closures.values() if sum(map(len, found)) >= 5]
    closed = np.array(prototypes, np.float32) if prototypes else None
    return VoiceProfile(voice, np.array(means, np.float32), spread.astype(np.float32), float(np.median(levels)), closed)


def _prefix(language: str) -> str:
    return language.lower().split("-")[0].split("_")[0]


def calibration_prompts(language: str) -> dict[str, str]:
    return CALIBRATION_PROMPTS.get(_prefix(language), CALIBRATION_PROMPTS["*"])


def closure_prompts(language: str) -> list[str]:
    return CLOSURE_PROMPTS.get(_prefix(language), CLOSURE_PROMPTS["*"])


@dataclass(frozen=True)
class CalibrationTake:
    """What the voice spoke for a calibration: sentences with their phonemes, or (a voice without phonemes) short
    words per vowel, words with lip closures and, where the language has them, wider words per mouth shape."""

    sentences: list[CalibrationRecording] | None = None
    vowels: dict[str, Recording] | None = None
    closures: list[Recording] = field(default_factory=list)
    classes: dict[str, Recording] | None = None
    language: str = ""

    def recordings(self) -> list[Recording]:
        if self.sentences is not None:
            return [(spoken.pcm, spoken.sample_rate) for spoken in self.sentences]
        return [*(self.vowels or {}).values(), *self.closures, *(self.classes or {}).values()]


def check_take(take: CalibrationTake) -> None:
    """Refuses (:class:`CalibrationError`, the reason in words) recordings that cannot be the voice speaking the
    calibration texts: silent, clipped short, one and the same audio for different texts, or without the rise and
    fall of syllables (noise, a tone)."""
    recordings = take.recordings()
    if not recordings:
        raise CalibrationError("the voice spoke nothing")
    spans = []
    for pcm, sample_rate in recordings:
        if len(pcm) / sample_rate < MIN_RECORDING_S:
            raise CalibrationError(
                f"the voice returned {1000 * len(pcm) / sample_rate:.0f} ms of audio for a calibration text: too short"
                " to be those words spoken"
            )
        level = analyse_all(pcm, sample_rate)[0].level_db
        if not len(level) or level.max() < -60.0:
            raise CalibrationError("the voice produced no audible audio")
        spans.append(loudness_span_db(level))
    for (first, _), (second, _) in itertools.combinations(recordings, 2):
        if np.array_equal(first, second):
            raise CalibrationError(
                "the voice returned the same audio for different texts (an error sound or a cached answer?)"
            )
    if min(spans) < MIN_MODULATION_DB:
        raise CalibrationError(
            f"the voice's audio is steady noise or a tone, not speech (its loudness varies by {min(spans):.1f} dB;"
            f" speech rises and falls by {MIN_MODULATION_DB:g} dB or more)"
        )


def loudness_span_db(level_db: npt.NDArray[np.float32]) -> float:
    """How much a recording's loudness rises and falls: its loud tenth over its quiet tenth of the frames within 30 dB
    of the peak (dB)."""
    level = level_db[level_db > level_db.max() - 30.0]
    return float(np.percentile(level, 90) - np.percentile(level, 10))


def closest_vowels(profile: VoiceProfile) -> float:
    """The distance of the profile's two closest vowels (mean squared distance in units of spread)."""
    weight = 1.0 / np.square(profile.spread)
    return min(
        float((np.square(profile.means[i] - profile.means[j]) * weight).mean())
        for i, j in itertools.combinations(range(len(VOWELS)), 2)
    )


def check_profile(profile: VoiceProfile, language: str) -> None:
    """Refuses a profile whose vowels are too faint or too alike to tell the mouth shapes apart."""
    if profile.level_db < MIN_VOWEL_LEVEL_DB:
        raise CalibrationError(
            f"the voice is too quiet: its vowels are at {profile.level_db:.0f} dBFS"
            f" (speech is usually above {MIN_VOWEL_LEVEL_DB:g}); is its volume turned down?"
        )
    closest = closest_vowels(profile)
    if closest < MIN_VOWEL_SEPARATION:
        name = LANGUAGE_NAMES.get(_prefix(language), language) if language else "the calibration language"
        raise CalibrationError(
            f"the five vowels sound alike (closest pair {closest:.2f}, speech has {MIN_VOWEL_SEPARATION:g} or more):"
            f" is this speech in {name}?"
        )


async def record_calibration(language: str, synthesize: Synthesize, *, marks: bool) -> CalibrationTake:
    """The speaking half of :func:`calibrate` (a provider failure propagates as is). ``marks``: the provider reports
    phoneme marks (espeak), so it reads sentences; a voice that does not say its phonemes is not asked for a sentence
    only to find that out (a paid request wasted). A voice whose marks were expected but are missing in the first
    sentence still speaks the words instead."""
    sentences = CALIBRATION_SPEECH.get(_prefix(language))
    if sentences and marks:
        first = await synthesize(sentences[0])
        if first.phones:
            rest = [await synthesize(text) for text in sentences[1:]]
            return CalibrationTake(sentences=[first, *rest], language=language)

    async def recorded(text: str) -> Recording:
        spoken = await synthesize(text)
        return spoken.pcm, spoken.sample_rate

    vowels = {name: await recorded(text) for name, text in calibration_prompts(language).items()}
    closures = [await recorded(text) for text in closure_prompts(language)]
    wider = CLASS_PROMPTS.get(_prefix(language))
    classes = {name: await recorded(text) for name, text in wider.items()} if wider else None
    return CalibrationTake(vowels=vowels, closures=closures, classes=classes, language=language)


def profile_from_take(voice: str, take: CalibrationTake) -> VoiceProfile:
    """The analysing half of :func:`calibrate`: plain CPU work, fit for a worker thread. Recordings that cannot be the
    voice speaking, and profiles that could not tell the vowels apart, are refused (:func:`check_take`,
    :func:`check_profile`) with the reason: nothing is stored, and the voice's previous profile stays."""
    check_take(take)
    if take.sentences is not None:
        profile = profile_from_speech(voice, take.sentences)
    else:
        profile = profile_from_recordings(voice, take.vowels or {}, take.closures, take.classes)
    check_profile(profile, take.language)
    return profile


async def calibrate(voice: str, language: str, synthesize: Synthesize, *, marks: bool) -> VoiceProfile:
    """Builds the voice's profile; a provider failure propagates as is.

    A voice that reports its phonemes reads a few vowel-rich sentences and its vowels and lip closures are measured
    where the marks put them; any other voice speaks short words per vowel and a few lip closures, measured in the
    audio alone (the lip-sync benchmark compares the two).
    """
    return profile_from_take(voice, await record_calibration(language, synthesize, marks=marks))


def default_profile() -> VoiceProfile:
    """The profile shipped with the app (espeak-ng ``en-us`` calibrated by :func:`calibrate`), for new voices."""
    path = Path(__file__).with_name("default_profile.json")
    return VoiceProfile.from_json(json.loads(path.read_text(encoding="utf-8")))


def profile_key(voice: str) -> str:
    """A file name for a voice id such as ``espeak:en-us`` or ``openai:alloy``."""
    key = re.sub(r"[^A-Za-z0-9._-]+", "_", voice).strip("._")
    return key or "voice"


class ProfileStore:
    """One JSON file per voice under ``<user data>/lipsync/voices``."""

    def __init__(self, user_data_dir: Path) -> None:
        self.folder = user_data_dir / "lipsync" / "voices"

    def path_of(self, voice: str) -> Path:
        return self.folder / f"{profile_key(voice)}.json"

    def load(self, voice: str) -> VoiceProfile | None:
        """The stored profile; None when there is none. A damaged file raises :class:`CalibrationError`.

        A voice named with its model or server (``openai:alloy (tts-1)``) that has no profile yet takes over the one
        stored under its old name (``openai:alloy``, from before models were part of the name): the calibration a
        user made is kept, and from then on belongs to the first model it is looked up for (the one the app speaks
        with at the upgrade, most likely the one it was made with); the voice's other models get their own."""
        profile = self._read(voice)
        return profile if profile is not None else self._adopt_legacy(voice)

    def _read(self, voice: str) -> VoiceProfile | None:
        path = self.path_of(voice)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as error:
            raise CalibrationError(f"cannot read {path}: {error.strerror}") from None
        try:
            return VoiceProfile.from_json(json.loads(text))
        except json.JSONDecodeError as error:
            raise CalibrationError(f"{path} is not JSON: {error.msg}") from None

    def _adopt_legacy(self, voice: str) -> VoiceProfile | None:
        legacy = voice.split(" (", 1)[0]
        if legacy == voice:
            return None
        try:
            old = self._read(legacy)
        except CalibrationError:
            return None
        if old is None or old.voice != legacy:
            return None
        adopted = dataclasses.replace(old, voice=voice)
        try:
            calibrated = self.path_of(legacy).stat()
            path = self.save(adopted)
            os.utime(path, ns=(calibrated.st_atime_ns, calibrated.st_mtime_ns))  # "calibrated (date)" stays true
            self.path_of(legacy).unlink()
        except OSError:  # a read-only folder: used as it is, taken over another time
            pass
        return adopted

    def load_or_default(self, voice: str) -> VoiceProfile:
        return self.load(voice) or default_profile()

    def save(self, profile: VoiceProfile) -> Path:
        """Written whole or not at all (:func:`~app.models.store.write_file_atomically`: a temporary file of its own,
        so two savers never share one, flushed to the disk and renamed over the old profile; a failure removes it)."""
        path = self.path_of(profile.voice)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomically(path, json.dumps(profile.to_json(), indent=1).encode("utf-8"))
        return path

    def voices(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        names = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                names.append(str(json.loads(path.read_text(encoding="utf-8"))["voice"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return names
