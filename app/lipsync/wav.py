"""WAV files for ``lipsync analyze``: the RIFF header parsed here (the standard library's ``wave`` refuses
WAVE_FORMAT_EXTENSIBLE and float files, which most editors and TTS tools write), samples read in blocks so that an
hour of audio costs no more memory than a second.

Integer PCM of 8, 16, 24 and 32 bits and IEEE float of 32 and 64 bits, plain or extensible, any channel count (mixed
down to mono). Each problem has its own one-line reason: a missing, empty or header-only file, another container,
a compressed encoding.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import numpy.typing as npt

MIN_SAMPLE_RATE = 8000
BLOCK_FRAMES = 1 << 16
"""Frames per block read (about 1.4 s at 48 kHz): numpy's per-call cost is negligible, memory stays small."""

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
_ENCODINGS = {2: "Microsoft ADPCM", 6: "A-law", 7: "mu-law", 0x11: "IMA ADPCM", 0x55: "MP3"}
_STREAMING_SIZES = (0, 0xFFFFFFFF)
"""Data sizes written by recorders that could not seek back: the data runs to the end of the file."""


class WavError(Exception):
    pass


@dataclass(frozen=True)
class WavFormat:
    encoding: Literal["int", "float"]
    channels: int
    sample_rate: int
    bits: int
    data_offset: int
    data_bytes: int
    """Whole frames only."""

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.bits // 8

    @property
    def frames(self) -> int:
        return self.data_bytes // self.frame_bytes


def _fmt(path: Path, body: bytes) -> tuple[Literal["int", "float"], int, int, int]:
    """(encoding, channels, rate, bits) of a fmt chunk."""
    if len(body) < 16:
        raise WavError(f"{path} is not a PCM WAV file: its fmt chunk is {len(body)} bytes, too short")
    tag, channels, rate, _byte_rate, _block_align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == _EXTENSIBLE:
        if len(body) < 40:
            raise WavError(f"{path} is not a PCM WAV file: its extensible fmt chunk is cut short")
        tag = struct.unpack("<H", body[24:26])[0]  # the sub-format GUID starts with the format code
    if tag not in (_PCM, _FLOAT):
        name = _ENCODINGS.get(tag, f"format {tag}")
        raise WavError(f"{path} is {name} encoded; lip sync reads integer PCM and floating-point WAV files")
    encoding: Literal["int", "float"] = "int" if tag == _PCM else "float"
    if channels < 1:
        raise WavError(f"{path} is not a PCM WAV file: it declares {channels} channels")
    if (encoding, bits) not in {("int", 8), ("int", 16), ("int", 24), ("int", 32), ("float", 32), ("float", 64)}:
        kind = "integer" if encoding == "int" else "floating-point"
        raise WavError(f"{path} has {bits}-bit {kind} samples, which are not supported")
    if rate < MIN_SAMPLE_RATE:
        raise WavError(f"{path} is sampled at {rate} Hz; lip sync needs at least {MIN_SAMPLE_RATE} Hz")
    return encoding, channels, rate, bits


def read_format(path: Path, source: BinaryIO, size: int) -> WavFormat:
    """The format and where the samples are, from the RIFF chunks of an open file of ``size`` bytes."""
    if size == 0:
        raise WavError(f"{path} is empty (0 bytes)")
    head = source.read(12)
    if head[:4] == b"RF64":
        raise WavError(f"{path} is an RF64 file (over 4 GB); save it as a plain WAV file")
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise WavError(f"{path} is not a PCM WAV file: it does not start with a RIFF/WAVE header")
    found: tuple[Literal["int", "float"], int, int, int] | None = None
    while True:
        chunk = source.read(8)
        if len(chunk) < 8:
            if found is None:
                raise WavError(f"{path} is not a PCM WAV file: it has no fmt chunk")
            raise WavError(f"{path} holds no audio: its WAV header has no data chunk after it")
        name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if name == b"fmt ":
            if length > 1 << 16:
                raise WavError(f"{path} is not a PCM WAV file: its fmt chunk claims {length} bytes")
            found = _fmt(path, source.read(length))
            source.seek(length % 2, 1)  # chunks are padded to an even length
        elif name == b"data":
            if found is None:
                raise WavError(f"{path} is not a PCM WAV file: its samples come before their format (fmt chunk)")
            encoding, channels, rate, bits = found
            offset = source.tell()
            available = size - offset
            data = available if length in _STREAMING_SIZES else min(length, available)
            frame_bytes = channels * bits // 8
            data -= data % frame_bytes
            if data <= 0:
                raise WavError(f"{path} holds no audio: its WAV header has no samples after it")
            return WavFormat(encoding, channels, rate, bits, offset, data)
        else:
            source.seek(length + length % 2, 1)


def _to_int16(data: bytes, wav: WavFormat) -> npt.NDArray[np.int16]:
    """Interleaved samples of any supported encoding as mono 16-bit."""
    samples: npt.NDArray[np.floating] | npt.NDArray[np.signedinteger]
    if wav.encoding == "float":
        floats = np.frombuffer(data, "<f4" if wav.bits == 32 else "<f8")
        samples = np.nan_to_num(floats, nan=0.0, posinf=1.0, neginf=-1.0) * 32767.0
    elif wav.bits == 8:
        samples = (np.frombuffer(data, np.uint8).astype(np.int32) - 128) << 8
    elif wav.bits == 16:
        samples = np.frombuffer(data, "<i2").astype(np.int32)
    elif wav.bits == 24:
        raw = np.frombuffer(data, np.uint8).reshape(-1, 3)
        wide = raw[:, 0].astype(np.int32) | raw[:, 1].astype(np.int32) << 8 | raw[:, 2].astype(np.int32) << 16
        samples = np.where(wide >= 1 << 23, wide - (1 << 24), wide) >> 8
    else:
        samples = np.frombuffer(data, "<i4").astype(np.int64) >> 16
    if wav.channels > 1:
        samples = samples.reshape(-1, wav.channels).mean(axis=1)
    return np.clip(samples, -32768, 32767).astype(np.int16)


def wav_blocks(path: Path, block_frames: int = BLOCK_FRAMES) -> tuple[WavFormat, Iterator[npt.NDArray[np.int16]]]:
    """The file's format (checked now: errors raise here) and its mono 16-bit samples, ``block_frames`` at a time."""
    try:
        source = path.open("rb")
    except FileNotFoundError:
        raise WavError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise WavError(f"{path} is a folder, not a WAV file") from None
    except OSError as error:
        raise WavError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        wav = read_format(path, source, path.stat().st_size)
    except BaseException:
        source.close()
        raise

    def blocks() -> Iterator[npt.NDArray[np.int16]]:
        with source:
            source.seek(wav.data_offset)
            left = wav.data_bytes
            while left > 0:
                data = source.read(min(left, block_frames * wav.frame_bytes))
                if not data:
                    return
                left -= len(data)
                yield _to_int16(data[: len(data) - len(data) % wav.frame_bytes], wav)

    return wav, blocks()


def read_wav(path: Path) -> tuple[npt.NDArray[np.int16], int]:
    """A whole file's mono 16-bit samples and rate (for short clips; long ones: :func:`wav_blocks`)."""
    wav, blocks = wav_blocks(path)
    parts = list(blocks)
    return (np.concatenate(parts) if parts else np.zeros(0, np.int16)), wav.sample_rate
