"""The benchmark's ground truth for when the lips part, on synthetic signals whose release time is known."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from benchmarks.lipsync_onsets import envelope_onset, lip_release
from tests.unit.test_lipsync_analysis import RATE, vowel


def assert_at(release: float | None, expected_s: float, late_s: float = 0.001) -> None:
    """Within the detector's resolution: up to 6 ms early (its 5 ms windows and 8 ms smoothing see an abrupt step
    coming), 1 ms late (``late_s``)."""
    assert release is not None
    assert -0.006 <= release - expected_s <= late_s, f"release at {release:.4f} s, expected {expected_s:.4f} s"


def noise(seconds: float, level: float, seed: int = 0) -> npt.NDArray[np.int16]:
    samples = np.random.default_rng(seed).normal(0.0, level, int(seconds * RATE))
    return (np.clip(samples, -1, 1) * 32767).astype(np.int16)


def silence(seconds: float) -> npt.NDArray[np.int16]:
    return np.zeros(int(seconds * RATE), np.int16)


def voice_bar(seconds: float) -> npt.NDArray[np.int16]:
    """A b's closure: the voice sounding behind shut lips, nothing but its fundamental and a weak second harmonic."""
    t = np.arange(int(seconds * RATE)) / RATE
    return ((0.05 * np.sin(2 * np.pi * 120 * t) + 0.005 * np.sin(2 * np.pi * 240 * t)) * 32767).astype(np.int16)


def test_a_p_opens_at_its_burst_not_at_the_vowel() -> None:
    # Silence, a 10 ms burst at 0.300 s, 40 ms of quieter aspiration with a dip, then the vowel (marked late, as
    # espeak does, at the end of the aspiration).
    pcm = np.concatenate(
        [vowel("aa", 0.2), silence(0.1), noise(0.01, 0.1), noise(0.02, 0.02), noise(0.02, 0.004), vowel("aa", 0.3)]
    )
    release = lip_release(pcm, RATE, "p", closure_s=0.3, vowel_s=0.35, vowel_end_s=0.65)
    assert_at(release, 0.300)


def test_a_weak_burst_is_the_release_too() -> None:
    # A burst 20 dB under the vowel, then weaker aspiration: halfway from the closure to the vowel lies above the
    # burst, and the release was put at the vowel, 30 ms late (espeak's female voice has such bursts).
    pcm = np.concatenate(
        [vowel("aa", 0.2), silence(0.1), noise(0.005, 0.01), noise(0.03, 0.004), vowel("aa", 0.3, level=0.2)]
    )
    release = lip_release(pcm, RATE, "p", closure_s=0.3, vowel_s=0.335, vowel_end_s=0.6)
    assert_at(release, 0.300)


def test_a_b_opens_at_its_burst_after_the_voice_bar() -> None:
    pcm = np.concatenate([vowel("ee", 0.2), voice_bar(0.08), noise(0.008, 0.08), vowel("oh", 0.3)])
    release = lip_release(pcm, RATE, "b", closure_s=0.2, vowel_s=0.3, vowel_end_s=0.6)
    assert_at(release, 0.280)


def test_a_stop_after_a_pause_opens_when_sound_starts_even_if_marked_after_it() -> None:
    pcm = np.concatenate([silence(0.25), noise(0.01, 0.1, seed=3), vowel("aa", 0.3)])
    # The stop's mark 10 ms late: the silence before it is still its closure.
    release = lip_release(pcm, RATE, "b", closure_s=0.26, vowel_s=0.29, vowel_end_s=0.56)
    assert_at(release, 0.250)


@pytest.mark.parametrize("after", ["aa", "ee", "ih"])
def test_an_m_opens_where_the_murmur_turns_into_the_vowel(after: str) -> None:
    # The murmur from 0.2 s to 0.35 s; espeak would mark the vowel 15 ms after the lips part.
    pcm = np.concatenate([silence(0.2), vowel("m", 0.15, level=0.05), vowel(after, 0.3)])
    release = lip_release(pcm, RATE, "m", closure_s=0.2, vowel_s=0.365, vowel_end_s=0.65)
    # A voiced sound is known only once its first pitch pulses are heard: up to about half a period (4 ms) late.
    assert_at(release, 0.350, late_s=0.005)


def test_a_murmur_that_never_opens_has_no_release() -> None:
    pcm = np.concatenate([silence(0.1), vowel("m", 0.4, level=0.05)])
    assert lip_release(pcm, RATE, "m", closure_s=0.1, vowel_s=0.3, vowel_end_s=0.5) is None
    assert lip_release(silence(0.5), RATE, "p", closure_s=0.1, vowel_s=0.3, vowel_end_s=0.5) is None


def test_the_envelope_onset_after_a_pause_is_where_sound_starts() -> None:
    pcm = np.concatenate([vowel("aa", 0.2), silence(0.2), vowel("oh", 0.2)])
    assert envelope_onset(pcm, RATE, 0.25, 0.6) == pytest.approx(0.4, abs=0.006)
    assert envelope_onset(pcm, RATE, 0.25, 0.35) is None
    # Searched from the pause's mark, while the vowel before it still sounds: the rise after the silence.
    assert envelope_onset(pcm, RATE, 0.15, 0.6) == pytest.approx(0.4, abs=0.006)


def test_a_pause_the_audio_does_not_have_is_no_onset() -> None:
    # espeak marks a pause in "by the old bridge" where the voice only dips by 10 dB: the mouth need not close.
    dip = (vowel("ih", 0.06).astype(np.float64) * 0.3).astype(np.int16)
    pcm = np.concatenate([vowel("aa", 0.2), dip, vowel("oh", 0.2)])
    assert envelope_onset(pcm, RATE, 0.2, 0.4) is None


def test_the_gaps_between_a_low_voice_s_pulses_are_no_pause() -> None:
    # 5 ms of voice, 5 ms of silence: a 100 Hz voice's pulses seen through 5 ms windows.
    pulses = np.concatenate([np.concatenate([vowel("aa", 0.005), silence(0.005)]) for _ in range(20)])
    pcm = np.concatenate([vowel("aa", 0.2), pulses, vowel("oh", 0.2)])
    assert envelope_onset(pcm, RATE, 0.2, 0.45) is None


def test_sound_from_the_first_sample_rises_from_the_silence_before_the_utterance() -> None:
    assert envelope_onset(vowel("aa", 0.2), RATE, 0.0, 0.1) == 0.0
