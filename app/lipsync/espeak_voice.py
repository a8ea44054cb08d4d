"""Calibration through the embedded espeak voice, which reports its phonemes (so vowels are measured in context)."""

from __future__ import annotations

from app.lipsync.phonemes import Phone, phones_from_marks
from app.lipsync.profile import CalibrationRecording, Synthesize
from app.speech.espeak import DEFAULT_RATE, EspeakEngine
from app.speech.events import SpeechMark


def phones_of(marks: tuple[SpeechMark, ...] | list[SpeechMark], sample_rate: int, end_sample: int) -> list[Phone]:
    """A synthesizer's phoneme marks (sample positions) as phoneme segments in seconds."""
    timed = [(mark.sample / sample_rate, mark.name) for mark in marks if mark.kind == "phoneme"]
    return phones_from_marks(timed, end_sample / sample_rate)


def espeak_synthesize(engine: EspeakEngine, voice: str, rate: int = DEFAULT_RATE) -> Synthesize:
    async def synthesize(text: str) -> CalibrationRecording:
        spoken = await engine.synthesize(text, voice, rate)
        return CalibrationRecording(
            spoken.pcm, spoken.sample_rate, phones_of(spoken.marks, spoken.sample_rate, len(spoken.pcm))
        )

    return synthesize
