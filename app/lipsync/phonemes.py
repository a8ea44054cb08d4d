# ruff: noqa: RUF001  (IPA letters look like Latin ones on purpose)
"""The phoneme path: a synthesizer's phoneme marks (espeak's IPA) to raw mouth frames, with coarticulation.

Each phoneme becomes keyframes of mouth weights (openness times vowel shape) that are linearly interpolated on the
frame grid, so neighbouring sounds blend into each other:
- vowels hold their shape through their middle; diphthongs glide from the first element to the second;
- m, b, p close the lips completely (their keys are hard zeros), as do pauses; when the audio is at hand, the lips
  part where it shows the release (:mod:`app.lipsync.release`), up to 35 ms before the vowel's mark, and the mouth
  is part-open (as for a soft consonant) through the aspiration;
- f and v nearly close them (lower lip to teeth), w, the postalveolars and r round them;
- every other consonant has no shape of its own: it keeps the mouth part-open and takes the shape of the vowel
  that follows (anticipatory coarticulation: the lips round during the k of "cool");
- after silence (the utterance's start, a pause) a sound has its shape from its onset: the mouth is set before
  the sound comes out.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.lipsync.release import find_release
from app.lipsync.track import DEFAULT_FRAME_RATE, VOWELS, RawFrames

Mouth = tuple[float, tuple[float, float, float, float, float]]
"""(openness, shape over VOWELS)."""


def _shape(**parts: float) -> tuple[float, float, float, float, float]:
    total = sum(parts.values())
    return tuple(parts.get(name, 0.0) / total for name in VOWELS)  # type: ignore[return-value]


def _table(rows: tuple[tuple[str, Mouth], ...]) -> dict[str, Mouth]:
    """One entry per letter of each row."""
    return {letter: mouth for letters, mouth in rows for letter in letters}


VOWEL_MOUTHS = _table(
    (
        ("aɑɐä", (0.9, _shape(aa=1))),
        ("æ", (0.85, _shape(aa=0.7, ee=0.3))),
        ("ʌ", (0.75, _shape(aa=0.8, oh=0.2))),
        ("iɪɨ", (0.5, _shape(ih=1))),
        ("yʏ", (0.45, _shape(ou=0.6, ih=0.4))),
        ("uʊɯ", (0.45, _shape(ou=1))),
        ("eɛ", (0.65, _shape(ee=1))),
        ("øœ", (0.6, _shape(oh=0.6, ee=0.4))),
        ("oɔɒ", (0.75, _shape(oh=1))),
        ("əɚɜɘɵ", (0.5, _shape(aa=0.5, ee=0.5))),
    )
)

CLOSED: Mouth = (0.0, _shape(aa=1))
CONSONANT_MOUTHS = _table(
    (
        ("mbpɱ", CLOSED),
        ("fv", (0.18, _shape(ih=1))),
        ("wʍ", (0.3, _shape(ou=1))),
        ("ʃʒ", (0.3, _shape(ou=0.7, ih=0.3))),
        ("ɹr", (0.3, _shape(ou=0.6, aa=0.4))),
    )
)

SOFT_CONSONANT_OPENNESS = 0.55
"""A consonant without a shape of its own keeps the mouth this fraction as open as the vowel that follows."""
VOWEL_SETTLE_S = 0.04
"""A vowel reaches its full shape this long after it begins (or a third of it, if shorter)."""
ONSET_SETTLE_S = 0.01
"""A sound after silence has its shape this long after its mark."""
RELEASE_OPEN_S = 0.01
"""After a release the mouth is part-open this much later (then it goes on to the vowel's keys)."""
CLOSURE_S = 0.03
"""Lips shut at least this long before a release the audio shows."""
NASAL_SEARCH_S = (0.025, 0.06)
"""An m's release is looked for from 25 ms after its mark (its own onset from silence is a rise too), at most
60 ms before the vowel's mark (a long m at 140 words per minute releases 50 ms before it)."""
STOP_SEARCH_BEFORE_S = 0.02
"""A stop's release is looked for from this long before its mark (espeak marks p at its burst)."""


PAUSE_SILENT_DB = 30.0
"""A pause closes the mouth only if the audio falls this far below its loudest there (over 20 ms). espeak marks
pauses that the audio does not have ("by the old bridge", "biblioteca", "Gabriel, pon": the voice never falls more
than 10 dB), and shutting the mouth for 50 ms while the voice sounds on looked like a stutter."""
PAUSE_WINDOW_S = 0.02


@dataclass(frozen=True)
class PhoneAudio:
    """The audio the phonemes were spoken in: ``pcm``'s first sample is heard at ``start_s`` on the phones' time."""

    pcm: npt.NDArray[np.int16]
    sample_rate: int
    start_s: float = 0.0

    @functools.cached_property
    def _energy(self) -> tuple[npt.NDArray[np.float64], int, float]:
        """(running sum of squares, the window in samples, the loudest window's energy)."""
        window = max(1, round(PAUSE_WINDOW_S * self.sample_rate))
        running = np.concatenate([[0.0], np.cumsum(np.square(self.pcm.astype(np.float64)))])
        starts = np.arange(0, max(1, len(self.pcm) - window + 1), max(1, window // 2))
        loudest = float((running[np.minimum(starts + window, len(self.pcm))] - running[starts]).max(initial=0.0))
        return running, window, loudest

    def falls_silent(self, start_s: float, end_s: float) -> bool:
        """Whether the audio in [start_s, end_s) (phone time) falls :data:`PAUSE_SILENT_DB` below its loudest;
        True when that span is not in the audio (the marks are trusted then)."""
        running, window, loudest = self._energy
        first = max(0, round((start_s - self.start_s) * self.sample_rate))
        last = min(len(self.pcm), round((end_s - self.start_s) * self.sample_rate))
        if last - first < window or loudest <= 0.0:
            return True
        starts = np.arange(first, last - window + 1, max(1, window // 4))
        quietest = float((running[starts + window] - running[starts]).min())
        return bool(quietest < loudest * 10.0 ** (-PAUSE_SILENT_DB / 10.0))


def _symbols(name: str) -> str:
    """The base letters of an IPA phoneme name: stress, length and diacritics removed."""
    decomposed = unicodedata.normalize("NFD", name)
    return "".join(c for c in decomposed if c not in "ˈˌːˑ'" and not unicodedata.combining(c))


def vowel_elements(name: str) -> list[Mouth]:
    """The vowel targets of a phoneme (two for a diphthong); empty for consonants and pauses."""
    return [VOWEL_MOUTHS[c] for c in _symbols(name) if c in VOWEL_MOUTHS]


def vowel_class(name: str) -> list[str]:
    """The ground-truth vowel classes of a phoneme (element by element): ``aa``/``ih``/``ou``/``ee``/``oh``, or
    ``""`` for an element that is none of the five (schwa-like and front-rounded vowels)."""
    classes = []
    for _, shape in vowel_elements(name):
        best = max(shape)
        classes.append(VOWELS[shape.index(best)] if best >= 0.7 else "")
    return classes


@dataclass(frozen=True)
class Phone:
    name: str
    start_s: float
    end_s: float


def phones_from_marks(marks: Iterable[tuple[float, str]], end_s: float) -> list[Phone]:
    """Phoneme marks (time in seconds, IPA name; ``""`` is a pause) to segments lasting until the next mark.

    Language switches such as ``(en)`` take no time and are dropped.
    """
    timed = sorted((t, n) for t, n in marks if not n.startswith("("))
    phones = []
    for index, (start, name) in enumerate(timed):
        end = timed[index + 1][0] if index + 1 < len(timed) else max(end_s, start)
        if end > start:
            phones.append(Phone(name, start, end))
    return phones


def _release(phone: Phone, vowel: Phone, audio: PhoneAudio) -> float | None:
    """Where the lips part between a closure ``phone`` and the ``vowel`` after it, if the audio shows it."""
    nasal = _symbols(phone.name)[:1] == "m"
    if nasal:
        start = max(phone.start_s + NASAL_SEARCH_S[0], vowel.start_s - NASAL_SEARCH_S[1])
    else:
        start = phone.start_s - STOP_SEARCH_BEFORE_S
    end = vowel.start_s + 0.005
    found = find_release(audio.pcm, audio.sample_rate, start - audio.start_s, end - audio.start_s, burst=not nasal)
    return None if found is None else found + audio.start_s


def _join_closures(phones: Sequence[Phone]) -> list[Phone]:
    """Phones with each run of one lip closure joined: the m m of "am Meer" is one closure, released once (as two,
    the first was never released and the second was too short to search for the release)."""
    joined: list[Phone] = []
    for phone in phones:
        letters = _symbols(phone.name)
        if joined and letters[:1] in ("m", "b", "p") and _symbols(joined[-1].name) == letters:
            joined[-1] = Phone(joined[-1].name, joined[-1].start_s, phone.end_s)
        else:
            joined.append(phone)
    return joined


Key = tuple[float, float, npt.NDArray[np.float32]]
"""(time, openness, shape)."""


def _vowel_keys(phone: Phone, elements: list[Mouth]) -> list[Key]:
    """A vowel holds its shape through its middle; a diphthong glides from its first element to its last."""
    duration = phone.end_s - phone.start_s
    settle = min(VOWEL_SETTLE_S, duration / 3)
    first, last = elements[0], elements[-1]
    keys = [(phone.start_s + settle, first[0], np.array(first[1], np.float32))]
    if len(elements) > 1:
        keys.append((phone.start_s + duration * 0.45, first[0], np.array(first[1], np.float32)))
    keys.append((phone.end_s - settle, last[0], np.array(last[1], np.float32)))
    return keys


def _consonant_mouth(phones: Sequence[Phone], index: int) -> Mouth | None:
    """A consonant's own mouth, or part of the coming vowel's (None when no vowel comes before a pause or closure)."""
    letters = _symbols(phones[index].name)
    if letters[0] in CONSONANT_MOUTHS:
        return CONSONANT_MOUTHS[letters[0]]
    for phone in phones[index + 1 :]:
        elements = vowel_elements(phone.name)
        if elements:
            return elements[0][0] * SOFT_CONSONANT_OPENNESS, elements[0][1]
        if not phone.name or _symbols(phone.name)[:1] in "mbp":
            return None
    return None


def _keys(phones: Sequence[Phone], audio: PhoneAudio | None) -> list[Key]:
    """Keyframes (time, openness, shape) in time order."""
    phones = _join_closures(phones)
    keys: list[Key] = []
    closures: list[list[Key]] = []
    """The keys of each closure whose release the audio shows: they override the keys of the sounds around it."""
    closed = np.array(CLOSED[1], np.float32)
    for index, phone in enumerate(phones):
        duration = phone.end_s - phone.start_s
        letters = _symbols(phone.name)
        if not letters and index and audio is not None and not audio.falls_silent(phone.start_s, phone.end_s):
            continue  # a pause the audio does not have: the voice sounds on, and the mouth with it
        if not letters or letters[0] in "mbpɱ":
            # Pauses and lip closures: closed from (nearly) the start to the very end, or to the release.
            following = phones[index + 1] if index + 1 < len(phones) else None
            vowel = vowel_elements(following.name) if following is not None and letters else []
            release = _release(phone, following, audio) if audio is not None and following and vowel else None
            if release is None:
                keys.append((phone.start_s + min(0.03, duration / 3), 0.0, closed))
                keys.append((phone.end_s, 0.0, closed))
            else:
                # Shut for at least CLOSURE_S before the release: espeak marks a p at its burst, after the silence.
                shut_from = min(phone.start_s + min(0.03, duration / 3), release - CLOSURE_S)
                openness, shape = vowel[0]
                part_open = (release + RELEASE_OPEN_S, openness * SOFT_CONSONANT_OPENNESS, np.array(shape, np.float32))
                closures.append([(shut_from, 0.0, closed), (release, 0.0, closed), part_open])
            continue
        elements = vowel_elements(phone.name)
        mouth = elements[0] if elements else _consonant_mouth(phones, index)
        if mouth is None:
            continue
        if index == 0 or not phones[index - 1].name:
            # From silence the lips and jaw are set before the sound starts, so a sound's shape holds from its
            # onset; keyed only where it settles the mouth opened 20-45 ms into the "f" of "five", the "w" of "we"
            # or the "o" of "the, old" (the phoneme path's late utterance starts and pauses in the benchmark).
            keys.append((phone.start_s + min(ONSET_SETTLE_S, duration / 4), mouth[0], np.array(mouth[1], np.float32)))
        if elements:
            keys.extend(_vowel_keys(phone, elements))
        else:
            keys.append((phone.start_s + duration / 2, mouth[0], np.array(mouth[1], np.float32)))
    if phones:
        # Shut before the first sound, so that the mouth opens over the first phone as it does after a pause (the
        # interpolation would otherwise hold it shut up to the first phone's own key, some 30 ms into its sound).
        keys.append((phones[0].start_s, 0.0, closed))
    for closure in closures:
        keys = [key for key in keys if not closure[0][0] <= key[0] <= closure[-1][0]] + closure
    keys.sort(key=lambda key: key[0])
    return keys


def analyse_phonemes(
    phones: Sequence[Phone],
    duration_s: float,
    frame_rate: float = DEFAULT_FRAME_RATE,
    start_s: float = 0.0,
    audio: PhoneAudio | None = None,
) -> RawFrames:
    """Raw frames for ``[start_s, duration_s)`` on the grid ``start_s + i / frame_rate``; with ``audio``, the lips
    part where it shows the releases of m, b and p."""
    count = max(0, int(np.ceil((duration_s - start_s) * frame_rate)))
    times = start_s + np.arange(count) / frame_rate
    keys = _keys(phones, audio)
    if not keys or not count:
        shape = np.tile(np.array(CLOSED[1], np.float32), (count, 1))
        return RawFrames(start_s, frame_rate, np.zeros(count, np.float32), shape)
    key_times = np.array([k[0] for k in keys])
    key_weights = np.array([k[1] * k[2] for k in keys], dtype=np.float32)
    weights = np.stack(
        [np.interp(times, key_times, key_weights[:, v], left=0.0, right=0.0) for v in range(len(VOWELS))], axis=1
    )
    openness = weights.sum(axis=1)
    shape = np.where(openness[:, None] > 1e-6, weights / np.maximum(openness[:, None], 1e-6), CLOSED[1])
    return RawFrames(start_s, frame_rate, openness.astype(np.float32), shape.astype(np.float32))
