"""The cue stream to the Godot stage: ``speech.*`` events over the bridge, in order, never blocking the speaker.

Host times become stage times when each event leaves, with the bridge's current clock-offset estimate, so every
batch is anchored afresh. Events for a stage that is not connected, or that did not announce ``speech.cues``, are
dropped (the stage closes its mouth on its own when frames stop coming).

:class:`CueTiming` measures, as each batch leaves, how far ahead of its sound it goes (the devtools show it): the
margin the stage has to apply it. A batch that leaves after its first frame was due is late (the mouth lags).

The bridge is asked for when each event leaves, not kept: restarting the stage (Settings > Stage > Restart) builds a
new bridge server, and the cues must follow it rather than go on to the closed one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from app.lipsync.cues import CueBatch
from app.lipsync.timing import CueTiming
from godot_bridge.protocol.clock import ClockOffsetEstimator
from godot_bridge.protocol.messages import Payload, SpeechBegin, SpeechCancel, SpeechCues, SpeechEnd
from godot_bridge.server.bridge import BridgeServer, StageNotConnected

log = logging.getLogger("app.lipsync.stage")

CAPABILITY = "speech.cues"
WEIGHT_DECIMALS = 3

_Pending = tuple[str, str, Callable[[ClockOffsetEstimator], Payload], float | None]
"""(utterance, type, payload maker called when the event leaves, with the clock of the bridge it leaves on; host
time its first frame is due (cues only))."""


CurrentBridge = Callable[[], BridgeServer | None]
"""The bridge of the stage running now (None while there is none)."""


class StageCueOutput:
    def __init__(self, bridge: CurrentBridge) -> None:
        self.bridge = bridge
        self._queue: list[_Pending] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.timing = CueTiming()
        self._idle = asyncio.Event()
        self._idle.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="stage cue sender")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- CueOutput -----------------------------------------------------------------------------------------------

    def begin(self, utterance: str, host_time_ms: float, frame_rate: float, lead_ms: float) -> None:
        self.timing.lead_ms = lead_ms
        self._put(
            utterance,
            "speech.begin",
            lambda clock: SpeechBegin(
                utterance=utterance,
                host_time_ms=host_time_ms,
                stage_time_ms=clock.to_stage_time(host_time_ms),
                frame_rate=frame_rate,
                lead_ms=lead_ms,
            ),
        )

    def cues(self, batch: CueBatch) -> None:
        frames = [[round(float(w), WEIGHT_DECIMALS) for w in row] for row in batch.weights.tolist()]
        self._put(
            batch.utterance,
            "speech.cues",
            lambda clock: SpeechCues(
                utterance=batch.utterance,
                host_time_ms=batch.host_time_ms,
                stage_time_ms=clock.to_stage_time(batch.host_time_ms),
                frame_rate=batch.frame_rate,
                frames=frames,
            ),
            batch.host_time_ms,
        )

    def end(self, utterance: str, host_time_ms: float) -> None:
        self._put(
            utterance,
            "speech.end",
            lambda clock: SpeechEnd(
                utterance=utterance, host_time_ms=host_time_ms, stage_time_ms=clock.to_stage_time(host_time_ms)
            ),
        )

    def cancel(self, utterance: str) -> None:
        # Whatever of this utterance has not left yet never will; the cancel goes first.
        self._queue = [item for item in self._queue if item[0] != utterance]
        self._queue.insert(0, (utterance, "speech.cancel", lambda _clock: SpeechCancel(utterance=utterance), None))
        self._idle.clear()
        self._wake.set()

    async def drained(self) -> None:
        """Returns once every queued event has left (for tests and orderly shutdown)."""
        await self._idle.wait()

    # -- sending -------------------------------------------------------------------------------------------------

    def _put(
        self, utterance: str, type_: str, make: Callable[[ClockOffsetEstimator], Payload], due_ms: float | None = None
    ) -> None:
        self._queue.append((utterance, type_, make, due_ms))
        self._idle.clear()
        self._wake.set()

    def _listening_bridge(self) -> BridgeServer | None:
        bridge = self.bridge()
        stage = bridge.stage if bridge is not None else None
        return bridge if stage is not None and CAPABILITY in stage.hello.capabilities else None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                _utterance, type_, make, due_ms = self._queue.pop(0)
                bridge = self._listening_bridge()
                if bridge is None:
                    continue
                try:
                    await bridge.send_event(type_, make(bridge.clock))
                    self.sent += 1
                    if due_ms is not None:
                        self.timing.record(due_ms, bridge.now_ms())
                except StageNotConnected:
                    continue
                except Exception:  # a closed socket or an over-size frame must not stop later utterances
                    log.exception("sending %s to the stage failed", type_)
            self._idle.set()
