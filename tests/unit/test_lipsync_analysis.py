"""The audio path, shaping and profiles on synthetic signals: vowels made of harmonics under formant envelopes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from app.lipsync.audio import AudioLipSync, analyse_audio, raw_from_features
from app.lipsync.features import FeatureFrames, SpectralAnalyzer, analyse_all
from app.lipsync.profile import (
    MIN_SPREAD,
    CalibrationError,
    ProfileStore,
    VoiceProfile,
    closure_templates,
    default_profile,
    merge_closures,
    profile_from_recordings,
    profile_key,
)
from app.lipsync.shaping import Shaper, ShapingSettings
from app.lipsync.track import VOWELS, CueTrack, RawFrames

RATE = 22_050
FORMANTS = {  # Peterson & Barney style averages (Hz) for the five vowels
    "aa": (730, 1090, 2440),
    "ih": (270, 2290, 3010),
    "ou": (300, 870, 2240),
    "ee": (530, 1840, 2480),
    "oh": (570, 840, 2410),
    "m": (250, 1200, 2200),  # a nasal murmur: low first resonance; weak upper ones
}


def vowel(
    name: str, seconds: float = 0.6, pitch: float = 120.0, level: float = 0.1, rate: int = RATE
) -> npt.NDArray[np.int16]:
    """A sustained vowel: harmonics of ``pitch`` weighted by three resonances, with a little vibrato."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(pitch * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))) / rate
    signal = np.zeros_like(t)
    for harmonic in range(1, int(5000 / pitch)):
        frequency = harmonic * pitch
        gain = sum(1.0 / (1.0 + ((frequency - f) / (0.1 * f + 60)) ** 2) for f in FORMANTS[name]) / harmonic**0.5
        signal += gain * np.sin(harmonic * phase)
    signal *= level / np.sqrt(np.mean(signal**2))
    return (np.clip(signal, -1, 1) * 32767).astype(np.int16)


@pytest.fixture(scope="module")
def synthetic_profile() -> VoiceProfile:
    # Spoken at two pitches, as a voice varies its pitch while calibrating.
    return profile_from_recordings(
        "synthetic",
        {name: (np.concatenate([vowel(name, pitch=110.0), vowel(name, pitch=140.0)]), RATE) for name in VOWELS},
    )


def shaped(pcm: npt.NDArray[np.int16], profile: VoiceProfile, rate: int = RATE) -> CueTrack:
    return Shaper().shape(analyse_audio(pcm, rate, profile))


@pytest.mark.parametrize("rate", [16_000, 22_050, 24_000, 44_100, 48_000])
def test_frames_come_at_least_60_per_second_at_every_rate(rate: int) -> None:
    analyzer = SpectralAnalyzer(rate)
    assert analyzer.frame_rate >= 60
    frames, frame_rate = analyse_all(np.zeros(rate, np.int16), rate)
    assert len(frames) == pytest.approx(frame_rate, abs=1)


def test_chunk_boundaries_do_not_change_the_frames() -> None:
    pcm = np.concatenate([vowel("aa", 0.3), vowel("ih", 0.3), np.zeros(3000, np.int16)])
    whole, _ = analyse_all(pcm, RATE)
    analyzer = SpectralAnalyzer(RATE)
    rng = np.random.default_rng(1)
    parts, start = [], 0
    while start < len(pcm):
        size = int(rng.integers(1, 2500))
        parts.append(analyzer.feed(pcm[start : start + size]))
        start += size
    parts.append(analyzer.flush())
    assert sum(len(p) for p in parts) == len(whole)
    np.testing.assert_allclose(np.concatenate([p.mfcc for p in parts]), whole.mfcc, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(np.concatenate([p.level_db for p in parts]), whole.level_db, atol=1e-3)


def test_streaming_raw_frames_are_numbered_from_the_utterance_start(synthetic_profile: VoiceProfile) -> None:
    path = AudioLipSync(synthetic_profile, RATE)
    first = path.feed(vowel("aa", 0.25))
    second = path.feed(vowel("aa", 0.25))
    assert first.start_s == 0.0
    assert second.start_s == pytest.approx(len(first) / path.frame_rate)


def test_holding_small_chunks_back_changes_nothing_but_when_frames_come(synthetic_profile: VoiceProfile) -> None:
    pcm = np.concatenate([vowel("aa", 0.4), np.zeros(2000, np.int16), vowel("ou", 0.4)])
    whole = analyse_audio(pcm, RATE, synthetic_profile)
    path = AudioLipSync(synthetic_profile, RATE, min_frames=20)
    chunk = round(0.06 * RATE)
    parts = [path.feed(pcm[start : start + chunk]) for start in range(0, len(pcm), chunk)]
    assert [len(p) for p in parts[:3]] == [0, 0, 0], "three 60 ms chunks are held (fewer than 20 frames)"
    assert len(parts[3]) >= 20 and parts[3].start_s == 0.0
    assert all(len(p) == 0 or len(p) >= 20 for p in parts)
    parts.append(path.flush())
    np.testing.assert_allclose(np.concatenate([p.openness for p in parts]), whole.openness, atol=1e-4)
    np.testing.assert_allclose(np.concatenate([p.shape for p in parts]), whole.shape, atol=1e-4)


def test_feeding_without_hold_or_draining_returns_the_held_frames(synthetic_profile: VoiceProfile) -> None:
    path = AudioLipSync(synthetic_profile, RATE, min_frames=50)
    assert len(path.feed(vowel("aa", 0.1))) == 0 and path.held_samples == round(0.1 * RATE)
    drained = path.drain()
    assert len(drained) >= 8 and path.held_samples == 0
    unheld = path.feed(vowel("aa", 0.1), hold=False)
    assert unheld.start_s == pytest.approx(len(drained) / path.frame_rate) and len(unheld) >= 9


def test_the_mouth_opens_on_the_second_open_frame_and_closes_at_once(synthetic_profile: VoiceProfile) -> None:
    # Frames as the analyser would give them: an "aa" at the voice's level, or silence.
    pattern = np.array([0, 0, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0], dtype=bool)
    level = np.where(pattern, synthetic_profile.level_db, -90.0).astype(np.float32)
    mfcc = np.repeat(synthetic_profile.means[:1], len(pattern), axis=0)
    features = FeatureFrames(level, mfcc, np.zeros(len(pattern), np.float32))
    openness, _shape, _carry = raw_from_features(features, synthetic_profile)
    opened = openness > ShapingSettings().gate
    # A lone open frame (a window straddling a click or a short closure's edge) leaves the mouth shut; a run opens
    # one frame late (its first window is dominated by sound that has not begun yet); closing is immediate.
    assert opened.tolist() == [False] * 6 + [True] * 3 + [False] * 3 + [True, False]
    # The delay carries across calls: split anywhere, the frames are the same.
    for split in range(1, len(pattern)):
        first = FeatureFrames(level[:split], mfcc[:split], features.brightness_db[:split])
        rest = FeatureFrames(level[split:], mfcc[split:], features.brightness_db[split:])
        head, _, carry = raw_from_features(first, synthetic_profile)
        tail, _, _ = raw_from_features(rest, synthetic_profile, carry)
        np.testing.assert_array_equal(np.concatenate([head, tail]), openness)


def test_silence_stays_closed(synthetic_profile: VoiceProfile) -> None:
    assert not shaped(np.zeros(RATE, np.int16), synthetic_profile).weights.any()
    hiss = (np.random.default_rng(2).normal(0, 10, RATE)).astype(np.int16)  # about -70 dBFS
    assert not shaped(hiss, synthetic_profile).weights.any()


@pytest.mark.parametrize("name", VOWELS)
def test_a_sustained_vowel_gives_that_vowel(synthetic_profile: VoiceProfile, name: str) -> None:
    # Another pitch and level than the calibration, so the profile must generalise.
    track = shaped(vowel(name, 0.8, pitch=125.0, level=0.05), synthetic_profile)
    middle = track.weights[15:-15]
    assert middle.sum(axis=1).min() > 0.5, "the mouth is open while the vowel sounds"
    winners = [VOWELS[i] for i in middle.argmax(axis=1)]
    assert winners.count(name) / len(winners) > 0.9, winners


def test_a_calibrated_lip_closure_closes_the_mouth_while_it_sounds(synthetic_profile: VoiceProfile) -> None:
    murmur = vowel("m", 0.6, pitch=125.0, level=0.05)
    assert shaped(murmur, synthetic_profile).weights[15:-15].sum(axis=1).max() > 0.1, "without it: some opening"
    closing = with_closure(synthetic_profile)
    assert shaped(murmur, closing).weights[15:-15].max() < 0.05
    # The vowels stay open with the closure known.
    assert shaped(vowel("aa", 0.6, pitch=125.0, level=0.05), closing).weights[15:-15].sum(axis=1).min() > 0.5
    assert VoiceProfile.from_json(json.loads(json.dumps(closing.to_json()))).closed is not None


def with_closure(profile: VoiceProfile) -> VoiceProfile:
    """The profile with the voice's m murmur as its lip closure, as calibration with phonemes gives it."""
    prototype, _ = analyse_all(vowel("m", 0.6, pitch=115.0), RATE)
    return VoiceProfile(
        "with-m", profile.means, profile.spread, profile.level_db, prototype.mfcc[20:-20].mean(axis=0)[None, :]
    )


def test_calibration_without_phonemes_finds_the_lip_closures_in_the_audio() -> None:
    # "ama", "a(silence)a" and "a  a" (a pause between words): only the m, a dip that still sounds, is a closure.
    def gap(seconds: float) -> npt.NDArray[np.int16]:
        return np.zeros(int(seconds * RATE), np.int16)

    def loud() -> npt.NDArray[np.int16]:
        return vowel("aa", 0.25, pitch=125.0, level=0.1)

    mama = np.concatenate([loud(), vowel("m", 0.07, pitch=125.0, level=0.02), loud()])
    papa = np.concatenate([loud(), gap(0.07), loud()])
    pause = np.concatenate([loud(), vowel("m", 0.3, pitch=125.0, level=0.02), loud()])
    assert len(closure_templates(mama, RATE)) == 1
    assert closure_templates(papa, RATE) == [] and closure_templates(pause, RATE) == []
    # The template is the murmur: the profile built with it closes the mouth on an m, as one learnt with phonemes.
    recordings = {name: (np.concatenate([vowel(name, pitch=110.0), vowel(name, pitch=140.0)]), RATE) for name in VOWELS}
    learnt = profile_from_recordings("audio-only", recordings, [(mama, RATE), (papa, RATE)])
    assert learnt.closed is not None and len(learnt.closed) == 1
    murmur = vowel("m", 0.6, pitch=125.0, level=0.05)
    assert shaped(murmur, learnt).weights[15:-15].max() < 0.05
    assert shaped(vowel("aa", 0.6, pitch=125.0, level=0.05), learnt).weights[15:-15].sum(axis=1).min() > 0.5
    assert profile_from_recordings("no-closures", recordings).closed is None


def test_the_same_closure_found_twice_is_averaged_into_one_template() -> None:
    def word(closure: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        return np.concatenate([vowel("aa", 0.25, level=0.1), closure, vowel("aa", 0.25, level=0.1)])

    t = np.arange(int(0.07 * RATE)) / RATE
    bar = ((0.02 * np.sin(2 * np.pi * 125 * t) + 0.002 * np.sin(2 * np.pi * 250 * t)) * 32767).astype(np.int16)
    murmurs = [word(vowel("m", 0.07, pitch=pitch, level=0.02)) for pitch in (120.0, 130.0)]
    recordings = {name: (np.concatenate([vowel(name, pitch=110.0), vowel(name, pitch=140.0)]), RATE) for name in VOWELS}
    assert [len(closure_templates(pcm, RATE)) for pcm in murmurs] == [1, 1]
    # "Mama" said twice: one m, the mean of both takes (each take alone is a noisier estimate).
    twice = profile_from_recordings("m-twice", recordings, [(pcm, RATE) for pcm in murmurs])
    assert twice.closed is not None and len(twice.closed) == 1
    expected = (closure_templates(murmurs[0], RATE)[0] + closure_templates(murmurs[1], RATE)[0]) / 2
    np.testing.assert_allclose(twice.closed[0], expected, atol=1e-4)
    # An m and a b's voice bar are different closures: both stay.
    both = profile_from_recordings("m-and-b", recordings, [(murmurs[0], RATE), (word(bar), RATE)])
    assert both.closed is not None and len(both.closed) == 2
    assert merge_closures([], both.spread) == []


def test_the_words_of_a_whole_mouth_shape_give_its_mean_and_single_vowels_its_spread() -> None:
    single = {name: (vowel(name, pitch=120.0), RATE) for name in VOWELS}
    # Each shape's words: two vowels of it (here the vowel at two pitches, which moves its coefficients).
    shape_words = {
        name: (np.concatenate([vowel(name, pitch=100.0), vowel(name, pitch=160.0)]), RATE) for name in VOWELS
    }
    combined = profile_from_recordings("v", single, classes=shape_words)
    np.testing.assert_allclose(combined.means, profile_from_recordings("v", shape_words).means, atol=1e-5)
    np.testing.assert_allclose(combined.spread, profile_from_recordings("v", single).spread, atol=1e-5)
    assert combined.level_db == pytest.approx(profile_from_recordings("v", single).level_db)
    with pytest.raises(CalibrationError, match="no recording for ou"):
        profile_from_recordings("v", single, classes={k: v for k, v in shape_words.items() if k != "ou"})


def opening_s(track: CueTrack) -> float:
    return float(track.times()[np.argmax(track.openness() > 0.1)])


def test_with_the_closures_known_a_burst_opens_the_mouth_before_its_vowel(synthetic_profile: VoiceProfile) -> None:
    # Silence, then 40 ms of a p's burst and aspiration (noise 15 dB under the vowel), then the vowel at 0.34 s.
    aspiration = (np.random.default_rng(4).normal(0, 0.015, int(0.04 * RATE)) * 32767).astype(np.int16)
    pcm = np.concatenate([np.zeros(int(0.3 * RATE), np.int16), aspiration, vowel("aa", 0.3, level=0.1)])
    lead = ShapingSettings().lead_s
    released = opening_s(shaped(pcm, with_closure(synthetic_profile))) + lead
    assert 0.29 < released < 0.325, "the lips part with the burst (a frame or two late), not with the vowel"
    # Without the closures known, only vowel-like sound opens the mouth: the voice bar or murmur of a b or m could
    # not be told from a release.
    assert opening_s(shaped(pcm, synthetic_profile)) + lead > 0.33


def hiss(seconds: float, below_voice_db: float, profile: VoiceProfile, seed: int = 5) -> npt.NDArray[np.int16]:
    """Noise (a th, f or h) ``below_voice_db`` under the voice's vowel level."""
    rms = 10 ** ((profile.level_db - below_voice_db) / 20)
    return (np.random.default_rng(seed).normal(0, rms, int(seconds * RATE)) * 32767).astype(np.int16)


def gap(seconds: float) -> npt.NDArray[np.int16]:
    return np.zeros(int(seconds * RATE), np.int16)


def test_a_faint_sound_after_a_pause_opens_the_mouth_part_way_at_once(synthetic_profile: VoiceProfile) -> None:
    # "Thank": 80 ms of a th 26 dB under the vowels (28 by the voice's Hann-weighted level), after the silence
    # before the utterance (20 ms of it: a th from the very first sample cannot be told from steady noise until the
    # vowel comes, see test_steady_noise_never_opens_the_mouth) or after a pause.
    profile = with_closure(synthetic_profile)
    lead = ShapingSettings().lead_s
    for before in (0.02, 0.3):
        pcm = np.concatenate([gap(before), hiss(0.08, 26.0, profile), vowel("ee", 0.3, level=0.1)])
        track = shaped(pcm, profile)
        # Within a frame or two (the mouth opens on the second open frame), not 100 ms later with the vowel.
        assert before - 0.005 < opening_s(track) + lead < before + 0.035, "open with the th"
        during = track.sample(np.arange(before + 0.03, before + 0.07, 0.01) - lead).sum(axis=1)
        assert during.min() > 0.2 and during.max() < 0.4, "part way: a consonant, not a vowel"


def test_a_stop_s_short_silence_is_no_pause(synthetic_profile: VoiceProfile) -> None:
    # The same faint noise after 40 ms of silence inside a word (a t's closure, two silent frames) opens nothing:
    # only a pause of at least three silent frames does.
    profile = with_closure(synthetic_profile)
    pcm = np.concatenate([vowel("aa", 0.3), gap(0.04), hiss(0.08, 26.0, profile), vowel("ee", 0.3)])
    track = shaped(pcm, profile)
    lead = ShapingSettings().lead_s
    assert track.sample(np.arange(0.36, 0.41, 0.01) - lead).sum(axis=1).max() < 0.05


def test_an_m_after_a_pause_keeps_the_lips_shut(synthetic_profile: VoiceProfile) -> None:
    profile = with_closure(synthetic_profile)
    pcm = np.concatenate([gap(0.3), vowel("m", 0.12, pitch=125.0, level=0.03), vowel("aa", 0.3)])
    track = shaped(pcm, profile)
    lead = ShapingSettings().lead_s
    assert track.sample(np.arange(0.3, 0.41, 0.01) - lead).max() < 0.05
    assert opening_s(track) + lead > 0.41


def test_the_pause_carries_across_chunks(synthetic_profile: VoiceProfile) -> None:
    profile = with_closure(synthetic_profile)
    pcm = np.concatenate(
        [gap(0.1), hiss(0.1, 28.0, profile), vowel("aa", 0.2), gap(0.04), hiss(0.1, 28.0, profile), vowel("ee", 0.2)]
    )
    whole = analyse_audio(pcm, RATE, profile)
    for chunk in (5 * RATE // 1000, 23 * RATE // 1000):
        path = AudioLipSync(profile, RATE)
        parts = [path.feed(pcm[i : i + chunk]) for i in range(0, len(pcm), chunk)] + [path.flush()]
        np.testing.assert_allclose(np.concatenate([p.openness for p in parts]), whole.openness, atol=1e-6)


def noise_at(dbfs: float, seconds: float, kind: str, seed: int = 7) -> npt.NDArray[np.float64]:
    """Steady noise at ``dbfs`` RMS: white hiss (a noisy recording, a codec's floor) or mains hum with harmonics."""
    count = int(seconds * RATE)
    if kind == "hiss":
        signal = np.random.default_rng(seed).normal(0, 1, count)
    else:
        t = np.arange(count) / RATE
        signal = np.zeros(count)
        for k in range(1, 8):
            signal += np.sin(2 * np.pi * 50 * k * t + k) / k
    scaled: npt.NDArray[np.float64] = signal * (10 ** (dbfs / 20) / np.sqrt(np.mean(signal**2))) * 32767
    return scaled


def speech_in(noise: npt.NDArray[np.float64], *words: tuple[npt.NDArray[np.int16], float]) -> npt.NDArray[np.int16]:
    """The noise with each word added from its start time."""
    mixed = noise.copy()
    for speech, at_s in words:
        mixed[int(at_s * RATE) : int(at_s * RATE) + len(speech)] += speech
    return np.clip(mixed, -32768, 32767).astype(np.int16)


@pytest.mark.parametrize("kind", ["hiss", "hum"])
@pytest.mark.parametrize("dbfs", [-70.0, -55.0, -45.0, -40.0])
def test_steady_noise_never_opens_the_mouth(synthetic_profile: VoiceProfile, kind: str, dbfs: float) -> None:
    # Noise from the first sample to the last, and two words in it: "the-ee" after 0.4 s of noise, "aa" after a
    # pause of 0.4 s, then 0.4 s of noise. The voice's vowels are at -20 dBFS: the noise is 20-50 dB under them.
    profile = with_closure(synthetic_profile)
    words = [np.concatenate([hiss(0.08, 26.0, profile), vowel("ee", 0.3, level=0.1)]), vowel("aa", 0.3, level=0.1)]
    noise = noise_at(dbfs, 2.0, kind)
    pcm = speech_in(noise, (words[0], 0.4), (words[1], 1.18))
    track = shaped(pcm, profile)
    lead = ShapingSettings().lead_s
    # The noise alone: before the words (up to 20 ms before the first), and from 80 ms after each (the mouth closes).
    for start, end in ((0.0, 0.38), (0.86, 1.16), (1.56, 1.96)):
        shown = track.sample(np.arange(start, end, 0.01) - lead).sum(axis=1)
        assert shown.max() < 0.02, f"open to {shown.max():.2f} on noise alone at {start}-{end} s"
    for start in (0.52, 1.2):
        # (Hiss 20-25 dB under these synthetic vowels fills their spectral valleys and makes them less vowel-like,
        # as it did before the noise floor: the mouth then opens part way.)
        shown = track.sample(np.arange(start, start + 0.25, 0.01) - lead).sum(axis=1)
        assert shown.mean() > 0.3, f"the words open it: {shown.mean():.2f} at {start} s"


def test_a_faint_sound_over_a_noise_floor_still_opens_the_mouth(synthetic_profile: VoiceProfile) -> None:
    # The th of test_a_faint_sound_after_a_pause..., 28 dB under the voice, after a pause in hiss 20 dB below it.
    profile = with_closure(synthetic_profile)
    word = np.concatenate([hiss(0.08, 26.0, profile), vowel("ee", 0.3, level=0.1)])
    track = shaped(speech_in(noise_at(profile.level_db - 48.0, 1.0, "hiss"), (word, 0.4)), profile)
    assert 0.395 < opening_s(track) + ShapingSettings().lead_s < 0.435, "open with the th, not with the vowel"


def utterance_at(gain_db: float, profile: VoiceProfile) -> npt.NDArray[np.int16]:
    """Five syllables, each a faint th into a vowel, 150 ms apart, ``gain_db`` from the calibrated level."""
    syllables = [
        np.concatenate([gap(0.15), hiss(0.05, 26.0, profile), vowel(name, 0.25, level=0.1)])
        for name in ("aa", "ee", "oh", "ih", "aa")
    ]
    return (np.concatenate(syllables).astype(np.float64) * 10 ** (gain_db / 20)).astype(np.int16)


def test_a_quieter_or_louder_delivery_opens_the_mouth_about_as_wide(synthetic_profile: VoiceProfile) -> None:
    profile = with_closure(synthetic_profile)
    lead = ShapingSettings().lead_s
    vowel_times = np.concatenate([0.2 + k * 0.45 + np.arange(0.05, 0.2, 0.01) for k in range(5)]) - lead

    def openness(gain_db: float) -> npt.NDArray[np.float32]:
        shown = shaped(utterance_at(gain_db, profile), profile).sample(vowel_times).sum(axis=1)
        per_syllable: npt.NDArray[np.float32] = shown.reshape(5, -1).mean(axis=1)
        return per_syllable

    calibrated = openness(0.0)
    assert calibrated.min() > 0.7
    for gain_db in (-10.0, -20.0, 6.0):
        per_syllable = openness(gain_db)
        # Within a syllable or two the mouth opens as wide as at the calibrated level.
        assert per_syllable[2:].min() > 0.9 * calibrated.mean(), (gain_db, per_syllable)
    assert openness(-30.0)[2:].mean() > 0.3, "30 dB down the voice still moves the mouth visibly"


def test_a_quiet_delivery_keeps_its_pauses_and_noise_shut(synthetic_profile: VoiceProfile) -> None:
    # The same utterance 20 dB down, in hiss 40 dB under the calibrated level (20 under the quiet voice).
    profile = with_closure(synthetic_profile)
    lead = ShapingSettings().lead_s
    quiet = utterance_at(-20.0, profile)
    pcm = speech_in(noise_at(profile.level_db - 40.0, len(quiet) / RATE + 0.5, "hiss"), (quiet, 0.0))
    track = shaped(pcm, profile)
    for k in range(1, 5):  # the pauses between syllables, from 60 ms after a syllable (the mouth closes)
        start = k * 0.45 + 0.06
        assert track.sample(np.arange(start, start + 0.07, 0.01) - lead).max() < 0.02, f"pause {k}"
    assert track.sample(np.arange(2.3, 2.7, 0.01) - lead).max() < 0.02, "the noise after it"


def test_the_noise_floor_and_the_voice_level_carry_across_chunks(synthetic_profile: VoiceProfile) -> None:
    profile = with_closure(synthetic_profile)
    quiet = utterance_at(-15.0, profile)
    pcm = speech_in(noise_at(-60.0, len(quiet) / RATE + 0.3, "hiss"), (quiet, 0.2))
    whole = analyse_audio(pcm, RATE, profile)
    for chunk in (7 * RATE // 1000, 60 * RATE // 1000):
        path = AudioLipSync(profile, RATE)
        parts = [path.feed(pcm[i : i + chunk]) for i in range(0, len(pcm), chunk)] + [path.flush()]
        np.testing.assert_allclose(np.concatenate([p.openness for p in parts]), whole.openness, atol=1e-6)


def test_a_voice_bar_keeps_the_lips_shut(synthetic_profile: VoiceProfile) -> None:
    t = np.arange(int(0.4 * RATE)) / RATE
    bar = ((0.05 * np.sin(2 * np.pi * 120 * t) + 0.005 * np.sin(2 * np.pi * 240 * t)) * 32767).astype(np.int16)
    assert shaped(bar, with_closure(synthetic_profile)).weights[5:-5].max() < 0.05


def test_the_mouth_opens_before_the_sound_by_the_lead(synthetic_profile: VoiceProfile) -> None:
    pcm = np.concatenate([np.zeros(RATE // 2, np.int16), vowel("aa", 0.4)])
    track = Shaper(ShapingSettings(lead_s=0.05)).shape(analyse_audio(pcm, RATE, synthetic_profile))
    opened = track.times()[np.argmax(track.openness() > 0.1)]
    assert 0.5 - 0.07 < opened < 0.5 - 0.02


def raw(openness: list[float], shapes: list[list[float]]) -> RawFrames:
    return RawFrames(0.0, 100.0, np.array(openness, np.float32), np.array(shapes, np.float32))


def test_shaping_blends_at_most_the_two_strongest_vowels() -> None:
    frames = raw([0.8] * 30, [[0.3, 0.25, 0.2, 0.15, 0.1]] * 30)
    track = Shaper().shape(frames)
    assert ((track.weights > 0).sum(axis=1) <= 2).all()
    last = track.weights[-1]
    assert last[0] > last[1] > 0 and not last[2:].any()


def test_vowel_changes_never_show_three_vowels_or_over_open() -> None:
    # aa, then ih, then ou, fully open: smoothing each weight after choosing two blended the outgoing vowel back in
    # (three non-zero weights summing to 1.29 on these frames).
    shapes = [[1.0, 0, 0, 0, 0]] * 6 + [[0, 1.0, 0, 0, 0]] * 3 + [[0, 0, 1.0, 0, 0]] * 10
    track = Shaper(ShapingSettings(ceiling=0.9)).shape(raw([1.0] * 19, shapes))
    assert ((track.weights > 0).sum(axis=1) <= 2).all()
    assert track.weights.sum(axis=1).max() <= 0.9 + 1e-6
    # The shape still follows: ih leads in the middle, ou at the end.
    assert int(np.argmax(track.weights[8])) == 1 and int(np.argmax(track.weights[-1])) == 2


def test_attack_is_faster_than_release_and_the_gate_closes() -> None:
    shaper = Shaper(ShapingSettings(lead_s=0.0))
    up = shaper.shape(raw([1.0] * 20, [[1, 0, 0, 0, 0]] * 20)).openness()
    # Half as open in another shape (release), and then silence below the gate.
    down = shaper.shape(raw([0.5] * 20, [[0, 1, 0, 0, 0]] * 20)).openness()
    frames_to_rise = int(np.argmax(up > 0.9))
    frames_to_fall = int(np.argmax(down < 0.6))
    assert frames_to_rise < frames_to_fall
    gated = shaper.shape(raw([0.05] * 20, [[0, 1, 0, 0, 0]] * 20))
    assert not gated.weights[-1].any()


def test_shaping_in_batches_equals_shaping_at_once() -> None:
    rng = np.random.default_rng(3)
    shapes = rng.dirichlet(np.ones(5), 40).astype(np.float32)
    openness = rng.uniform(0, 1, 40).astype(np.float32)
    whole = Shaper().shape(RawFrames(0.0, 100.0, openness, shapes))
    shaper = Shaper()
    first = shaper.shape(RawFrames(0.0, 100.0, openness[:17], shapes[:17]))
    second = shaper.shape(RawFrames(0.17, 100.0, openness[17:], shapes[17:]))
    np.testing.assert_allclose(np.concatenate([first.weights, second.weights]), whole.weights, atol=1e-6)
    assert whole.start_s == pytest.approx(-0.030)


def test_bad_shaping_settings_are_refused() -> None:
    for bad in ({"lead_s": -0.01}, {"lead_s": 0.6}, {"attack_s": 0.0}, {"ceiling": 0.0}):
        with pytest.raises(ValueError):
            ShapingSettings(**bad)


def test_profiles_round_trip_through_the_store(tmp_path: Path, synthetic_profile: VoiceProfile) -> None:
    store = ProfileStore(tmp_path)
    assert store.load("espeak:en-us") is None
    assert store.load_or_default("espeak:en-us").voice == default_profile().voice
    saved = store.save(VoiceProfile("espeak:en-us", synthetic_profile.means, synthetic_profile.spread, -20.0))
    assert saved.parent == tmp_path / "lipsync" / "voices"
    loaded = store.load("espeak:en-us")
    assert loaded is not None and loaded.level_db == -20.0
    np.testing.assert_allclose(loaded.means, synthetic_profile.means, atol=1e-4)
    assert store.voices() == ["espeak:en-us"]


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps({"format": 1}),
        json.dumps({"format": 9}),
        json.dumps({**default_profile().to_json(), "spread": [1, 2]}),
        json.dumps({**default_profile().to_json(), "spread": [0.0] * 12}),
        json.dumps({**default_profile().to_json(), "spread": [1.0] * 11 + [-1.0]}),
    ],
)
def test_a_damaged_profile_is_a_clear_error(tmp_path: Path, content: str) -> None:
    store = ProfileStore(tmp_path)
    store.path_of("x").parent.mkdir(parents=True)
    store.path_of("x").write_text(content, encoding="utf-8")
    with pytest.raises(CalibrationError):
        store.load("x")


def test_a_stored_spread_below_the_floor_is_raised_to_it(tmp_path: Path) -> None:
    # A hand-edited profile with a tiny spread would let that coefficient swamp the distances (zero gave NaN weights):
    # it is read as calibration would have written it.
    data = {**default_profile().to_json(), "spread": [1e-6] * 12}
    profile = VoiceProfile.from_json(data)
    assert (profile.spread == np.float32(MIN_SPREAD)).all()
    raw = analyse_audio(vowel("aa"), RATE, profile)
    assert np.isfinite(raw.openness).all() and np.isfinite(raw.shape).all()


def test_profile_file_names_are_safe() -> None:
    assert profile_key("espeak:en-us+f3") == "espeak_en-us_f3"
    assert profile_key("../../etc/passwd") == "etc_passwd"
    assert profile_key("///") == "voice"


def test_calibration_without_audio_fails_clearly() -> None:
    silent = {name: (np.zeros(RATE, np.int16), RATE) for name in VOWELS}
    with pytest.raises(CalibrationError, match="no audible audio"):
        profile_from_recordings("mute", silent)
    with pytest.raises(CalibrationError, match="no recording"):
        profile_from_recordings("partial", {"aa": (vowel("aa"), RATE)})
