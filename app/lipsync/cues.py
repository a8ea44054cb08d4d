"""The cue scheduler: speech audio, as the Speaker hands it to the sink, to timed mouth-cue batches.

Hooked to :class:`~app.speech.player.SpeakerHooks` (``on_audio``, ``on_audio_end``, ``on_mouth_close``,
``start_delay_s``). Each chunk of audio is analysed before it is heard: from the voice's phoneme marks when it gives
them (more exact), the moment it is scheduled; otherwise from the PCM (its last half window when the voice is done),
held back until :data:`HELD_AUDIO_MARGIN_S` before its cues are due or until the Speaker yields when they are due
sooner, so that one analysis (~0.1 ms, most of it fixed cost) covers several chunks. The shaped frames are cut into
batches of a quarter second, and each batch leaves :data:`SEND_AHEAD_S` before its first frame is due, or as soon as
it is computed when that is later (held audio: about the margin; phoneme marks: up to the Speaker's look-ahead),
stamped then with the host time at which that frame is due, read from the sink's playback clock at that moment plus
the output latency. An utterance's first batch is no exception: on an idle sink the Speaker delays playback by
:meth:`CueScheduler.start_delay_s` (the lead plus the margin). A device clock that runs a little slow or fast
against the host's monotonic clock is thus re-read every quarter second: a long utterance (one espeak sentence is one
chunk of many seconds) cannot drift. Outputs (the stage, VMC, a recorder) receive begin / cues / end / cancel and
must not block.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

import numpy as np

from app.lipsync.audio import STREAMING_MIN_FRAMES, AudioLipSync
from app.lipsync.espeak_voice import phones_of
from app.lipsync.phonemes import PhoneAudio, analyse_phonemes
from app.lipsync.profile import VoiceProfile
from app.lipsync.shaping import Shaper, ShapingSettings
from app.lipsync.track import DEFAULT_FRAME_RATE, CueTrack, RawFrames, Weights
from app.speech.events import SpeechMark
from app.speech.player import ScheduledAudio
from app.speech.sink import AudioSink

log = logging.getLogger("app.lipsync.cues")

AnalysisMode = Literal["auto", "audio", "phoneme"]
DEFAULT_BATCH_FRAMES = 25
"""A quarter of a second per batch: small frames, and the first mouth shapes leave at once."""
HELD_AUDIO_MARGIN_S = 0.10
"""Audio held back from analysis (to analyse several chunks at once) is analysed at the latest this long before its
cues are due (lead included), and the Speaker's start delay gives an utterance's first cues as long: time for the
event loop to wake (timers ran up to ~50 ms late with the Godot web stage and other tests busy on this 2-core
machine), the bridge, and the stage to read them before it draws the frame they are for. With the Speaker's 530 ms
look-ahead and the 30 ms lead this holds 400 ms (the audio path's ``STREAMING_MIN_FRAMES``), and an analysis costs
~0.15 ms however few its frames (lip-sync benchmark through the Speaker: 2.7 analyses per second of audio, batches
leaving at least 106 ms before they are due; with a 330 ms look-ahead and 200 ms held, 4.6 analyses)."""
SEND_AHEAD_S = 0.4
"""A batch leaves this long before its first frame is due: time to cross the bridge and be queued by a stage that
renders at a low rate on a busy machine, and short enough that a clock drifting by 0.1 % (a cheap sound card) moves
a batch's time by under half a millisecond."""


@dataclass(frozen=True)
class CueBatch:
    utterance: str
    host_time_ms: float
    """When ``weights[0]`` is to be shown (lead applied), on the host's monotonic clock."""
    frame_rate: float
    weights: Weights


class CueOutput(Protocol):
    """Where cues go; every method is called on the event loop and must return at once."""

    def begin(self, utterance: str, host_time_ms: float, frame_rate: float, lead_ms: float) -> None: ...

    def cues(self, batch: CueBatch) -> None: ...

    def end(self, utterance: str, host_time_ms: float) -> None: ...

    def cancel(self, utterance: str) -> None: ...


@dataclass(order=True)
class _QueuedBatch:
    sample: int
    """The sink sample whose sound the batch's first frame goes with (shown one lead earlier): its time is read
    from the sink's clock for this sample when the batch leaves."""
    order: int
    utterance: _Utterance = field(compare=False)
    known: int = field(compare=False)
    """A sample the sink had scheduled when the batch was made (the time fallback of :meth:`CueScheduler._host_ms`)."""
    frame_rate: float = field(compare=False)
    weights: Weights = field(compare=False)


@dataclass
class _Utterance:
    name: str
    turn: int
    origin: int
    """The sink sample heard at the utterance's time zero."""
    shaper: Shaper
    audio: AudioLipSync | None = None
    audio_offset_s: float = 0.0
    """Where the audio path's time zero (its first sample) lies on the utterance's time."""
    audio_end: int = 0
    """The sink sample after the last one the audio path was fed."""
    end_sample: int = 0
    frames_sent: int = 0
    began: bool = False
    drain_timer: asyncio.TimerHandle | None = None
    drain_start: int = -1
    """The sink sample where the held audio that ``drain_timer`` analyses begins."""


class CueScheduler:
    def __init__(
        self,
        sink: AudioSink,
        profile: Callable[[], VoiceProfile],
        *,
        mode: AnalysisMode = "auto",
        shaping: ShapingSettings | None = None,
        batch_frames: int = DEFAULT_BATCH_FRAMES,
        frame_rate: float = DEFAULT_FRAME_RATE,
        send_ahead_s: float = SEND_AHEAD_S,
        output_latency_s: float = 0.0,
    ) -> None:
        """``send_ahead_s``: how long before it is due a batch leaves (``math.inf``: as soon as it is computed).
        ``output_latency_s``: how much later than the sink's clock says the sound is heard (Bluetooth, a slow
        mixer; negative: earlier); it may be changed at any time and applies to the cues computed next."""
        if not 1 <= batch_frames <= 120:
            raise ValueError("a batch holds 1..120 frames")
        self.sink = sink
        self.profile = profile
        self.mode = mode
        self.shaping = shaping or ShapingSettings()
        self.batch_frames = batch_frames
        self.frame_rate = frame_rate
        self.send_ahead_s = send_ahead_s
        self.output_latency_s = output_latency_s
        self.outputs: list[CueOutput] = []
        self._current: _Utterance | None = None
        self._pending: list[tuple[_Utterance, CueTrack, int]] = []
        self._queue: list[_QueuedBatch] = []
        """A heap of batches computed but not sent yet, the soonest due first."""
        self._send_timer: asyncio.TimerHandle | None = None
        self._names = itertools.count(1)
        self._order = itertools.count()

    def add_output(self, output: CueOutput) -> Callable[[], None]:
        self.outputs.append(output)
        return lambda: self.outputs.remove(output)

    def start_delay_s(self) -> float:
        """How long the Speaker should delay playback on an idle sink (its ``start_delay_s`` hook) so that an
        utterance's first cues leave :data:`HELD_AUDIO_MARGIN_S` before they are due, as all later ones do: the lead,
        the margin, and the output latency when it is negative (the sound is heard before the sink's clock says)."""
        return self.shaping.lead_s + HELD_AUDIO_MARGIN_S + max(0.0, -self.output_latency_s)

    # -- Speaker hooks -----------------------------------------------------------------------------------------

    def on_audio(self, scheduled: ScheduledAudio) -> None:
        utterance = self._current
        if utterance is None or utterance.turn != scheduled.turn:
            if utterance is not None:
                self._finish(utterance)
            utterance = _Utterance(f"u{next(self._names)}", scheduled.turn, scheduled.sink_start, Shaper(self.shaping))
            self._current = utterance
        utterance.end_sample = scheduled.sink_end
        track = self._analyse(utterance, scheduled)
        if track is not None and len(track):
            self._pending.append((utterance, track, scheduled.sink_start))
        if self._pending:
            # Stamped after the Speaker has written the chunk: the sink's clock is then final for these samples.
            asyncio.get_running_loop().call_soon(self._emit)

    def on_audio_end(self, turn: int) -> None:
        """The turn's audio is complete: the audio path analyses what it held and its last half window (the frames
        whose window reaches past the end, padded with silence), which no later audio will complete."""
        utterance = self._current
        if utterance is None or utterance.turn != turn or utterance.audio is None:
            return
        self._flush_audio(utterance)
        self._emit()

    def on_mouth_close(self, turn: int) -> None:
        utterance = self._current
        if utterance is None or utterance.turn != turn:
            return
        self._finish(utterance)

    # -- internals ---------------------------------------------------------------------------------------------

    def _analyse(self, utterance: _Utterance, scheduled: ScheduledAudio) -> CueTrack | None:
        """The chunk's shaped frames; None while the audio path holds it (this runs for every 60 ms chunk of a
        streaming voice: what it does besides analysing is kept lean)."""
        rate = scheduled.sample_rate
        phonemes = [mark for mark in scheduled.marks if mark.kind == "phoneme"] if scheduled.marks else []
        use_phonemes = self.mode == "phoneme" or (self.mode == "auto" and bool(phonemes))
        if use_phonemes:
            self._flush_audio(utterance)  # audio-path frames held so far end where this chunk begins
            origin = utterance.origin
            relative = [SpeechMark(m.kind, m.sample - origin, name=m.name) for m in phonemes]
            phones = phones_of(relative, rate, scheduled.sink_end - origin)
            start_s = math.ceil((scheduled.sink_start - origin) / rate * self.frame_rate) / self.frame_rate
            heard = PhoneAudio(scheduled.pcm, rate, (scheduled.sink_start - origin) / rate)
            raw = analyse_phonemes(phones, (scheduled.sink_end - origin) / rate, self.frame_rate, start_s, heard)
        else:
            held = utterance.audio
            if held is not None and (held.spectral.sample_rate != rate or scheduled.sink_start != utterance.audio_end):
                # A new rate, or a gap on the sink (the Speaker's start delay after the provider fell behind): the
                # held audio ends here, padded with the silence that follows it.
                self._flush_audio(utterance)
            audio = utterance.audio
            if audio is None:
                # Started where this chunk starts: after phoneme chunks, that is not the utterance's start.
                audio = utterance.audio = AudioLipSync(self.profile(), rate, self.frame_rate, STREAMING_MIN_FRAMES)
                utterance.audio_offset_s = (scheduled.sink_start - utterance.origin) / rate
            end = utterance.audio_end = scheduled.sink_end
            # Held even when it is due now: it is then analysed as soon as the Speaker yields to the loop, with the
            # chunks it wrote meanwhile (at an utterance's start it writes up to 530 ms at once: analysed together,
            # not chunk by chunk; each analysis costs ~0.1 ms however few its frames).
            raw = audio.feed(scheduled.pcm)
            self._drain_later(utterance, end - audio.held_samples)
            if not len(raw):
                return None
            raw = self._on_utterance_time(utterance, raw)
        return utterance.shaper.shape(raw)

    @staticmethod
    def _on_utterance_time(utterance: _Utterance, raw: RawFrames) -> RawFrames:
        """Audio-path frames (timed from the audio path's first sample) on the utterance's time."""
        return replace(raw, start_s=raw.start_s + utterance.audio_offset_s) if utterance.audio_offset_s else raw

    def _flush_audio(self, utterance: _Utterance) -> None:
        """Queues everything the audio path still holds, with its last half window (no audio follows it)."""
        audio = utterance.audio
        if audio is None:
            return
        if utterance.drain_timer is not None:
            utterance.drain_timer.cancel()
            utterance.drain_timer = None
        held_start = utterance.audio_end - audio.held_samples
        track = utterance.shaper.shape(self._on_utterance_time(utterance, audio.flush()))
        utterance.audio = None
        if len(track):
            self._pending.append((utterance, track, held_start))

    def _seconds_until_due(self, sample: int) -> float:
        """How long held audio starting at sink ``sample`` may still wait before its cues must be computed."""
        return self._seconds_until_shown(sample) - HELD_AUDIO_MARGIN_S

    def _drain_later(self, utterance: _Utterance, held_start: int) -> None:
        """Analyse the held audio when its deadline comes, unless more audio brings it along first."""
        holding = utterance.audio is not None and utterance.audio.held_samples > 0
        delay = max(0.0, self._seconds_until_due(held_start)) if holding else 0.0
        loop = asyncio.get_running_loop()
        timer = utterance.drain_timer
        if timer is not None:
            if holding and utterance.drain_start == held_start and timer.when() <= loop.time() + delay + 0.001:
                # More audio after the same first held sample, whose deadline has not come forward (it would if the
                # sink's clock ran ahead of the loop's): the timer stands (a new one costs ~10 us a chunk).
                return
            timer.cancel()
            utterance.drain_timer = None
        if holding:
            utterance.drain_start = held_start
            utterance.drain_timer = loop.call_later(delay, self._drain, utterance, held_start)

    def _drain(self, utterance: _Utterance, held_start: int) -> None:
        utterance.drain_timer = None
        if utterance is not self._current or utterance.audio is None:
            return
        track = utterance.shaper.shape(self._on_utterance_time(utterance, utterance.audio.drain()))
        if len(track):
            self._pending.append((utterance, track, held_start))
            self._emit()

    def _emit(self) -> None:
        """Cuts the analysed tracks into batches and queues them; ``begin`` leaves with an utterance's first one."""
        pending, self._pending = self._pending, []
        for utterance, track, chunk_start in pending:
            if utterance is not self._current:
                continue  # cancelled before its cues left
            rate = self.sink.sample_rate
            lead_s = self.shaping.lead_s
            if not utterance.began:
                utterance.began = True
                zero = self._host_ms(utterance.origin, chunk_start)
                for output in self.outputs:
                    output.begin(utterance.name, zero, track.frame_rate, lead_s * 1000.0)
            for first in range(0, len(track), self.batch_frames):
                heard_s = track.start_s + lead_s + first / track.frame_rate
                weights = np.ascontiguousarray(track.weights[first : first + self.batch_frames])
                queued = _QueuedBatch(
                    utterance.origin + round(heard_s * rate),
                    next(self._order),
                    utterance,
                    chunk_start,
                    track.frame_rate,
                    weights,
                )
                heapq.heappush(self._queue, queued)
        self.send_due()

    def send_due(self) -> None:
        """Sends every queued batch due within :attr:`send_ahead_s`, each stamped with the sink's clock now, and sets
        a timer for the next. (Its own timer calls it; tests call it too, after moving a manual clock.)"""
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
        while self._queue:
            queued = self._queue[0]
            if queued.utterance is not self._current:
                heapq.heappop(self._queue)  # cancelled before it left
                continue
            wait_s = self._seconds_until_shown(queued.sample) - self.send_ahead_s
            if wait_s > 0.0:
                self._send_timer = asyncio.get_running_loop().call_later(wait_s, self.send_due)
                return
            self._send(heapq.heappop(self._queue))

    def _seconds_until_shown(self, sample: int) -> float:
        """How long until the mouth shape for the sound at sink ``sample`` is shown (one lead before it is heard)."""
        heard_in_s = (sample - self.sink.position()) / self.sink.sample_rate + self.output_latency_s
        return heard_in_s - self.shaping.lead_s

    def _send(self, queued: _QueuedBatch) -> None:
        lead_ms = self.shaping.lead_s * 1000.0
        batch = CueBatch(
            queued.utterance.name,
            self._host_ms(queued.sample, queued.known) - lead_ms,
            queued.frame_rate,
            queued.weights,
        )
        queued.utterance.frames_sent += len(queued.weights)
        for output in self.outputs:
            output.cues(batch)

    def _host_ms(self, sample: int, known: int) -> float:
        """When ``sample`` is heard, in host milliseconds; extrapolated from ``known`` (a sample the sink has
        scheduled) when the sink no longer knows ``sample`` (already heard before the clock re-anchored)."""
        seconds = self.sink.time_of(sample)
        if seconds is None:
            base = self.sink.time_of(known)
            if base is None:
                base = self.sink.time_of(self.sink.position()) or 0.0
                known = self.sink.position()
            seconds = base + (sample - known) / self.sink.sample_rate
        return (seconds + self.output_latency_s) * 1000.0

    def _finish(self, utterance: _Utterance) -> None:
        """The turn stopped: ``end`` when everything was heard, else ``cancel`` (abort, hot swap, error)."""
        self._current = None
        if utterance.drain_timer is not None:
            utterance.drain_timer.cancel()
        if not utterance.began:
            return
        heard = self.sink.position() >= utterance.end_sample
        left = sorted(q for q in self._queue if q.utterance is utterance)
        self._queue = [q for q in self._queue if q.utterance is not utterance]
        heapq.heapify(self._queue)
        if heard:
            for queued in left:  # not sent yet (a stalled loop): they leave now, before the end
                self._send(queued)
            end_ms = self._host_ms(utterance.end_sample, utterance.end_sample)
            for output in self.outputs:
                output.end(utterance.name, end_ms)
        else:
            for output in self.outputs:
                output.cancel(utterance.name)
