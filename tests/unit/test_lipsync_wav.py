"""WAV reading for ``lipsync analyze``: the encodings editors and TTS tools write, a reason for every bad file, and
long files analysed in blocks with bounded memory."""

from __future__ import annotations

import struct
import tracemalloc
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.lipsync.audio import analyse_audio
from app.lipsync.cli import analyse_wav
from app.lipsync.profile import default_profile
from app.lipsync.shaping import Shaper
from app.lipsync.wav import BLOCK_FRAMES, WavError, read_wav
from tests.unit.test_lipsync_analysis import vowel

PCM, FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def wav_bytes(
    data: bytes,
    *,
    tag: int = PCM,
    channels: int = 1,
    rate: int = 16_000,
    bits: int = 16,
    extensible: bool = False,
    data_size: int | None = None,
    before_data: bytes = b"",
) -> bytes:
    align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", EXTENSIBLE if extensible else tag, channels, rate, rate * align, align, bits)
    if extensible:
        fmt += struct.pack("<HHI", 22, bits, (1 << channels) - 1) + struct.pack("<H", tag) + GUID_TAIL
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + before_data
    body += b"data" + struct.pack("<I", len(data) if data_size is None else data_size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def ramp(count: int = 1600) -> np.ndarray:
    return np.linspace(-0.9, 0.9, count)


@pytest.mark.parametrize(
    ("name", "encode", "options"),
    [
        ("int16", lambda x: (x * 32767).astype("<i2").tobytes(), {}),
        ("int16 extensible", lambda x: (x * 32767).astype("<i2").tobytes(), {"extensible": True}),
        ("float32", lambda x: x.astype("<f4").tobytes(), {"tag": FLOAT, "bits": 32}),
        ("float64", lambda x: x.astype("<f8").tobytes(), {"tag": FLOAT, "bits": 64}),
        ("float32 extensible", lambda x: x.astype("<f4").tobytes(), {"tag": FLOAT, "bits": 32, "extensible": True}),
        ("int32 extensible", lambda x: (x * 2**31).astype("<i4").tobytes(), {"bits": 32, "extensible": True}),
        (
            "int24 extensible",
            lambda x: b"".join(int(v).to_bytes(3, "little", signed=True) for v in (x * 2**23).astype(np.int64)),
            {"bits": 24, "extensible": True},
        ),
    ],
)
def test_integer_float_and_extensible_files_read_alike(
    name: str, encode: Callable[[np.ndarray], bytes], options: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / f"{name}.wav"
    path.write_bytes(wav_bytes(encode(ramp()), **options))
    pcm, rate = read_wav(path)
    assert rate == 16_000 and len(pcm) == 1600
    np.testing.assert_allclose(pcm, ramp() * 32767, atol=2.0)


def test_channels_are_mixed_down_and_odd_chunks_before_the_data_are_skipped(tmp_path: Path) -> None:
    left, right = ramp(), -ramp() * 0.5
    stereo = np.stack([left, right], axis=1).astype("<f4").tobytes()
    info = b"LIST" + struct.pack("<I", 5) + b"INFO\x01" + b"\x00"  # an odd length, padded to even
    path = tmp_path / "stereo.wav"
    path.write_bytes(wav_bytes(stereo, tag=FLOAT, bits=32, channels=2, extensible=True, before_data=info))
    pcm, _ = read_wav(path)
    np.testing.assert_allclose(pcm, (left + right) / 2 * 32767, atol=2.0)


def test_files_the_standard_library_writes_read_the_same(tmp_path: Path) -> None:
    samples = (ramp() * 20_000).astype(np.int16)
    with wave.open(str(tmp_path / "std.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(22_050)
        out.writeframes(samples.tobytes())
    pcm, rate = read_wav(tmp_path / "std.wav")
    assert rate == 22_050 and np.array_equal(pcm, samples)


def test_a_recorder_that_could_not_seek_back_and_a_cut_short_file_give_what_is_there(tmp_path: Path) -> None:
    data = (ramp() * 32767).astype("<i2").tobytes()
    for size in (0, 0xFFFFFFFF, 10 * len(data)):
        path = tmp_path / f"size-{size}.wav"
        path.write_bytes(wav_bytes(data + b"\x01", data_size=size))  # a stray byte: half a frame, dropped
        pcm, _ = read_wav(path)
        assert len(pcm) == 1600


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "is empty (0 bytes)"),
        (wav_bytes(b""), "holds no audio: its WAV header has no samples after it"),
        (wav_bytes(b"\x00"), "holds no audio"),
        (wav_bytes(b"")[:-8], "holds no audio: its WAV header has no data chunk"),
        (b"RIFF\x10\x00\x00\x00AVI LIST", "does not start with a RIFF/WAVE header"),
        (b"ID3\x03" + b"\x00" * 60, "does not start with a RIFF/WAVE header"),
        (b"RF64" + b"\xff" * 40, "RF64"),
        (b"RIFF\x04\x00\x00\x00WAVE", "has no fmt chunk"),
        (wav_bytes(b"\x00" * 100, tag=6, bits=8), "A-law encoded"),
        (wav_bytes(b"\x00" * 100, tag=0x55, bits=0), "MP3 encoded"),
        (wav_bytes(b"\x00" * 100, bits=12), "12-bit integer samples"),
        (wav_bytes(b"\x00" * 100, tag=FLOAT, bits=16), "16-bit floating-point samples"),
        (wav_bytes(b"\x00" * 100, rate=4000), "at least 8000 Hz"),
        (wav_bytes(b"\x00" * 100, channels=0), "0 channels"),
        (b"RIFF\x24\x00\x00\x00WAVEdata\x04\x00\x00\x00\x00\x00\x00\x00", "come before their format"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt \x08\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00", "too short"),
    ],
)
def test_every_bad_file_has_its_own_reason(content: bytes, reason: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(WavError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        read_wav(path)


def test_missing_files_and_folders_are_named(tmp_path: Path) -> None:
    with pytest.raises(WavError, match="does not exist"):
        read_wav(tmp_path / "nothing.wav")
    with pytest.raises(WavError, match="is a folder"):
        read_wav(tmp_path)


def test_analysis_in_blocks_equals_analysis_at_once(tmp_path: Path) -> None:
    pcm = np.concatenate([vowel("aa", 1.5, rate=22_050), np.zeros(11_025, np.int16), vowel("oh", 1.8, rate=22_050)])
    assert len(pcm) > BLOCK_FRAMES, "two blocks at least"
    path = tmp_path / "long.wav"
    path.write_bytes(wav_bytes(pcm.astype("<i2").tobytes(), rate=22_050))
    blocked = analyse_wav(path, default_profile())
    whole = Shaper().shape(analyse_audio(pcm, 22_050, default_profile()))
    assert blocked.start_s == whole.start_s and blocked.frame_rate == whole.frame_rate
    np.testing.assert_allclose(blocked.weights, whole.weights, atol=1e-5)


def test_a_long_file_is_analysed_in_bounded_memory(tmp_path: Path) -> None:
    rate, seconds = 48_000, 300
    path = tmp_path / "five-minutes.wav"
    second = vowel("ee", 1.0, rate=rate).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        for _ in range(seconds):
            out.writeframes(second)
    tracemalloc.start()
    try:
        track = analyse_wav(path, default_profile())
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(track) >= seconds * 100 - 1
    # The samples alone are 28.8 MB (57.6 MB as the int32 the reader converts through); the track is 0.6 MB.
    assert peak < 12 * 1024 * 1024, f"{peak / 1e6:.1f} MB"
