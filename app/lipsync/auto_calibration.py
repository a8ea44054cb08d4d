"""Each voice's mouth profile, made while the app runs: the one code path of "Calibrate this voice" and of the
automatic calibration of a new voice, with the current voice's profile status for the Lip sync page.

    calibrator = VoiceCalibrator(lipsync.store, speech.factory, current_voice=lipsync.voice)
    calibrator.auto(speech_settings)                  # a new audio-path voice: calibrated in the background, once
    await calibrator.calibrate(speech_settings)       # the button: again, even when a profile exists
    calibrator.status(speech_settings).text()         # "calibrated (2026-11-23 05:10)", "built-in profile (...)"

Calibrations run one at a time, each with the speech settings it was asked with, and store the profile under the
voice it was made for, whatever the voice is by the time it finishes. One that is still waiting its turn when the
voice has changed again is dropped (a user clicking through voices pays for none of them). A voice whose automatic
calibration failed is not tried again automatically with the same settings in this run; the button still works.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from app.lipsync.profile import CalibrationError, ProfileStore, VoiceProfile
from app.lipsync.provider_voice import calibrate_off_loop, calibration_language, provider_synthesize, voice_key
from app.speech.events import SpeechProviderError
from app.speech.factory import SessionFactory
from app.speech.providers import SpeechSettings

log = logging.getLogger("app.lipsync.calibration")

CALIBRATION_TIMEOUT_S = 300.0
"""A whole calibration (a dozen or so short texts spoken, then analysed); each request has its own, shorter timeout."""

Phase = Literal["not-needed", "built-in", "calibrated", "calibrating", "failed"]


class CalibrationFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ProfileStatus:
    voice: str
    phase: Phase
    calibrated_at: datetime | None = None
    """When the stored profile was written (None: the built-in profile is used)."""
    reason: str = ""
    """Why the last calibration failed, or why a stored profile is not used."""
    recordings: int = 0
    """While calibrating: how many calibration texts were spoken so far."""
    provider: str = ""

    def text(self) -> str:
        if self.phase == "not-needed":
            return f"not needed: {self.provider} gives phonemes"
        at = self.calibrated_at
        profile = f"calibrated ({at:%Y-%m-%d %H:%M})" if at is not None else "built-in profile"
        if self.phase == "calibrating":
            spoken = f", {self.recordings} recordings made" if self.recordings else ""
            again = "re-calibrating" if self.calibrated_at is not None else "calibrating"
            return f"{profile} ({again}…{spoken})"
        if self.phase == "failed":
            return f"{profile}: calibration failed: {self.reason}"
        if self.reason:
            return f"{profile}: {self.reason}"
        return profile


Listener = Callable[[str], None]
"""Told the voice key whose status changed."""


def _signature(settings: SpeechSettings) -> tuple[str, str | None, str | None, str | None]:
    """What a failed calibration is remembered by: the same voice on another server or model may well work."""
    return settings.provider, settings.voice, settings.model, settings.base_url


class VoiceCalibrator:
    def __init__(
        self,
        store: ProfileStore,
        factory: SessionFactory,
        current_voice: Callable[[], str],
        timeout_s: float = CALIBRATION_TIMEOUT_S,
    ) -> None:
        """``current_voice`` is the key of the voice the app speaks with now (what lip sync reads the profile of)."""
        self.store = store
        self.factory = factory
        self.current_voice = current_voice
        self.timeout_s = timeout_s
        self._jobs: dict[str, asyncio.Task[VoiceProfile | None]] = {}
        self._recordings: dict[str, int] = {}
        self._failed: dict[str, tuple[tuple[str, str | None, str | None, str | None], str]] = {}
        self._one_at_a_time = asyncio.Lock()
        self._listeners: list[Listener] = []

    # -- what the app asks -------------------------------------------------------------------------------------

    def needs_profile(self, settings: SpeechSettings) -> bool:
        """A voice spoken through the audio path needs a profile; one that gives phoneme marks (espeak) does not."""
        return not self.factory.definition(settings.provider).capabilities.timing_marks

    def auto(self, settings: SpeechSettings, language: str = "") -> bool:
        """Calibrates the voice of ``settings`` in the background if it needs a profile and has none (or a damaged
        one), none is running for it, and it did not fail with these settings in this run; True if it started.
        ``language``: the Lip sync page's calibration language (empty: guessed, see
        :func:`~app.lipsync.provider_voice.calibration_language`)."""
        try:
            if not self.needs_profile(settings):
                return False
        except SpeechProviderError:  # an unknown provider: speech says so itself
            return False
        voice = voice_key(settings.provider, settings.voice, settings.model, settings.base_url)
        failed = self._failed.get(voice)
        if voice in self._jobs or (failed is not None and failed[0] == _signature(settings)):
            return False
        try:
            if self.store.load(voice) is not None:
                return False
        except CalibrationError as damaged:
            log.warning("the lip-sync profile of %s is damaged (%s): calibrating it again", voice, damaged)
        log.info("calibrating the new voice %s in the background", voice)
        self._start(voice, settings, language, automatic=True)
        return True

    async def calibrate(self, settings: SpeechSettings, language: str = "") -> VoiceProfile:
        """Calibrates the voice of ``settings`` now, even when it has a profile (joining a calibration already
        running for it), and returns the stored profile; a failure raises :class:`CalibrationFailed` with its
        reason in words. Cancelling the caller does not cancel the calibration."""
        voice = voice_key(settings.provider, settings.voice, settings.model, settings.base_url)
        job = self._jobs.get(voice) or self._start(voice, settings, language, automatic=False)
        profile = await asyncio.shield(job)
        if profile is None:
            raise CalibrationFailed("superseded", "the voice changed before its calibration began")
        return profile

    def status(self, settings: SpeechSettings) -> ProfileStatus:
        voice = voice_key(settings.provider, settings.voice, settings.model, settings.base_url)
        try:
            needed = self.needs_profile(settings)
        except SpeechProviderError as error:
            return ProfileStatus(voice, "built-in", reason=error.message)
        if not needed:
            return ProfileStatus(voice, "not-needed", provider=settings.provider)
        calibrated_at, damaged = self._stored(voice)
        if voice in self._jobs:
            return ProfileStatus(voice, "calibrating", calibrated_at, recordings=self.recordings(voice))
        failed = self._failed.get(voice)
        if failed is not None:
            return ProfileStatus(voice, "failed", calibrated_at, reason=failed[1])
        if calibrated_at is not None:
            return ProfileStatus(voice, "calibrated", calibrated_at)
        return ProfileStatus(voice, "built-in", reason=damaged)

    def forget_failures(self, provider: str) -> None:
        """The provider's failed voices may be tried again automatically (its API key was saved)."""
        for voice in [v for v, (signature, _reason) in self._failed.items() if signature[0] == provider]:
            del self._failed[voice]
            self._notify(voice)

    def recordings(self, voice: str) -> int:
        """How many calibration texts the voice's running calibration has spoken so far."""
        return self._recordings.get(voice, 0)

    def busy(self, voice: str | None = None) -> bool:
        """A calibration is running or waiting (for ``voice``, or any)."""
        return bool(self._jobs) if voice is None else voice in self._jobs

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def aclose(self) -> None:
        """Stops every calibration (the app quits): nothing is stored for them. Bounded: the analysis of one that
        was being analysed goes on in its worker thread and its result is dropped."""
        jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel()
        if jobs:
            await asyncio.wait(jobs, timeout=2.0)

    # -- internals ---------------------------------------------------------------------------------------------

    def _stored(self, voice: str) -> tuple[datetime | None, str]:
        """When the voice's profile was stored (None: none usable), and why a stored file is not used."""
        try:
            if self.store.load(voice) is None:
                return None, ""
            return datetime.fromtimestamp(self.store.path_of(voice).stat().st_mtime), ""
        except (CalibrationError, OSError) as error:
            return None, f"the stored profile is damaged ({error})"

    def _start(
        self, voice: str, settings: SpeechSettings, language: str, *, automatic: bool
    ) -> asyncio.Task[VoiceProfile | None]:
        job = asyncio.ensure_future(self._run(voice, settings, language, automatic))
        self._jobs[voice] = job
        self._recordings[voice] = 0

        def finished(_job: asyncio.Task[VoiceProfile | None]) -> None:
            if not job.cancelled():
                job.exception()  # retrieved: a failure shows in the status and the log, not as an asyncio warning
            if self._jobs.get(voice) is job:
                del self._jobs[voice]
            self._recordings.pop(voice, None)
            self._notify(voice)

        job.add_done_callback(finished)
        self._notify(voice)
        return job

    async def _run(self, voice: str, settings: SpeechSettings, language: str, automatic: bool) -> VoiceProfile | None:
        async with self._one_at_a_time:
            if automatic and voice != self.current_voice():
                log.info("not calibrating %s: the voice changed before its turn", voice)
                return None
            try:
                return await self._calibrated(voice, settings, calibration_language(settings, language))
            except CalibrationFailed as failure:
                self._failed[voice] = (_signature(settings), failure.message)
                log.warning("calibrating %s failed: %s", voice, failure.message)
                raise

    async def _calibrated(self, voice: str, settings: SpeechSettings, language: str) -> VoiceProfile:
        def spoken(count: int) -> None:
            self._recordings[voice] = count
            self._notify(voice)

        try:
            synthesize = provider_synthesize(settings, self.factory)
            marks = not self.needs_profile(settings)
            calibration = calibrate_off_loop(voice, language, synthesize, spoken, marks=marks)
            profile = await asyncio.wait_for(calibration, self.timeout_s)
            await asyncio.to_thread(self.store.save, profile)
        except SpeechProviderError as error:
            raise CalibrationFailed(error.code, f"the voice failed: {error.message}") from None
        except CalibrationError as error:
            raise CalibrationFailed("calibration-failed", str(error)) from None
        except TimeoutError:
            raise CalibrationFailed("timeout", f"not done within {self.timeout_s:g} s") from None
        except OSError as error:
            raise CalibrationFailed("cannot-save", f"cannot save the profile: {error.strerror or error}") from None
        except Exception as error:  # a bug must not retry forever nor vanish: it is this voice's failure
            log.exception("calibrating %s failed unexpectedly", voice)
            raise CalibrationFailed("internal", f"{type(error).__name__}: {error}") from None
        self._failed.pop(voice, None)
        log.info("calibrated %s (vowel level %.1f dBFS)", voice, profile.level_db)
        return profile

    def _notify(self, voice: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(voice)
            except Exception:  # a broken listener must not stop a calibration
                log.exception("a calibration listener failed")
