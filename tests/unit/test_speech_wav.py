"""The streamed WAV and PCM decoders of the ``http`` provider: pieces cut anywhere, malformed and truncated bodies."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest

from app.speech.events import SpeechProviderError
from app.speech.http_provider import PcmStream, WavStream
from tests.support.speech_servers import wav_header


def decode(decoder: PcmStream | WavStream, body: bytes, piece: int) -> np.ndarray[tuple[int], np.dtype[np.int16]]:
    out = [decoder.feed(body[start : start + piece]) for start in range(0, len(body), piece)]
    decoder.finish()
    return np.concatenate(out)


@pytest.mark.parametrize("piece", [1, 3, 5, 7, 4096])
def test_stereo_wav_cut_mid_frame_loses_no_samples(piece: int) -> None:
    left = np.arange(0, 3000, 3, dtype=np.int16)
    right = left + 1000
    frames = np.column_stack([left, right]).astype("<i2").tobytes()  # 1000 frames of 4 bytes
    body = wav_header(24000, 0xFFFFFFFF, channels=2) + frames
    decoder = WavStream()
    samples = decode(decoder, body, piece)
    assert decoder.sample_rate == 24000
    assert samples.tolist() == ((left.astype(np.int32) + right) // 2).tolist()


@pytest.mark.parametrize("piece", [1, 3, 4801])
def test_mono_pcm_cut_mid_sample_loses_no_samples(piece: int) -> None:
    audio = np.arange(-500, 500, dtype="<i2")
    assert decode(PcmStream(), audio.tobytes(), piece).tolist() == audio.tolist()


def fmt_chunk(fmt: int = 1, channels: int = 1, rate: int = 24000, bits: int = 16) -> bytes:
    return b"fmt " + struct.pack("<IHHIIHH", 16, fmt, channels, rate, rate * channels * bits // 8, 4, bits)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"RIFX\0\0\0\0WAVE" + fmt_chunk(), "not RIFF/WAVE"),
        (b"RIFF\0\0\0\0WAVE" + fmt_chunk(fmt=3, bits=32), "unsupported wav encoding (format 3, 32 bits)"),
        (b"RIFF\0\0\0\0WAVE" + fmt_chunk(bits=8), "unsupported wav encoding (format 1, 8 bits)"),
        (b"RIFF\0\0\0\0WAVE" + fmt_chunk(channels=0), "0 channels"),
        (b"RIFF\0\0\0\0WAVE" + b"data" + struct.pack("<I", 4) + b"\0\0\0\0", "data came before its format"),
        (b"RIFF\0\0\0\0WAVE" + b"fmt " + struct.pack("<I", 8) + b"\0" * 8, "format chunk is too short"),
        (b"RIFF\0\0\0\0WAVE" + b"LIST" + struct.pack("<I", 2**31) + b"\0" * 70_000, "header never ends"),
    ],
)
def test_malformed_wav_is_bad_audio(body: bytes, reason: str) -> None:
    with pytest.raises(SpeechProviderError, match=re.escape(reason)) as refused:
        decode(WavStream(), body, 1000)
    assert refused.value.code == "bad-audio"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"RIFF\0\0\0\0WAVE" + fmt_chunk(), "ended before its audio"),  # no data chunk at all
        (wav_header(24000, 400) + b"\0" * 300, "lacks 100 bytes of audio"),  # shorter than its declared size
        (wav_header(24000, 0xFFFFFFFF, channels=2) + b"\0" * 6, "middle of a sample"),  # half a frame at the end
    ],
)
def test_truncated_wav_is_truncated_audio(body: bytes, reason: str) -> None:
    with pytest.raises(SpeechProviderError, match=re.escape(reason)) as cut:
        decode(WavStream(), body, 7)
    assert cut.value.code == "truncated-audio"


def test_data_beyond_the_declared_size_is_ignored() -> None:
    body = wav_header(16000, 4) + struct.pack("<hh", 10, 20) + b"trailing junk"
    decoder = WavStream()
    assert decode(decoder, body, 3).tolist() == [10, 20] and decoder.sample_rate == 16000
