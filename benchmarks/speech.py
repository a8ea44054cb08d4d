"""Speech benchmarks with the embedded espeak voice on the null sink, fed like a language model (a token every 30 ms).

- first token -> first sample written to the sink;
- first segment boundary (the token that carries the punctuation ending the first segment) -> first sample; goal
  150 ms. Baseline: espeak synthesising that same first segment alone, in the same process;
- espeak's real-time factor (synthesis time / audio time, warm);
- abort latency: the audio heard after ``abort_turn()`` is called, on the null sink's clock (how far its position
  moved from the call until it stopped advancing), the samples written after the call (must be 0), and the time
  until the call returns; goal p99 50 ms.

``python -m benchmarks.speech [--runs N] [--aborts N] [--json]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
from typing import Any

from app.speech.espeak import EspeakEngine, EspeakSynthesizer
from app.speech.events import Pcm
from app.speech.hooks import SpeakerHooks
from app.speech.player import ScheduledAudio, Speaker
from app.speech.session import SegmentedSession
from app.speech.sink import NullSink
from benchmarks.stats import percentiles

TOKEN_INTERVAL_S = 0.030
GOAL_BOUNDARY_MS = 150.0
GOAL_ABORT_P99_MS = 50.0
SETTLE_S = 0.1
REPLY = (
    "Sure, I can help with that. The weather today looks bright and warm, so a walk by the river would be lovely. "
    "Remember to take some water with you, and maybe a hat as well."
)


def llm_tokens(text: str) -> list[str]:
    """Word pieces with their leading space, about as a language model streams them."""
    return re.findall(r"\s*\S{1,6}", text)


async def token_feed_run(engine: EspeakEngine) -> dict[str, float]:
    sink = NullSink(48000)
    first_sample_at: list[float] = []
    first_segment: list[str] = []
    audible = asyncio.Event()

    def on_audio(scheduled: ScheduledAudio) -> None:
        if not first_sample_at:
            first_sample_at.append(time.monotonic())
            audible.set()

    hooks = SpeakerHooks(
        on_audio=on_audio, on_sentence=lambda _turn, s: first_segment.append(s.text) if not first_segment else None
    )
    speaker = Speaker(sink, lambda: SegmentedSession(EspeakSynthesizer(engine)), hooks)
    turn = await speaker.begin_turn()
    sent_at: list[float] = []
    tokens = llm_tokens(REPLY)
    for token in tokens:
        sent_at.append(time.monotonic())
        await turn.append_text(token)
        if first_sample_at:
            break
        await asyncio.sleep(TOKEN_INTERVAL_S)
    await audible.wait()
    await speaker.abort_turn("benchmark run over")
    boundary_end = len(first_segment[0])
    consumed = 0
    boundary_at = sent_at[-1]
    for token, at in zip(tokens, sent_at, strict=False):
        consumed += len(token)
        if consumed >= boundary_end:
            boundary_at = at
            break
    started = time.perf_counter()
    engine.synthesize_blocking(first_segment[0].strip())
    baseline = time.perf_counter() - started
    return {
        "first_token_to_sample_ms": (first_sample_at[0] - sent_at[0]) * 1000,
        "boundary_to_sample_ms": (first_sample_at[0] - boundary_at) * 1000,
        "synth_first_segment_ms": baseline * 1000,
    }


def real_time_factor(engine: EspeakEngine, rounds: int = 20) -> dict[str, float]:
    sentences = [s.strip() for s in REPLY.split(".") if s.strip()]
    engine.synthesize_blocking("Warm up.")
    factors = []
    for _ in range(rounds):
        for sentence in sentences:
            started = time.perf_counter()
            utterance = engine.synthesize_blocking(sentence)
            factors.append((time.perf_counter() - started) / (len(utterance.pcm) / utterance.sample_rate))
    return {"median": statistics.median(factors), "max": max(factors)}


class ProbedSink(NullSink):
    """The null sink, counting the samples written after an abort was requested (there must be none)."""

    def __init__(self, sample_rate: int) -> None:
        super().__init__(sample_rate)
        self.aborting = False
        self.written_after_abort = 0

    def write(self, pcm: Pcm) -> None:
        if self.aborting:
            self.written_after_abort += len(pcm)
        super().write(pcm)


async def abort_latencies(engine: EspeakEngine, count: int) -> tuple[list[float], list[float], int]:
    """Per abort: the audio heard after the call on the sink's clock (its position once it stopped advancing, minus
    its position at the call), the time until the call returns, and all samples written after the calls."""
    silence_ms: list[float] = []
    call_ms: list[float] = []
    sink = ProbedSink(48000)
    audible = asyncio.Event()
    speaker = Speaker(
        sink, lambda: SegmentedSession(EspeakSynthesizer(engine)), SpeakerHooks(on_audio=lambda _a: audible.set())
    )
    for _ in range(count):
        audible.clear()
        turn = await speaker.begin_turn()
        await turn.append_text(REPLY)
        await audible.wait()
        await asyncio.sleep(0.05)  # mid-sentence, with synthesis of the next segment in flight
        sink.aborting = True
        requested = time.monotonic()
        heard_at_call = sink.position()
        await speaker.abort_turn("benchmark")
        returned = time.monotonic()
        await asyncio.sleep(SETTLE_S)  # anything still playing or written late would move the clock meanwhile
        last_heard = sink.position()
        sink.aborting = False
        silence_ms.append((last_heard - heard_at_call) / sink.sample_rate * 1000)
        call_ms.append((returned - requested) * 1000)
    return silence_ms, call_ms, sink.written_after_abort


async def main_async(runs: int, aborts: int) -> dict[str, Any]:
    engine = EspeakEngine()
    try:
        feeds = [await token_feed_run(engine) for _ in range(runs)]
        silence, call, written_after_abort = await abort_latencies(engine, aborts)
        rtf = real_time_factor(engine)
    finally:
        engine.close()

    def median_of(key: str) -> float:
        return statistics.median(run[key] for run in feeds)

    return {
        "runs": runs,
        "token_interval_ms": TOKEN_INTERVAL_S * 1000,
        "first_token_to_sample_ms": median_of("first_token_to_sample_ms"),
        "boundary_to_sample_ms": percentiles([run["boundary_to_sample_ms"] for run in feeds]),
        "synth_first_segment_ms": median_of("synth_first_segment_ms"),
        "espeak_rtf": rtf,
        "aborts": aborts,
        "abort_silence_ms": percentiles(silence),
        "abort_call_ms": percentiles(call),
        "abort_samples_written_after": written_after_abort,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="token-feed runs")
    parser.add_argument("--aborts", type=int, default=100, help="abort measurements")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = asyncio.run(main_async(args.runs, args.aborts))
    boundary, silence, call = result["boundary_to_sample_ms"], result["abort_silence_ms"], result["abort_call_ms"]
    result["goals_met"] = {
        "boundary_to_sample_max": boundary["max"] <= GOAL_BOUNDARY_MS,
        "abort_p99": silence["p99"] <= GOAL_ABORT_P99_MS,
        "abort_nothing_written_after": result["abort_samples_written_after"] == 0,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"embedded espeak voice, null sink, a token every {result['token_interval_ms']:.0f} ms, {args.runs} runs")
    print(f"  first token -> first sample          median {result['first_token_to_sample_ms']:7.1f} ms")
    verdict = "met" if result["goals_met"]["boundary_to_sample_max"] else "NOT met"
    print(
        f"  first boundary -> first sample       p50 {boundary['p50']:7.1f} ms  max {boundary['max']:7.1f} ms"
        f"  (goal max <= {GOAL_BOUNDARY_MS:.0f} ms: {verdict})"
    )
    print(
        f"    baseline: espeak alone on that segment {result['synth_first_segment_ms']:.1f} ms"
        f"  (pipeline/baseline {boundary['p50'] / max(result['synth_first_segment_ms'], 1e-9):.1f}x;"
        f" includes waiting one token for the boundary to be confirmed)"
    )
    rtf = result["espeak_rtf"]
    print(f"  espeak real-time factor (warm)       median {rtf['median']:.4f}  max {rtf['max']:.4f}")
    print(f"abort, {args.aborts} times mid-sentence")
    print(
        f"  heard after the call (sink clock)    p50 {silence['p50']:6.2f} ms  p99 {silence['p99']:6.2f} ms"
        f"  (goal p99 <= {GOAL_ABORT_P99_MS:.0f} ms: {'met' if result['goals_met']['abort_p99'] else 'NOT met'})"
    )
    print(f"  until abort_turn() returns           p50 {call['p50']:6.2f} ms  p99 {call['p99']:6.2f} ms")
    print(f"  samples written after the abort      {result['abort_samples_written_after']} (must be 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
