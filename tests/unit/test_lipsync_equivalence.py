"""The audio path's fast code against references computed the slow, obvious way.

The streaming analyser and the shaper are written for speed (few numpy calls per chunk, a hand-unrolled loop);
these references compute the same definitions frame by frame in float64, so that a faster rewrite can only change
the results by float rounding.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from app.lipsync.features import (
    ANALYSIS_RATE,
    BRIGHTNESS_HIGH_HZ,
    BRIGHTNESS_LOW_HZ,
    MEL_BANDS,
    MEL_HIGH_HZ,
    MEL_LOW_HZ,
    MFCC_COUNT,
    PRE_EMPHASIS,
    FeatureFrames,
    SpectralAnalyzer,
    analyse_all,
    dct_matrix,
    mel_filterbank,
)
from app.lipsync.shaping import CLOSED_STATE, Shaper, ShapingSettings
from app.lipsync.track import VOWELS, RawFrames
from tests.unit.test_lipsync_analysis import vowel


def speech_like(rate: int, seed: int = 0) -> npt.NDArray[np.int16]:
    """Vowels at two levels, silence, a hiss and a click: loud, quiet and empty frames."""
    rng = np.random.default_rng(seed)
    hiss = (rng.normal(0, 0.02, int(0.15 * rate)) * 32767).astype(np.int16)
    click = np.zeros(int(0.05 * rate), np.int16)
    click[len(click) // 2] = 30000
    parts = [
        np.zeros(int(0.1 * rate), np.int16),
        vowel("aa", 0.3, level=0.2, rate=rate),
        hiss,
        vowel("ou", 0.25, pitch=180.0, level=0.01, rate=rate),
        click,
        vowel("ih", 0.2, level=0.1, rate=rate),
        np.zeros(int(0.07 * rate) + 3, np.int16),  # an odd length: a partial group of samples to decimate
    ]
    return np.concatenate(parts)


def reference_features(pcm: npt.NDArray[np.int16], rate: int) -> FeatureFrames:
    """Every frame computed on its own, in float64, straight from the definitions in features.py's docstring."""
    signal = pcm.astype(np.float64) / 32768.0
    group = max(1, rate // ANALYSIS_RATE)
    whole = len(signal) // group * group
    decimated = signal[:whole].reshape(-1, group).mean(axis=1)
    if whole < len(signal):
        decimated = np.append(decimated, signal[whole:].mean())
    analyser = SpectralAnalyzer(rate)
    hop, size = analyser.hop, analyser.window_size
    # Frame k is centred on sample k * hop, with silence before the audio and after it.
    padded = np.concatenate([np.zeros(size // 2), decimated, np.zeros(size)])
    emphasised = padded - PRE_EMPHASIS * np.concatenate([[0.0], padded[:-1]])
    hann = np.hanning(size + 1)[:-1]
    analysis_rate = rate / group
    filters = mel_filterbank(round(analysis_rate), size).astype(np.float64)
    dct = dct_matrix(MEL_BANDS, MFCC_COUNT).astype(np.float64)

    def mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    edges = np.linspace(mel(np.array(MEL_LOW_HZ)), mel(np.array(min(MEL_HIGH_HZ, round(analysis_rate) / 2))), 32)
    centres = (700.0 * (10.0 ** (edges / 2595.0) - 1.0))[1:-1]
    levels, coefficients, brightness = [], [], []
    for k in range(-(-len(decimated) // hop)):
        window = padded[k * hop : k * hop + size]
        levels.append(10.0 * np.log10(max(float(np.sum(hann * window**2) / np.sum(hann)), 1e-12)))
        power = np.abs(np.fft.rfft(emphasised[k * hop : k * hop + size] * hann)) ** 2
        bands = filters @ power + 1e-9
        coefficients.append(dct @ np.log(bands))
        high, low = bands[centres > BRIGHTNESS_HIGH_HZ].sum(), bands[centres < BRIGHTNESS_LOW_HZ].sum()
        brightness.append(10.0 * np.log10(high / low))
    return FeatureFrames(
        np.array(levels, np.float32), np.array(coefficients, np.float32), np.array(brightness, np.float32)
    )


def assert_features_close(actual: FeatureFrames, expected: FeatureFrames) -> None:
    assert len(actual) == len(expected)
    # float32 against float64 (frames span -120..0 dB, coefficients +-40): the largest differences seen are 8e-6 dB
    # and 1.5e-4 for a coefficient.
    np.testing.assert_allclose(actual.level_db, expected.level_db, atol=1e-4)
    np.testing.assert_allclose(actual.mfcc, expected.mfcc, atol=1e-3)
    np.testing.assert_allclose(actual.brightness_db, expected.brightness_db, atol=1e-4)


@pytest.mark.parametrize("rate", [16_000, 22_050, 44_100, 48_000])
def test_the_streaming_features_are_the_frame_by_frame_definition(rate: int) -> None:
    pcm = speech_like(rate)
    expected = reference_features(pcm, rate)
    whole, _ = analyse_all(pcm, rate)
    assert_features_close(whole, expected)
    # In chunks of any size (60 ms as a streaming provider sends them, odd sizes), then the padded end.
    rng = np.random.default_rng(rate)
    for sizes in ([round(0.06 * rate)], list(rng.integers(1, 3000, 40))):
        analyser, parts, start, turn = SpectralAnalyzer(rate), [], 0, 0
        while start < len(pcm):
            size = int(sizes[turn % len(sizes)])
            parts.append(analyser.feed(pcm[start : start + size]))
            start, turn = start + size, turn + 1
        parts.append(analyser.flush())
        names = ("level_db", "mfcc", "brightness_db")
        assert_features_close(FeatureFrames(*(np.concatenate([getattr(p, n) for p in parts]) for n in names)), expected)


def test_the_last_samples_given_to_flush_are_analysed_as_if_fed_first() -> None:
    pcm = speech_like(22_050)
    split = len(pcm) - 3001  # odd: a sample is left to decimate
    fed, flushed = SpectralAnalyzer(22_050), SpectralAnalyzer(22_050)
    parts = [fed.feed(pcm[:split]), fed.feed(pcm[split:]), fed.flush()]
    together = [flushed.feed(pcm[:split]), flushed.flush(pcm[split:])]
    for name in ("level_db", "mfcc", "brightness_db"):
        np.testing.assert_allclose(
            np.concatenate([getattr(p, name) for p in together]),
            np.concatenate([getattr(p, name) for p in parts]),
            rtol=1e-6,
            atol=1e-5,
        )


def test_float_input_gives_the_same_frames_as_int16_and_is_not_kept_by_reference() -> None:
    pcm = speech_like(44_100)
    floats = pcm.astype(np.float32) / np.float32(32768.0)
    results = []
    for samples in (pcm, floats):
        analyser, parts = SpectralAnalyzer(44_100), []
        for start in range(0, len(samples), 1323):  # odd chunks: a few samples wait for the next group of four
            chunk = samples[start : start + 1323].copy()
            parts.append(analyser.feed(chunk))
            chunk[:] = 1  # the caller reuses its buffer: what the analyser kept must not change
        parts.append(analyser.flush())
        results.append(parts)
    for name in ("level_db", "mfcc", "brightness_db"):
        from_int16, from_floats = (np.concatenate([getattr(p, name) for p in parts]) for parts in results)
        np.testing.assert_array_equal(from_floats, from_int16)


def reference_shape(raw: RawFrames, settings: ShapingSettings) -> npt.NDArray[np.float32]:
    """The shaper's rules, one frame at a time with numpy on the five weights."""
    dt = 1.0 / raw.frame_rate
    attack, release, close, glide = (
        1.0 - np.exp(-dt / t) for t in (settings.attack_s, settings.release_s, settings.close_s, settings.shape_s)
    )
    opened, shape = 0.0, np.zeros(len(VOWELS))
    out = np.zeros((len(raw), len(VOWELS)), np.float32)
    for index, (loudness, target_shape) in enumerate(zip(raw.openness.tolist(), raw.shape.tolist(), strict=True)):
        target = 0.0 if loudness < settings.gate else min(loudness, settings.ceiling)
        if target > 0.0:
            if opened < CLOSED_STATE:
                shape = np.array(target_shape)  # a mouth opening from shut takes its shape at once
            else:
                shape = shape + (np.array(target_shape) - shape) * glide
        step = attack if target > opened else release if target > 0.0 else close
        opened += (target - opened) * step
        if opened > CLOSED_STATE:
            first, runner = np.argsort(-shape, kind="stable")[:2]  # ties: the first vowel
            second = shape[runner] * settings.runner_up_share
            scale = opened / max(shape[first] + second, 1e-6)
            out[index, first] = shape[first] * scale
            out[index, runner] = second * scale
    out[out <= 0.01] = 0.0
    return out


def random_raw(rng: np.random.Generator, frames: int) -> RawFrames:
    # Openness in runs (silences, sounds) with values on the gate and the ceiling; shapes with ties.
    openness = np.repeat(rng.choice([0.0, 0.05, 0.08, 0.3, 0.7, 1.0], frames // 4 + 1), 4)[:frames]
    openness = np.where(rng.random(frames) < 0.3, rng.random(frames), openness).astype(np.float32)
    shapes = rng.choice([0.0, 0.1, 0.25, 0.25, 0.5], (frames, len(VOWELS))) + (rng.random((frames, 1)) < 0.2)
    return RawFrames(0.0, 100.0, openness, (shapes / shapes.sum(axis=1, keepdims=True)).astype(np.float32))


@pytest.mark.parametrize("settings", [ShapingSettings(), ShapingSettings(ceiling=0.7, gate=0.0, runner_up_share=1.0)])
def test_the_shaper_is_its_rules_applied_frame_by_frame(settings: ShapingSettings) -> None:
    rng = np.random.default_rng(7)
    raw = random_raw(rng, 600)
    expected = reference_shape(raw, settings)
    np.testing.assert_array_equal(Shaper(settings).shape(raw).weights, expected)
    # Streamed in batches of any size (the state carries over), the same to the bit.
    shaper, parts, start = Shaper(settings), [], 0
    while start < len(raw):
        size = int(rng.integers(1, 40))
        part = RawFrames(start / 100.0, 100.0, raw.openness[start : start + size], raw.shape[start : start + size])
        parts.append(shaper.shape(part).weights)
        start += size
    np.testing.assert_array_equal(np.concatenate(parts), expected)
