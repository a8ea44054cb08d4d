"""Lip sync as the composition root wires it: the profile store, the cue scheduler on the speaker's hooks, and
the stage output and the optional VMC output.

    lipsync = LipSyncService(sink, lambda: stage.bridge, user_data_dir, voice=lambda: voice_key("espeak", None))
    speech = SpeechService(sink, settings, hooks=lipsync.speaker_hooks())
    await lipsync.start()  ...  await lipsync.close()

VMC output is off unless ``vmc=VmcSettings(enabled=True, ...)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from app.lipsync.cues import AnalysisMode, CueScheduler
from app.lipsync.profile import CalibrationError, ProfileStore, VoiceProfile, default_profile
from app.lipsync.shaping import ShapingSettings
from app.lipsync.stage_output import CurrentBridge, StageCueOutput
from app.lipsync.vmc import VmcOutput, VmcSettings, VmcUnavailable
from app.speech.hooks import SpeakerHooks
from app.speech.player import ScheduledAudio
from app.speech.sink import AudioSink

log = logging.getLogger("app.lipsync")


class LipSyncService:
    def __init__(
        self,
        sink: AudioSink,
        bridge: CurrentBridge | None,
        user_data_dir: Path,
        voice: Callable[[], str],
        *,
        mode: AnalysisMode = "auto",
        shaping: ShapingSettings | None = None,
        output_latency_s: float = 0.0,
        vmc: VmcSettings | None = None,
    ) -> None:
        """``bridge`` returns the running stage's bridge each time cues leave (it changes when the stage restarts);
        None: no stage output at all."""
        self.store = ProfileStore(user_data_dir)
        self.voice = voice
        self.scheduler = CueScheduler(
            sink, self.current_profile, mode=mode, shaping=shaping, output_latency_s=output_latency_s
        )
        self.stage_output = StageCueOutput(bridge) if bridge is not None else None
        if self.stage_output is not None:
            self.scheduler.add_output(self.stage_output)
        self.vmc_output = VmcOutput(vmc) if vmc is not None and vmc.enabled else None
        self._remove_vmc = self.scheduler.add_output(self.vmc_output) if self.vmc_output is not None else None
        self.vmc_problem: str | None = None
        """Why the VMC output is off although it was asked for (set by :meth:`start` and :meth:`set_vmc`), for the UI
        to show; its listeners hear every change (:meth:`watch_vmc_problem`)."""
        self._vmc_problem_listeners: list[Callable[[str | None], None]] = []

    def current_profile(self) -> VoiceProfile:
        """The current voice's calibrated profile, or the built-in one (also when the stored file is damaged)."""
        try:
            return self.store.load_or_default(self.voice())
        except CalibrationError:
            return default_profile()

    def speaker_hooks(self, hooks: SpeakerHooks | None = None) -> SpeakerHooks:
        """``hooks`` (or new ones) with the scheduler attached, keeping any observer already there; playback on an
        idle sink starts late enough for the first cues to reach the stage before the first sound."""
        return self.attach_scheduler(self.scheduler, hooks or SpeakerHooks())

    @staticmethod
    def attach_scheduler(scheduler: CueScheduler, hooks: SpeakerHooks) -> SpeakerHooks:
        """:meth:`speaker_hooks` for any scheduler (benchmarks and tests wire one without the service)."""
        previous_audio, previous_end, previous_close = hooks.on_audio, hooks.on_audio_end, hooks.on_mouth_close

        def on_audio(scheduled: ScheduledAudio) -> None:
            if previous_audio is not None:
                previous_audio(scheduled)
            scheduler.on_audio(scheduled)

        def on_audio_end(turn: int) -> None:
            if previous_end is not None:
                previous_end(turn)
            scheduler.on_audio_end(turn)

        def on_mouth_close(turn: int) -> None:
            if previous_close is not None:
                previous_close(turn)
            scheduler.on_mouth_close(turn)

        hooks.on_audio = on_audio
        hooks.on_audio_end = on_audio_end
        hooks.on_mouth_close = on_mouth_close
        hooks.start_delay_s = scheduler.start_delay_s  # the first cues leave before the first sound
        return hooks

    async def start(self) -> None:
        if self.stage_output is not None:
            self.stage_output.start()
        if self.vmc_output is not None:
            try:
                await self.vmc_output.start()
            except VmcUnavailable as error:  # lip sync on the stage goes on without it
                self._vmc_failed(error)

    async def set_vmc(self, vmc: VmcSettings) -> None:
        """Applies changed VMC settings while the app runs: the old output closes, a new one starts if enabled."""
        if self.vmc_output is not None:
            if self._remove_vmc is not None:
                self._remove_vmc()
            await self.vmc_output.close()
            self.vmc_output = self._remove_vmc = None
        self._vmc_problem(None)
        if vmc.enabled:
            output = VmcOutput(vmc)
            self.vmc_output = output
            self._remove_vmc = self.scheduler.add_output(output)
            try:
                await output.start()
            except VmcUnavailable as error:
                self._vmc_failed(error)

    def watch_vmc_problem(self, listener: Callable[[str | None], None]) -> Callable[[], None]:
        """Calls ``listener`` with the new :attr:`vmc_problem` (None: fixed) at every change; returns its remover."""
        self._vmc_problem_listeners.append(listener)
        return lambda: self._vmc_problem_listeners.remove(listener) if listener in self._vmc_problem_listeners else None

    def _vmc_problem(self, problem: str | None) -> None:
        changed = problem != self.vmc_problem
        self.vmc_problem = problem
        if changed:
            for listener in list(self._vmc_problem_listeners):
                listener(problem)

    def _vmc_failed(self, error: VmcUnavailable) -> None:
        self._vmc_problem(f"VMC output is off: {error}.")
        log.warning("%s", self.vmc_problem)
        if self._remove_vmc is not None:
            self._remove_vmc()
        self.vmc_output = self._remove_vmc = None

    async def close(self) -> None:
        if self.stage_output is not None:
            await self.stage_output.close()
        if self.vmc_output is not None:
            await self.vmc_output.close()
