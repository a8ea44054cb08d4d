"""The audio path behind the real Speaker, fed as a streaming provider delivers: 60 ms chunks without phonemes.

The scheduler holds chunks back to analyse several at once; every cue must still leave before it is due.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from app.lipsync.cues import CueBatch, CueScheduler
from app.lipsync.profile import default_profile
from app.speech.espeak import EspeakEngine, EspeakSynthesizer
from app.speech.hooks import SpeakerHooks
from app.speech.player import Speaker
from app.speech.session import SegmentedSession, SynthChunk
from app.speech.sink import NullSink

RATE = 22_050
CHUNK_S = 0.060


@pytest.fixture(scope="module")
def engine() -> Iterator[EspeakEngine]:
    engine = EspeakEngine()
    yield engine
    engine.close()


class ChunkedSynthesizer:
    """Real espeak speech, delivered in 60 ms pieces without phoneme marks, as network providers stream."""

    def __init__(self, engine: EspeakEngine) -> None:
        self.inner = EspeakSynthesizer(engine)

    async def synthesize(self, text: str) -> AsyncIterator[SynthChunk]:
        async for chunk in self.inner.synthesize(text):
            step = round(CHUNK_S * chunk.sample_rate)
            for start in range(0, len(chunk.pcm), step):
                yield SynthChunk(chunk.pcm[start : start + step], chunk.sample_rate)


class ArrivalRecorder:
    def __init__(self) -> None:
        self.batches: list[tuple[float, CueBatch]] = []
        self.ended = False

    def begin(self, utterance: str, host_time_ms: float, frame_rate: float, lead_ms: float) -> None:
        pass

    def cues(self, batch: CueBatch) -> None:
        self.batches.append((time.monotonic() * 1000.0, batch))

    def end(self, utterance: str, host_time_ms: float) -> None:
        self.ended = True

    def cancel(self, utterance: str) -> None:
        pass


async def test_held_back_chunks_still_reach_the_outputs_before_they_are_due(engine: EspeakEngine) -> None:
    sink = NullSink(RATE)
    scheduler = CueScheduler(sink, default_profile, mode="auto")
    recorder = ArrivalRecorder()
    scheduler.add_output(recorder)
    hooks = SpeakerHooks(
        on_audio=scheduler.on_audio, on_audio_end=scheduler.on_audio_end, on_mouth_close=scheduler.on_mouth_close
    )
    speaker = Speaker(sink, lambda: SegmentedSession(ChunkedSynthesizer(engine)), hooks)
    stats = await speaker.say("Maybe we should bake more bread. My mother bought a map of Paris.")
    assert recorder.ended
    batches = [batch for _arrived, batch in recorder.batches]
    frames = sum(len(b.weights) for b in batches)
    # Every frame arrived, up to the last sample's (its window completed with silence when the voice was done).
    assert frames == math.ceil(round(stats.audio_seconds * RATE) / RATE * batches[0].frame_rate)
    for previous, batch in itertools.pairwise(batches):  # one continuous track
        assert batch.host_time_ms == pytest.approx(
            previous.host_time_ms + len(previous.weights) * 1000 / previous.frame_rate, abs=1.0
        )
    # Analysed in fewer goes than the Speaker wrote chunks, and nothing arrived after it was due.
    chunks = -(-round(stats.audio_seconds * RATE) // round(CHUNK_S * RATE))
    analyses = len({arrived for arrived, _batch in recorder.batches})
    assert analyses < chunks / 2
    late_ms = [arrived - batch.host_time_ms for arrived, batch in recorder.batches]
    # The first frame is due one lead before the first sample, which plays as soon as it is written: that lead
    # cannot be had (the stage starts the track where it stands). Every later batch arrives before it is due.
    assert late_ms[0] < scheduler.shaping.lead_s * 1000 + 15.0, late_ms
    assert max(late_ms[1:]) < 0.0, late_ms
    opened = sum(float(b.weights.sum(axis=1).max()) > 0.3 for b in batches)
    assert opened >= len(batches) // 2, "the mouth moves with the speech"
