"""The audio path behind the real Speaker, fed as a streaming provider delivers: 60 ms chunks without phonemes.

The scheduler holds chunks back to analyse several at once; every cue must still leave before it is due.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from app.lipsync.cues import HELD_AUDIO_MARGIN_S, CueBatch, CueScheduler
from app.lipsync.profile import default_profile
from app.lipsync.service import LipSyncService
from app.speech.espeak import EspeakEngine, EspeakSynthesizer
from app.speech.events import Pcm
from app.speech.hooks import SpeakerHooks
from app.speech.player import Speaker
from app.speech.session import SegmentedSession, SynthChunk
from app.speech.sink import NullSink

RATE = 22_050
CHUNK_S = 0.060
TIMER_SLACK_MS = 25.0
"""How late the event loop may run a batch's timer on this shared 2-core machine (the margin must cover it)."""


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


class WriteTimedSink(NullSink):
    """The null sink, noting when it was first written to (the Speaker's start delay counts from there)."""

    first_write_s: float | None = None

    def write(self, pcm: Pcm) -> None:
        if self.first_write_s is None:
            self.first_write_s = time.monotonic()
        super().write(pcm)


def speaker_with_cues(
    synthesizer: ChunkedSynthesizer | EspeakSynthesizer, output_latency_s: float = 0.0
) -> tuple[Speaker, CueScheduler, ArrivalRecorder]:
    """The Speaker on a null sink (the real clock) with the cue scheduler hooked in as the app wires it."""
    sink = WriteTimedSink(RATE)
    scheduler = CueScheduler(sink, default_profile, mode="auto", output_latency_s=output_latency_s)
    recorder = ArrivalRecorder()
    scheduler.add_output(recorder)
    hooks = LipSyncService.attach_scheduler(scheduler, SpeakerHooks())
    return Speaker(sink, lambda: SegmentedSession(synthesizer), hooks), scheduler, recorder


async def test_held_back_chunks_still_reach_the_outputs_before_they_are_due(engine: EspeakEngine) -> None:
    speaker, _scheduler, recorder = speaker_with_cues(ChunkedSynthesizer(engine))
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
    # Every batch arrives before it is due, the first too: the Speaker starts playback late enough for it.
    ahead_ms = [batch.host_time_ms - arrived for arrived, batch in recorder.batches]
    assert ahead_ms[0] > HELD_AUDIO_MARGIN_S * 1000.0 - TIMER_SLACK_MS, ahead_ms
    assert min(ahead_ms) > 0.0, ahead_ms
    opened = sum(float(b.weights.sum(axis=1).max()) > 0.3 for b in batches)
    assert opened >= len(batches) // 2, "the mouth moves with the speech"


@pytest.mark.parametrize("output_latency_ms", [0.0, 200.0, -100.0])
async def test_an_utterances_first_cues_leave_the_margin_before_they_are_due_on_the_phoneme_path(
    engine: EspeakEngine, output_latency_ms: float
) -> None:
    """espeak's phoneme marks: the whole sentence is analysed when it is written, and its first batch leaves at once,
    the start delay ahead of the first sound; an output latency moves every cue by that much (a negative one
    lengthens the start delay so the first still leaves in time)."""
    speaker, scheduler, recorder = speaker_with_cues(EspeakSynthesizer(engine), output_latency_ms / 1000)
    await speaker.say("Bob bought a map.")
    assert isinstance(speaker.sink, WriteTimedSink) and speaker.sink.first_write_s is not None
    arrived, first = recorder.batches[0]
    ahead_ms = first.host_time_ms - arrived
    assert ahead_ms > HELD_AUDIO_MARGIN_S * 1000.0 - TIMER_SLACK_MS, ahead_ms
    assert min(batch.host_time_ms - at for at, batch in recorder.batches) > 0.0
    # The first sound is heard the start delay after the first write (silence first), the first frame one lead
    # before it, both moved by the output latency.
    start_delay_ms = scheduler.start_delay_s() * 1000.0
    assert start_delay_ms == pytest.approx(30.0 + HELD_AUDIO_MARGIN_S * 1000.0 + max(0.0, -output_latency_ms))
    expected_ms = speaker.sink.first_write_s * 1000.0 + start_delay_ms + output_latency_ms - 30.0
    assert first.host_time_ms == pytest.approx(expected_ms, abs=2.0)
