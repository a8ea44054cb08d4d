"""The embedded offline voice: espeak-ng 1.52 from the ``espeakng-loader`` wheel, through ctypes.

Synchronous mode: ``espeak_Synth`` returns when the utterance is done, and our callback receives the PCM
(22,050 Hz, signed 16-bit mono, chunks of about 60 ms) with word and phoneme events whose ``audio_position`` (ms from
the start of that call) becomes a sample position. Returning 1 from the callback aborts synthesis at once.

libespeak-ng is one process-wide, thread-unsafe state, so every call goes through one worker thread and one lock;
the event loop never waits for it. Facts and pitfalls: ``shared/reference/qt-stack.md`` section 4.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.speech.events import SpeechMark, SpeechProviderError
from app.speech.session import SynthChunk

log = logging.getLogger("app.speech.espeak")

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_EE_NOT_FOUND = 2
_EVENT_NAMES = {1: "word", 2: "sentence", 5: "end", 7: "phoneme"}
_EVENT_TERMINATED = 0

MIN_RATE = 80
MAX_RATE = 450
DEFAULT_RATE = 175
DEFAULT_VOICE = "en-us"

_LIBRARY_LOCK = threading.Lock()
"""libespeak-ng keeps one global state per process, whatever number of engines wrap it."""


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


@dataclass(frozen=True)
class Utterance:
    pcm: np.ndarray[Any, np.dtype[np.int16]]
    sample_rate: int
    marks: tuple[SpeechMark, ...]
    cancelled: bool


@dataclass(frozen=True)
class VoiceInfo:
    name: str
    identifier: str


class EspeakEngine:
    """The library, initialised on first use in its own worker thread. Build one in the composition root."""

    def __init__(self, library_path: str | None = None, data_path: str | None = None) -> None:
        self._library_path = library_path
        self._data_path = data_path
        self._lib: ctypes.CDLL | None = None
        self._sample_rate = 0
        self._voice: str | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="espeak")
        self._collect: Callable[[ctypes.Array[ctypes.c_short] | Any, int, Any], int] | None = None
        self._callback = _Callback(self._on_synth)  # kept referenced: the library holds only a raw pointer

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    def _ensure(self) -> ctypes.CDLL:
        if self._lib is not None:
            return self._lib
        library_path, data_path = self._library_path, self._data_path
        if library_path is None or data_path is None:
            try:
                import espeakng_loader  # type: ignore[import-untyped]  # noqa: PLC0415 - only the embedded voice needs it
            except ImportError as error:
                raise SpeechProviderError("espeak-missing", "the espeakng-loader package is not installed") from error
            library_path = library_path or espeakng_loader.get_library_path()
            data_path = data_path or espeakng_loader.get_data_path()
        try:
            lib = ctypes.CDLL(library_path)
        except OSError as error:
            raise SpeechProviderError("espeak-missing", f"cannot load libespeak-ng: {error}") from error
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_Callback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint),
            ctypes.c_void_p,
        ]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        flags = _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA | _INITIALIZE_DONT_EXIT
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), flags)
        if rate <= 0:
            raise SpeechProviderError("espeak-failed", f"espeak_Initialize failed ({rate}) with data at {data_path}")
        lib.espeak_SetSynthCallback(self._callback)
        self._sample_rate = rate
        self._lib = lib
        log.info("espeak-ng ready: %d Hz, data %s", rate, data_path)
        return lib

    def _on_synth(self, wav: Any, count: int, events: Any) -> int:
        return self._collect(wav, count, events) if self._collect is not None else 1

    # -- blocking API (worker thread) -------------------------------------------------------------------------------

    def voices(self) -> list[VoiceInfo]:
        with _LIBRARY_LOCK:
            return self._voices(self._ensure())

    @staticmethod
    def _voices(lib: ctypes.CDLL) -> list[VoiceInfo]:
        found = []
        table = lib.espeak_ListVoices(None)
        index = 0
        while table[index]:
            voice = table[index].contents
            found.append(VoiceInfo(_text(voice.name), _text(voice.identifier)))
            index += 1
        return found

    def _unknown_voice(self, lib: ctypes.CDLL, voice: str) -> SpeechProviderError:
        """Names with the same language prefix, so "en-gb" suggests "en" (British English in 1.52), "en-us", ..."""
        language = voice.lower().split("-")[0]
        names = sorted({info.identifier.rsplit("/", 1)[-1].lower() for info in self._voices(lib)})
        similar = [name for name in names if name.split("-")[0] == language][:8]
        hint = f"; try {', '.join(similar)}" if similar else ""
        return SpeechProviderError("unknown-voice", f"espeak-ng has no voice {voice!r}{hint}")

    def synthesize_blocking(
        self, text: str, voice: str = DEFAULT_VOICE, rate: int = DEFAULT_RATE, stop: threading.Event | None = None
    ) -> Utterance:
        """Speak ``text`` into memory. ``stop`` set from any thread aborts within one ~60 ms chunk of synthesis."""
        if not MIN_RATE <= rate <= MAX_RATE:
            raise SpeechProviderError("invalid-rate", f"the rate must be {MIN_RATE}..{MAX_RATE} words per minute")
        with _LIBRARY_LOCK:
            lib = self._ensure()
            if voice != self._voice:
                if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                    self._voice = None
                    raise self._unknown_voice(lib, voice)
                self._voice = voice
            lib.espeak_SetParameter(_PARAM_RATE, rate, 0)
            pieces: list[np.ndarray[Any, np.dtype[np.int16]]] = []
            marks: list[SpeechMark] = []
            samples = 0
            sample_rate = self._sample_rate
            aborted = False

            def collect(wav: Any, count: int, events: Any) -> int:
                nonlocal samples, aborted
                if stop is not None and stop.is_set():
                    aborted = True
                    return 1
                if count > 0 and wav:
                    pieces.append(np.ctypeslib.as_array(wav, shape=(count,)).astype(np.int16, copy=True))
                    samples += count
                index = 0
                while events[index].type != _EVENT_TERMINATED:
                    marks.extend(_mark(events[index], sample_rate))
                    index += 1
                return 0

            encoded = text.encode("utf-8") + b"\0"
            self._collect = collect
            try:
                identifier = ctypes.c_uint(0)
                status = lib.espeak_Synth(encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, identifier, None)
                lib.espeak_Synchronize()
            finally:
                self._collect = None
            if status != 0 and not aborted:
                raise SpeechProviderError("espeak-failed", f"espeak_Synth returned {status}")
        pcm = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)
        inside = tuple(mark for mark in marks if mark.sample <= len(pcm))
        return Utterance(pcm, sample_rate, inside, aborted)

    # -- async API --------------------------------------------------------------------------------------------------

    async def synthesize(self, text: str, voice: str = DEFAULT_VOICE, rate: int = DEFAULT_RATE) -> Utterance:
        """Off the event loop; cancelling the caller stops espeak mid-utterance."""
        stop = threading.Event()
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self._executor, self.synthesize_blocking, text, voice, rate, stop)
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            stop.set()
            raise

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class EspeakSynthesizer:
    """The embedded voice as an :class:`~app.speech.session.UtteranceSynthesizer` with a fixed voice and rate."""

    def __init__(self, engine: EspeakEngine, voice: str = DEFAULT_VOICE, rate: int = DEFAULT_RATE) -> None:
        self.engine = engine
        self.voice = voice
        self.rate = rate

    async def synthesize(self, text: str) -> AsyncIterator[SynthChunk]:
        utterance = await self.engine.synthesize(text, self.voice, self.rate)
        if len(utterance.pcm):
            yield SynthChunk(utterance.pcm, utterance.sample_rate, utterance.marks)


def _mark(event: _Event, sample_rate: int) -> list[SpeechMark]:
    kind = _EVENT_NAMES.get(event.type)
    if kind is None:
        return []
    sample = round(event.audio_position * sample_rate / 1000)
    name = ""
    if kind == "phoneme":
        name = bytes(event.id.string).split(b"\0", 1)[0].decode("utf-8", "replace")
    start = event.text_position - 1 if kind == "word" else -1
    length = event.length if kind == "word" else 0
    return [SpeechMark(kind, sample, start, length, name)]  # type: ignore[arg-type]


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value else ""
