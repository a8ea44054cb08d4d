"""The audio path: any provider's PCM to raw mouth frames, streaming, before the audio is played.

Openness follows the loudness envelope relative to the voice's calibrated vowel level; the vowel comes from the
distance of each frame's coefficients to the five vowel means of the voice profile (scaled by their spread),
turned into a distribution with a softmax. Frames far from every vowel (fricatives, breath) open the mouth less.

When the voice's lip closures are known (its m murmur and b voice bar, learnt in calibration), any other sound
means the lips are apart: the burst and aspiration of p, b, t, k, fricatives and n open the mouth part way. This is
what opens it at the release of a p, some 35 ms before its vowel begins, rather than at the vowel. After a pause
(and at the utterance's start) even a faint sound opens it part way, unless it is one of those closures.

Two running estimates make this hold for audio that is not as clean or as loud as the calibration. The noise floor
(the quietest recent frame) keeps the mouth shut on steady hiss, hum or a codec's floor, before, between and after
words: a frame near it is silence. The voice's level (its loudest recent vowels) moves the reference when a delivery
is clearly quieter or louder than calibrated (another model, a volume setting, a user who normalised differently).
Both start afresh with each utterance, from the profile: an utterance's frames then depend on its audio alone
(``lipsync analyze`` gives the same frames for a file whatever was spoken before, and one AudioLipSync serves one
utterance); a voice 20 dB down is followed from its second syllable on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.lipsync.features import FeatureFrames, SpectralAnalyzer
from app.lipsync.profile import VoiceProfile
from app.lipsync.track import DEFAULT_FRAME_RATE, VOWELS, RawFrames

CLOSED_BELOW_DB = 16.0
"""A frame this far below the voice's vowel level is closed (consonant closures are 10-20 dB below)..."""
OPEN_RANGE_DB = 13.0
"""...and fully open this much above that."""
SHARPNESS = 1.2
"""Softmax inverse temperature on the mean squared scaled distance."""
VOWEL_DISTANCE = 8.0
"""Mean squared scaled distance at which a frame is half vowel-like. Vowels sit within 2-5 of their mean; nasals
(m, n) and fricatives at 10-90, so they open the mouth little even when they are loud."""
CONSONANT_OPENING = 0.35
"""How far a sound that is neither a vowel nor a lip closure opens the mouth (the phoneme path: 0.3-0.5)..."""
CONSONANT_BELOW_DB = 28.0
"""...from this far below the voice's vowel level (espeak's aspiration is 12-20 dB below, its bursts 15-25)..."""
CONSONANT_RANGE_DB = 10.0
"""...fully at this much above that."""
CLOSURE_NEAR = 2.0
"""Distance to the nearest lip-closure template at which a sound is half a closure: m murmurs sit at 0.1-0.6, b
voice bars at 1-2, releases and fricatives at 3-20 (medians on espeak speech)."""
DARK_BELOW_DB = -4.0
"""Brightness (dB of energy above 1 kHz over below 700 Hz) under which a sound is a voice bar, hummed behind shut
lips (b closures: -11 dB; releases: 1 dB and more in nine cases out of ten)."""
CLOSED_SHARPNESS = 3.0
CLOSED_MARGIN = -1.0
"""A frame half closes when it is this much nearer a vowel than a lip closure (the negative margin favours closing:
a missed m or b looks worse than a vowel frame a little less open; chosen on the lip-sync benchmark)."""
STREAMING_MIN_FRAMES = 40
"""What the cue scheduler holds small chunks back for (400 ms): within the Speaker's 530 ms look-ahead (less the
lead and a margin). Each analysis has a fixed cost of ~0.15 ms, so 60 ms chunks analysed one by one cost ~2.9 ms of
CPU per second of audio, held for 20 frames ~0.93, for 40 ~0.74 (lip-sync benchmark, the least of five runs in one
process; this machine's timings swing by +-30 %)."""
SILENT_BELOW_DB = 40.0
"""A frame this far below the voice's vowel level is silent (espeak's pauses: digital silence, -100 dB)."""
SILENT_RUN = 3
"""Silent frames in a row that make a pause: a p or t closure at 230 words per minute is silent for 1-2 frames,
and opening at its burst as after a pause left the mouth too little time to show the closure."""
ONSET_OPENING = 0.35
"""How far a sound after a pause opens the mouth at least (as the consonant rule; the phoneme path: 0.3-0.5)..."""
ONSET_BELOW_DB = 34.0
ONSET_RANGE_DB = 6.0
"""...from this far below the voice's vowel level (espeak's th and h begin 26-34 dB below), fully this much above
that (the onsets' error hardly moves between 28 and 36 dB, 3 and 10 dB)..."""
ONSET_FRAMES = 8
"""...for the first 80 ms after the pause (about a syllable's first consonant; with 150 ms more lip closures after
it were missed: 11 against 9 of the benchmark's 700 tuning onsets)."""
ONSET_DARK_BELOW_DB = -10.0
"""...and when it is darker than this it may be a voice bar after all (b closures: -11 dB; the w of "we": -4 to
-10 dB: with the consonant rule's -4 dB, 94.9 % of the benchmark's tuning onsets were within 20 ms, against 95.3)."""
SMOOTHING = (0.5, 0.3, 0.2)
"""Weights of the current frame's vowel distances and the two before: steadies the vowel over ~20 ms."""
FLOOR_RISE_DB = 0.05
"""The noise floor is the quietest frame lately: it follows any quieter frame at once and rises this much per frame
(5 dB a second) otherwise, so it settles on steady hiss or hum within a frame or two and climbs back after a louder
stretch without climbing into the speech (whose dips come every few hundred ms)."""
FLOOR_START_BELOW_DB = 22.0
"""An utterance's first frame this far below the voice's level sets the floor: it may be steady noise (which looks
the same as a th for as long as it lasts). A louder first frame is the voice itself, and the floor starts where the
voice is silent (:data:`SILENT_BELOW_DB`) and rises from there."""
HALF_WINDOW_DB = 3.0
"""How much quieter an utterance's first frame is than a sound steady from the first sample: its window is half
silence before the audio."""
ABOVE_FLOOR_DB = 4.0
"""A frame less than this above the noise floor is the floor (a 25 ms window of steady noise varies by 1-2 dB): it
is silent, and nothing in it opens the mouth."""
PEAK_DECAY_DB = 0.3
"""The voice's level is the loudest vowel-like frame lately (a new one sets it at once), forgetting this much per
vowel-like frame (pauses and consonants do not wear it down): about 10 dB a second of speech."""
PEAK_OVER_LEVEL_DB = 2.5
"""How far that loudest frame usually lies over the calibrated level (a median over vowel frames: the calibrated
level is the median of the steady vowel frames)."""
GAIN_DEAD_DB = 5.0
"""Within this of the calibrated level the voice's level is taken for the calibrated one (the peak's swing over
syllables at that level: the reference moving with it cost the closures before p and b), from twice this on it is
followed in full, and in between in part (continuous): a delivery 10 dB or more quieter or louder opens the mouth
as the calibrated one does..."""
GAIN_LIMIT_DB = 24.0
"""...by at most this (a voice 30 dB down still moves the mouth; silence and noise do not become speech)."""
_GAIN_DRIFT_DB = np.array(
    [-GAIN_LIMIT_DB, -2 * GAIN_DEAD_DB, -GAIN_DEAD_DB, GAIN_DEAD_DB, 2 * GAIN_DEAD_DB, GAIN_LIMIT_DB]
)
_GAIN_DB = np.array([-GAIN_LIMIT_DB, -2 * GAIN_DEAD_DB, 0.0, 0.0, 2 * GAIN_DEAD_DB, GAIN_LIMIT_DB])
"""The reference's shift for the peak's drift from its calibrated place (piecewise linear; np.interp holds the ends)."""


_NO_OPENNESS = np.zeros(0, np.float32)
_NO_SHAPES = np.zeros((0, len(VOWELS)), np.float32)
_NO_PCM = np.zeros(0, np.int16)


@dataclass(frozen=True)
class Carry:
    """What one call of :func:`raw_from_features` hands to the next: the time filters' last inputs."""

    distances: npt.NDArray[np.float32]
    """The last two frames' vowel distances."""
    openness: float
    """The last frame's openness before the opening delay."""
    since_pause: int
    """Frames from the last frame of a pause to the last frame (0: the last frame ended a pause), at most
    ``ONSET_FRAMES + 1``."""
    silent_run: int
    """How many of the last frames were silent, at most ``SILENT_RUN - 1``."""
    floor_db: float
    """The noise floor at the last frame (dBFS)."""
    peak_db: float
    """The voice's loudest vowel-like frame lately, worn down to the last frame (dBFS)."""


def _unit(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Clipped to [0, 1] (two ufuncs: np.clip's Python wrapper costs more than the arithmetic on short chunks)."""
    return np.minimum(np.maximum(values, 0.0), 1.0)


def _since_pause(
    relative_db: npt.NDArray[np.float32], at_floor: npt.NDArray[np.bool_], previous: Carry | None
) -> tuple[npt.NDArray[np.int64] | None, int, int]:
    """(for each frame, how many frames ago a pause last ended, or None when no frame is within
    :data:`ONSET_FRAMES` of one; then, for the next call, the last frame's count and its run of silent frames).

    A pause is :data:`SILENT_RUN` silent frames (far below the voice, or at the noise floor) in a row; the time
    before the utterance is one. Most chunks are far from any pause, which a few numpy calls find: this runs on
    every streamed chunk."""
    silent = (relative_db < -SILENT_BELOW_DB) | at_floor
    if previous is not None and previous.since_pause > ONSET_FRAMES and not silent.any():
        return None, ONSET_FRAMES + 1, 0
    span = SILENT_RUN - 1
    run = span if previous is None else previous.silent_run
    padded = np.concatenate([np.arange(span) >= span - run, silent])  # the run of silence before the chunk, then it
    pause = padded[span:].copy()
    for back in range(1, SILENT_RUN):
        pause &= padded[span - back : len(padded) - back]
    tail_run = 0
    while tail_run < span and padded[len(padded) - 1 - tail_run]:
        tail_run += 1
    before = -1 if previous is None else -1 - previous.since_pause
    if not pause.any() and -before > ONSET_FRAMES:  # none in the chunk, the last one too far back
        return None, ONSET_FRAMES + 1, tail_run
    frames = np.arange(len(relative_db))
    since = frames - np.maximum(np.maximum.accumulate(np.where(pause, frames, -(1 << 30))), before)
    return since, min(int(since[-1]), ONSET_FRAMES + 1), tail_run


def _floor_before(first_db: float, profile: VoiceProfile) -> float:
    """The floor before an utterance's first frame (see :data:`FLOOR_START_BELOW_DB`, :data:`HALF_WINDOW_DB`)."""
    if first_db < profile.level_db - FLOOR_START_BELOW_DB:
        return first_db + HALF_WINDOW_DB
    return profile.level_db - SILENT_BELOW_DB


def _relative_level(
    level_db: npt.NDArray[np.float32],
    nearest_vowel: npt.NDArray[np.float32],
    closure: npt.NDArray[np.float32] | None,
    profile: VoiceProfile,
    previous: Carry | None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_], float, float]:
    """(each frame's level against the voice's, whether it is at the noise floor; then, for the next call, the last
    frame's floor and peak).

    The noise floor (``floor = min(level, previous floor + rise)``) and the voice's peak level (``peak = max(level
    of a vowel-like frame, previous peak - decay at each vowel-like frame)``) come from their values before the chunk
    as running extremes of the levels shifted by the rise or decay accumulated since: a few numpy scans, not a loop
    over frames, in float64 so that any split into chunks gives the same values."""
    floor_before = _floor_before(float(level_db[0]), profile) if previous is None else previous.floor_db
    floor_end = floor_before + len(level_db) * FLOOR_RISE_DB
    # The voice's level: its vowels (not noise at the floor, below). Before the first, the peak sits at the lower edge
    # of what counts as calibrated: a voice at the calibrated level lifts it with its first vowel, a quieter one has
    # less to wear down (a voice 20 dB down opened the mouth 0.9 as wide as a calibrated one at its second syllable).
    vowel_like = nearest_vowel < VOWEL_DISTANCE
    if level_db.min() >= floor_end + ABOVE_FLOOR_DB:  # far above the floor (most chunks of clean speech)
        at_floor = np.zeros(len(level_db), np.bool_)
    else:
        rise = np.arange(1, len(level_db) + 1) * FLOOR_RISE_DB
        shifted = level_db - rise
        if previous is None:
            shifted[0] = np.inf  # the first frame is in the floor before it
        floor = np.minimum(np.minimum.accumulate(shifted), floor_before) + rise
        at_floor = level_db - floor < ABOVE_FLOOR_DB
        floor_end = float(floor[-1])
        vowel_like &= ~at_floor
    if closure is not None:  # nor a lip closure (a b's voice bar near a vowel would wear the peak down)
        vowel_like &= nearest_vowel < closure
    wear = np.add.accumulate(vowel_like * PEAK_DECAY_DB)  # (np.cumsum of the booleans costs twice as much)
    calibrated_peak = profile.level_db + PEAK_OVER_LEVEL_DB
    peak_before = calibrated_peak - GAIN_DEAD_DB if previous is None else previous.peak_db
    candidates = level_db + wear
    candidates[~vowel_like] = -np.inf
    peak = np.maximum(np.maximum.accumulate(candidates), peak_before) - wear
    # The reference level follows a delivery quieter or louder than calibration, beyond the peak's usual swing.
    if calibrated_peak - GAIN_DEAD_DB <= peak.min() and peak.max() <= calibrated_peak + GAIN_DEAD_DB:
        relative_db = level_db - np.float32(profile.level_db)  # as calibrated (most chunks)
    else:
        gain = np.interp(peak, _GAIN_DRIFT_DB + calibrated_peak, _GAIN_DB)
        relative_db = (level_db - (gain + profile.level_db)).astype(np.float32)
    return relative_db, at_floor, floor_end, float(peak[-1])


def raw_from_features(
    features: FeatureFrames, profile: VoiceProfile, previous: Carry | None = None
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], Carry]:
    """(openness, shape, what to carry into the next call) for each frame (``features`` must not be empty)."""
    # Mean squared distances scaled by the spread, to the vowels and the closures at once: |x|^2 - 2 x.m + |m|^2 in
    # one matrix product (far cheaper than differences of (frames, templates, coefficients) on short chunks).
    weight, scaled_t, template_norms = profile.distance_tables
    all_distances = (np.square(features.mfcc) @ weight)[:, None] - features.mfcc @ scaled_t + template_norms
    vowels = len(profile.means)
    distance = all_distances[:, :vowels]
    nearest_vowel = distance.min(axis=1)
    closure = all_distances[:, vowels:].min(axis=1) if profile.closed is not None else None
    relative_db, at_floor, floor_db, peak_db = _relative_level(
        features.level_db, nearest_vowel, closure, profile, previous
    )
    since_pause, since_pause_end, silent_run = _since_pause(relative_db, at_floor, previous)
    openness = _unit((relative_db + CLOSED_BELOW_DB) * (1.0 / OPEN_RANGE_DB))
    openness /= 1.0 + np.power(nearest_vowel * (1.0 / VOWEL_DISTANCE), 3)  # how vowel-like
    if closure is not None:
        # The voice's m and b: the lips are shut however loud the voice is. A frame about as near to one of them as
        # to the nearest vowel closes the mouth (on espeak speech vowel frames sit 2-8 nearer a vowel, m frames 1-5
        # nearer the m).
        openness /= 1.0 + np.exp(CLOSED_SHARPNESS * (nearest_vowel - closure - CLOSED_MARGIN))
        # Any other sound passes between parted lips: far from the closures, and not a voice bar (dark).
        consonant = (relative_db + CONSONANT_BELOW_DB) * (CONSONANT_OPENING / CONSONANT_RANGE_DB)
        consonant = np.minimum(np.maximum(consonant, 0.0), CONSONANT_OPENING)
        near_closure = 1.0 + np.power(CLOSURE_NEAR / np.maximum(closure, 1e-3), 4)
        consonant /= near_closure * (1.0 + np.exp((DARK_BELOW_DB - features.brightness_db) * 0.5))
        openness = np.maximum(openness, consonant)
        # Sound after a pause (or at the utterance's start) comes out of an open mouth unless it is the voice's m or
        # b: a faint th, f or h, or the w of "we", open it part way at once. Without this the mouth waited for the
        # vowel, 40-90 ms late after th and w (their frames are too faint, or too dark and near the closures, for
        # the consonant rule), and onsets from silence were the largest share of those more than 20 ms off.
        if since_pause is not None:
            onset = _unit((relative_db + ONSET_BELOW_DB) * (1.0 / ONSET_RANGE_DB)) * ONSET_OPENING
            onset[since_pause > ONSET_FRAMES] = 0.0
            onset /= near_closure * (1.0 + np.exp((ONSET_DARK_BELOW_DB - features.brightness_db) * 0.5))
            openness = np.maximum(openness, onset)
    # Nothing at the noise floor opens the mouth: steady hiss or hum before, between and after the words.
    openness[at_floor] = 0.0
    # The mouth opens only on the second open frame. A 25 ms window centred on its frame is dominated by the louder
    # side, so vowels look as if they began up to half a window early; at every onset after a lip closure or
    # silence this made the mouth open ~10 ms before the sound. Closing is not delayed (short b closures must show).
    opening = openness.copy()
    np.minimum(opening[1:], openness[:-1], out=opening[1:])
    opening[0] = min(opening[0], 0.0 if previous is None else previous.openness)
    # A short causal filter along time, carrying the last frames of the previous call.
    history = previous.distances if previous is not None else distance[:1].repeat(2, axis=0)
    padded = np.concatenate([history, distance])
    carried = Carry(padded[-2:].copy(), float(openness[-1]), since_pause_end, silent_run, floor_db, peak_db)
    smoothed = SMOOTHING[0] * padded[2:] + SMOOTHING[1] * padded[1:-1] + SMOOTHING[2] * padded[:-2]
    likelihood = np.exp(-SHARPNESS * (smoothed - smoothed.min(axis=1, keepdims=True)))
    likelihood /= likelihood.sum(axis=1, keepdims=True)
    return opening, likelihood, carried


class AudioLipSync:
    """Streams one utterance's PCM (chunks of any size) into raw frames on a 100-per-second grid.

    ``min_frames`` > 1 holds small chunks back until that many frames can be analysed at once: each analysis has a
    fixed cost (~0.1 ms of numpy calls) that dominates when a streaming provider delivers 60 ms at a time. The
    holder calls :meth:`drain` when the held audio is about to be heard. Holding never changes the frames.
    """

    def __init__(
        self, profile: VoiceProfile, sample_rate: int, frame_rate: float = DEFAULT_FRAME_RATE, min_frames: int = 1
    ) -> None:
        self.profile = profile
        self.spectral = SpectralAnalyzer(sample_rate, frame_rate)
        self.frame_rate = self.spectral.frame_rate
        self._carry: Carry | None = None
        self._hold_samples = (max(1, min_frames) - 1) * self.spectral.hop * self.spectral.decimation
        self._held: list[npt.NDArray[np.int16]] = []
        self._held_samples = 0
        self._no_frames = RawFrames(0.0, self.frame_rate, _NO_OPENNESS, _NO_SHAPES)

    @property
    def held_samples(self) -> int:
        """Samples fed but not analysed yet."""
        return self._held_samples

    def feed(self, pcm: npt.NDArray[np.int16], hold: bool = True) -> RawFrames:
        """The frames ready; with ``hold=False`` every frame the audio so far completes, whatever ``min_frames``."""
        self._held.append(pcm)
        self._held_samples += len(pcm)
        if hold and self._held_samples <= self._hold_samples:
            return self._empty()
        return self.drain()

    def drain(self) -> RawFrames:
        """Every frame the audio fed so far completes, whatever is held."""
        return self._raw(self.spectral.frames_done, self.spectral.feed(self._take_held()))

    def flush(self) -> RawFrames:
        # The held audio and the padded end in one analysis: each costs ~0.1 ms however few its frames.
        return self._raw(self.spectral.frames_done, self.spectral.flush(self._take_held()))

    def _take_held(self) -> npt.NDArray[np.int16]:
        held = self._held[0] if len(self._held) == 1 else np.concatenate(self._held) if self._held else _NO_PCM
        self._held, self._held_samples = [], 0
        return held

    def _empty(self) -> RawFrames:
        first_s = self.spectral.frames_done / self.frame_rate
        if self._no_frames.start_s != first_s:  # one per analysis, not one per held chunk
            self._no_frames = RawFrames(first_s, self.frame_rate, _NO_OPENNESS, _NO_SHAPES)
        return self._no_frames

    def _raw(self, first_frame: int, features: FeatureFrames) -> RawFrames:
        if not len(features):
            return self._empty()
        openness, shape, self._carry = raw_from_features(features, self.profile, self._carry)
        return RawFrames(first_frame / self.frame_rate, self.frame_rate, openness, shape)


def analyse_audio(pcm: npt.NDArray[np.int16], sample_rate: int, profile: VoiceProfile) -> RawFrames:
    """A whole clip's raw frames."""
    path = AudioLipSync(profile, sample_rate)
    parts = [path.feed(pcm), path.flush()]
    return RawFrames(
        0.0,
        path.frame_rate,
        np.concatenate([p.openness for p in parts]),
        np.concatenate([p.shape for p in parts]),
    )
