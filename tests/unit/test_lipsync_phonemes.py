# ruff: noqa: RUF001  (IPA letters look like Latin ones on purpose)
"""The phoneme path: espeak's IPA phoneme names to mouth shapes, closures and coarticulation."""

from __future__ import annotations

import numpy as np
import pytest

from app.lipsync.phonemes import Phone, PhoneAudio, analyse_phonemes, phones_from_marks, vowel_class
from app.lipsync.release import find_release
from app.lipsync.track import VOWELS
from tests.unit.test_lipsync_analysis import RATE, vowel


def at(frames_openness: np.ndarray, t: float) -> float:
    return float(frames_openness[round(t * 100)])


@pytest.mark.parametrize(
    ("name", "classes"),
    [
        ("ˈɑː", ["aa"]),
        ("a", ["aa"]),
        ("æ", ["aa"]),
        ("iː", ["ih"]),
        ("ˌɪ", ["ih"]),
        ("u", ["ou"]),
        ("ʊ", ["ou"]),
        ("ɛ", ["ee"]),
        ("ˈe", ["ee"]),
        ("ɔ", ["oh"]),
        ("ˈoʊ", ["oh", "ou"]),
        ("aɪ", ["aa", "ih"]),
        ("ə", [""]),  # a schwa is none of the five
        ("m", []),
        ("", []),
    ],
)
def test_vowel_classes(name: str, classes: list[str]) -> None:
    assert vowel_class(name) == classes


def test_marks_become_segments_without_language_switches() -> None:
    phones = phones_from_marks([(0.0, "h"), (0.05, "(en)"), (0.05, "ə"), (0.1, ""), (0.3, "m")], 0.4)
    assert [(p.name, p.start_s, p.end_s) for p in phones] == [
        ("h", 0.0, 0.05),
        ("ə", 0.05, 0.1),
        ("", 0.1, 0.3),
        ("m", 0.3, 0.4),
    ]


def test_lips_close_on_m_b_p_and_pauses_and_open_on_vowels() -> None:
    # "a ma ba pa", a pause, then "a"
    names = ["a", "m", "a", "b", "a", "p", "a", "", "a"]
    phones = [Phone(n, i * 0.12, (i + 1) * 0.12) for i, n in enumerate(names)]
    frames = analyse_phonemes(phones, len(names) * 0.12)
    for index, name in enumerate(names):
        middle = index * 0.12 + 0.06
        if name == "a":
            assert at(frames.openness, middle) > 0.8
            assert VOWELS[int(frames.shape[round(middle * 100)].argmax())] == "aa"
        else:
            assert at(frames.openness, middle + 0.03) == pytest.approx(0.0, abs=1e-6), name


def test_f_and_v_nearly_close_w_rounds() -> None:
    phones = [Phone("a", 0.0, 0.12), Phone("f", 0.12, 0.24), Phone("a", 0.24, 0.36), Phone("w", 0.36, 0.48)]
    frames = analyse_phonemes(phones, 0.48)
    assert 0.05 < at(frames.openness, 0.18) < 0.2
    assert VOWELS[int(frames.shape[42].argmax())] == "ou"


def test_a_soft_consonant_takes_the_shape_of_the_coming_vowel() -> None:
    # The k of "ku" is rounded; the k of "ki" is spread.
    for coming, expected in (("u", "ou"), ("i", "ih")):
        phones = [Phone("", 0.0, 0.1), Phone("k", 0.1, 0.2), Phone(coming, 0.2, 0.4)]
        frames = analyse_phonemes(phones, 0.4)
        assert 0.1 < at(frames.openness, 0.15) < 0.5
        assert VOWELS[int(frames.shape[15].argmax())] == expected


def test_neighbours_blend_and_diphthongs_glide() -> None:
    phones = [Phone("a", 0.0, 0.2), Phone("i", 0.2, 0.4)]
    frames = analyse_phonemes(phones, 0.4)
    aa, ih = VOWELS.index("aa"), VOWELS.index("ih")
    boundary = frames.shape[20]
    assert boundary[aa] > 0.2 and boundary[ih] > 0.2, "the two vowels mix at their boundary"
    glide = analyse_phonemes([Phone("aɪ", 0.0, 0.3)], 0.3)
    assert glide.shape[5].argmax() == aa and glide.shape[24].argmax() == ih


def test_from_silence_the_mouth_takes_the_sound_s_shape_at_its_onset() -> None:
    # An utterance that begins with a vowel, with a soft consonant, with f, and a vowel after a pause: the mouth is
    # shut up to the sound's mark and holds the sound's own shape 10 ms later. Keyed where the sound settles, as
    # after another sound, the mouth opened 20-45 ms into the "f" of "five" or the "o" of "the, old".
    cases = [
        ([Phone("ˈoʊ", 0.02, 0.3)], 0.02, 0.75),
        ([Phone("h", 0.02, 0.08), Phone("ˈɛ", 0.08, 0.3)], 0.02, 0.55 * 0.65),
        ([Phone("f", 0.02, 0.1), Phone("ˈaɪ", 0.1, 0.3)], 0.02, 0.18),
        ([Phone("a", 0.0, 0.1), Phone("", 0.1, 0.2), Phone("ˈoʊ", 0.2, 0.4)], 0.2, 0.75),
    ]
    for phones, onset, own in cases:
        frames = analyse_phonemes(phones, 0.4)
        assert at(frames.openness, onset) == pytest.approx(0.0, abs=1e-6), phones
        assert at(frames.openness, onset + 0.01) == pytest.approx(own, abs=1e-3), phones


def test_after_another_sound_a_consonant_is_keyed_at_its_middle() -> None:
    # Coarticulation: between vowels the f's shape is reached only in its middle.
    frames = analyse_phonemes([Phone("a", 0.0, 0.1), Phone("f", 0.1, 0.2), Phone("a", 0.2, 0.3)], 0.3)
    assert at(frames.openness, 0.11) > 0.5 and at(frames.openness, 0.15) == pytest.approx(0.18, abs=1e-3)


def test_no_phonemes_means_a_closed_mouth() -> None:
    frames = analyse_phonemes([], 0.5)
    assert len(frames) == 50 and not frames.openness.any()


def synthetic_pa(aspiration_level: float) -> tuple[list[Phone], PhoneAudio]:
    """ "pa" as espeak gives it: silence, the p marked at its burst (0.30 s), the vowel marked after the aspiration
    (0.34 s)."""
    rng = np.random.default_rng(5)
    silence = np.zeros(int(0.3 * RATE), np.int16)
    burst = (rng.normal(0, 0.1, int(0.005 * RATE)) * 32767).astype(np.int16)
    aspiration = (rng.normal(0, aspiration_level, int(0.035 * RATE)) * 32767).astype(np.int16)
    pcm = np.concatenate([silence, burst, aspiration, vowel("aa", 0.3, level=0.1)])
    phones = [Phone("", 0.0, 0.3), Phone("p", 0.3, 0.34), Phone("ˈa", 0.34, 0.64)]
    return phones, PhoneAudio(pcm, RATE)


@pytest.mark.parametrize("aspiration_level", [0.02, 0.0])  # aspirated (English) or not (Spanish)
def test_with_the_audio_the_lips_part_at_the_release_not_at_the_vowel_mark(aspiration_level: float) -> None:
    phones, audio = synthetic_pa(aspiration_level)
    assert find_release(audio.pcm, RATE, 0.28, 0.345, burst=True) == pytest.approx(0.30, abs=0.004)
    with_audio = analyse_phonemes(phones, 0.64, audio=audio).openness
    without = analyse_phonemes(phones, 0.64).openness
    assert at(with_audio, 0.29) == 0.0, "shut before the burst"
    assert at(with_audio, 0.31) > 0.2 and at(without, 0.31) == 0.0
    np.testing.assert_allclose(with_audio[38:], without[38:])  # from its first key on, the vowel is unchanged


def test_an_m_parts_where_its_murmur_turns_into_the_vowel() -> None:
    pcm = np.concatenate([np.zeros(int(0.2 * RATE), np.int16), vowel("m", 0.15, level=0.03), vowel("ee", 0.3)])
    # espeak marks the vowel after the lips part: here 15 ms late.
    phones = [Phone("", 0.0, 0.2), Phone("m", 0.2, 0.365), Phone("e", 0.365, 0.65)]
    assert find_release(pcm, RATE, 0.315, 0.37, burst=False) == pytest.approx(0.35, abs=0.006)  # half a frame
    openness = analyse_phonemes(phones, 0.65, audio=PhoneAudio(pcm, RATE)).openness
    assert at(openness, 0.34) == 0.0 and at(openness, 0.36) > 0.1


def test_no_release_in_the_audio_keeps_the_marks() -> None:
    phones, audio = synthetic_pa(0.02)
    murmur_only = PhoneAudio(np.concatenate([np.zeros(int(0.2 * RATE), np.int16), vowel("m", 0.5)]), RATE)
    assert find_release(murmur_only.pcm, RATE, 0.3, 0.6, burst=False) is None
    assert find_release(np.zeros(RATE, np.int16), RATE, 0.3, 0.6, burst=True) is None
    np.testing.assert_array_equal(
        analyse_phonemes(phones, 0.64, audio=murmur_only).openness, analyse_phonemes(phones, 0.64).openness
    )
    # A window reaching past either end of the audio is clipped to it.
    assert find_release(audio.pcm, RATE, -0.1, 0.01, burst=True) is None
    assert find_release(audio.pcm, RATE, 0.6, 5.0, burst=False) is None


def test_a_doubled_m_is_one_closure_released_once() -> None:
    # "am Meer": espeak gives m m; the lips part 50 ms before the vowel's mark, where the murmur ends.
    pcm = np.concatenate([np.zeros(int(0.2 * RATE), np.int16), vowel("m", 0.17, level=0.03), vowel("ee", 0.3)])
    phones = [Phone("", 0.0, 0.2), Phone("m", 0.2, 0.36), Phone("m", 0.36, 0.42), Phone("ˈe", 0.42, 0.7)]
    openness = analyse_phonemes(phones, 0.7, audio=PhoneAudio(pcm, RATE)).openness
    assert at(openness, 0.36) == 0.0 and at(openness, 0.38) > 0.1
    assert at(analyse_phonemes(phones, 0.7).openness, 0.38) == 0.0  # by the marks alone: at the vowel's mark


def test_an_m_into_a_dark_vowel_is_released_too() -> None:
    # A murmur going into u rises only some 5-9 dB above 1 kHz, less than a stop's burst must.
    pcm = np.concatenate(
        [np.zeros(int(0.2 * RATE), np.int16), vowel("m", 0.15, level=0.02), vowel("ou", 0.3, level=0.05)]
    )
    released = find_release(pcm, RATE, 0.3, 0.37, burst=False)
    assert released == pytest.approx(0.35, abs=0.006)


def test_a_pause_closes_the_mouth_only_where_the_audio_falls_silent() -> None:
    # espeak marks pauses the audio does not have ("by the old bridge"): the voice sounds on at full level, and
    # shutting the mouth for 50 ms there looked like a stutter. A real silence still shuts it.
    phones = [Phone("a", 0.0, 0.2), Phone("", 0.2, 0.26), Phone("ˈoʊ", 0.26, 0.5)]
    sounding = PhoneAudio(np.concatenate([vowel("aa", 0.23), vowel("oh", 0.27)]), RATE)
    silent = PhoneAudio(
        np.concatenate([vowel("aa", 0.2), np.zeros(int(0.06 * RATE), np.int16), vowel("oh", 0.24)]), RATE
    )
    assert not sounding.falls_silent(0.2, 0.26) and silent.falls_silent(0.2, 0.26)
    assert analyse_phonemes(phones, 0.5, audio=sounding).openness[20:27].min() > 0.5
    assert analyse_phonemes(phones, 0.5, audio=silent).openness[22:26].max() == 0.0
    assert analyse_phonemes(phones, 0.5).openness[22:26].max() == 0.0  # without the audio, the marks are trusted
