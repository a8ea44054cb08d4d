"""``python -m app lipsync analyze|calibrate`` and ``python -m app say --cues`` as a user runs them: real processes,
the real espeak voice, real WAV files; bad input gives a one-line reason and a non-zero exit, never a traceback."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import wave
from pathlib import Path

import numpy as np

from app.lipsync.cli import cue_track_of
from app.lipsync.profile import ProfileStore, default_profile
from app.lipsync.provider_voice import voice_key
from app.lipsync.wav import read_wav
from app.speech.espeak import EspeakEngine
from tests.integration.test_lipsync_calibration import espeak_as_http_voice
from tests.support.speech_servers import SpeechHttpServer
from tests.unit.test_lipsync_wav import wav_bytes

ROOT = Path(__file__).resolve().parents[2]


async def run_app(*args: str, user_data: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        *args,
        cwd=ROOT,
        env={**os.environ, "STAGE_TAMAGOTCHI_USER_DATA": str(user_data)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def write_wav(path: Path, samples: np.ndarray, rate: int, width: int = 2, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


async def test_say_writes_its_cue_track_and_analyze_reads_the_wav_back(tmp_path: Path) -> None:
    wav, cues = tmp_path / "hello.wav", tmp_path / "hello.json"
    code, _out, err = await run_app(
        "say", "Hello, my name is Bob.", "--out", str(wav), "--cues", str(cues), user_data=tmp_path
    )
    assert code == 0, err
    track = json.loads(cues.read_text())
    assert track["vowels"] == ["aa", "ih", "ou", "ee", "oh"] and track["frame_rate"] == 100.0
    frames = track["frames"]
    with wave.open(str(wav)) as audio:
        seconds = audio.getnframes() / audio.getframerate()
    assert abs(len(frames) / 100.0 - seconds) < 0.05
    assert frames[0]["t_ms"] == -30.0, "the track leads the audio by 30 ms"
    assert max(f["aa"] for f in frames) > 0.5 and min(sum(f[v] for v in track["vowels"]) for f in frames) == 0.0

    code, out, err = await run_app("lipsync", "analyze", str(wav), "--json", user_data=tmp_path)
    assert code == 0, err
    analysed = json.loads(out)
    assert analysed["ok"] and analysed["profile"] == "espeak:en-us" and analysed["frame_rate"] >= 60
    opened = [sum(f[v] for v in analysed["vowels"]) for f in analysed["frames"]]
    assert max(opened) > 0.5 and opened[0] == 0.0
    # "Bob." ends with the lips shut for the b, then its faint release parts them a little as the audio ends.
    assert min(opened[-12:]) < 0.05 and opened[-1] < 0.25

    code, out, _ = await run_app("lipsync", "analyze", str(wav), user_data=tmp_path)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["t_ms", "aa", "ih", "ou", "ee", "oh"] and "frames at" in lines[-1]


async def test_calibrate_stores_a_profile_that_analyze_uses(tmp_path: Path) -> None:
    code, out, err = await run_app("lipsync", "calibrate", "--voice", "de", "--json", user_data=tmp_path)
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] and report["voice"] == "espeak:de"
    assert Path(report["path"]).parent == tmp_path / "lipsync" / "voices"
    tone = (np.sin(np.arange(8000) / 16000 * 2 * np.pi * 220) * 8000).astype("<i2")
    wav = write_wav(tmp_path / "tone.wav", tone, 16000)
    code, out, _ = await run_app(
        "lipsync", "analyze", str(wav), "--voice-profile", "espeak:de", "--json", user_data=tmp_path
    )
    assert code == 0 and json.loads(out)["profile"] == "espeak:de"


async def test_bad_input_is_a_one_line_reason(tmp_path: Path) -> None:
    (tmp_path / "noise.wav").write_bytes(b"RIFF....not a wav at all")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "header.wav").write_bytes(wav_bytes(b""))
    stereo24 = np.zeros(2 * 3 * 1600, np.uint8)
    write_wav(tmp_path / "stereo24.wav", stereo24, 16000, width=3, channels=2)
    cases = [
        (("lipsync", "analyze", str(tmp_path / "missing.wav")), "does not exist"),
        (("lipsync", "analyze", str(tmp_path / "noise.wav")), "not a PCM WAV"),
        (("lipsync", "analyze", str(tmp_path / "empty.wav")), "is empty (0 bytes)"),
        (("lipsync", "analyze", str(tmp_path / "header.wav")), "holds no audio"),
        (("lipsync", "analyze", str(tmp_path)), "is a folder"),
        (("lipsync", "analyze", str(tmp_path / "stereo24.wav"), "--voice-profile", "nobody"), "no voice profile"),
        (("lipsync", "calibrate", "--voice", "xx-nothing"), "no voice"),
        (("say", "Hi.", "--cues", str(tmp_path / "nowhere" / "c.json")), "does not exist"),
    ]
    for args, reason in cases:
        code, out, err = await run_app(*args, user_data=tmp_path)
        assert code == 1 and "Traceback" not in err, (args, err)
        assert len(out.strip().splitlines()) == 1 and reason in out, (args, out)
    code, out, _ = await run_app("lipsync", "analyze", str(tmp_path / "stereo24.wav"), "--json", user_data=tmp_path)
    assert code == 0 and len(json.loads(out)["frames"]) >= 9, "24-bit stereo is read (mixed down)"
    floats = np.sin(np.arange(16_000) * 0.05).astype("<f4").tobytes()
    (tmp_path / "float.wav").write_bytes(wav_bytes(floats, tag=3, bits=32, extensible=True))
    code, out, _ = await run_app("lipsync", "analyze", str(tmp_path / "float.wav"), "--json", user_data=tmp_path)
    assert code == 0 and len(json.loads(out)["frames"]) >= 99, "an extensible float32 file is read"


async def test_say_cues_use_the_voices_stored_profile(tmp_path: Path) -> None:
    # A provider without phoneme marks (the audio path), whose voice has a stored profile: a voice 30 dB quieter
    # than the built-in one, so the same audio opens the mouth much wider with it.
    built_in = default_profile()
    stored = dataclasses.replace(built_in, voice="openai-compatible:af_heart", level_db=built_in.level_db - 30.0)
    ProfileStore(tmp_path).save(stored)
    wav, cues = tmp_path / "said.wav", tmp_path / "said.json"
    async with SpeechHttpServer() as server:
        code, out, err = await run_app(
            "say", "Hello there.", "--provider", "openai-compatible", "--base-url", server.base_url,
            "--out", str(wav), "--cues", str(cues), "--json", user_data=tmp_path,
        )  # fmt: skip
    assert code == 0, (out, err)
    pcm, rate = read_wav(wav)
    written = json.loads(cues.read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(cue_track_of(pcm, rate, [], stored).to_json()))
    assert written != json.loads(json.dumps(cue_track_of(pcm, rate, [], built_in).to_json()))


async def test_say_refuses_an_unwritable_target_before_speaking(tmp_path: Path) -> None:
    wav = tmp_path / "never.wav"
    for args in (("--out", str(wav), "--cues", str(tmp_path)), ("--out", str(tmp_path)), ("--cues", str(tmp_path))):
        code, out, err = await run_app("say", "A sentence that is never spoken.", *args, user_data=tmp_path)
        assert code == 1 and "Traceback" not in err
        assert out.strip() == f"say failed: {tmp_path} is a folder; give a file name", out
        assert not wav.exists(), "nothing was spoken nor written"
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "the write probe left nothing behind"


async def test_calibrate_a_remote_voice_from_the_command_line(tmp_path: Path) -> None:
    engine = EspeakEngine()
    try:
        async with SpeechHttpServer(espeak_as_http_voice(engine)) as server:
            code, out, err = await run_app(
                "lipsync", "calibrate", "--provider", "openai-compatible", "--base-url", server.base_url,
                "--voice", "bf_emma", "--json", user_data=tmp_path,
            )  # fmt: skip
            voice = voice_key("openai-compatible", "bf_emma", None, server.base_url)
            assert voice == f"openai-compatible:bf_emma (kokoro, {server.base_url.split('/')[2]})"
        assert code == 0, (out, err)
        report = json.loads(out)
        assert report["voice"] == voice and Path(report["path"]).is_file()
        assert ProfileStore(tmp_path).load(voice) is not None
        assert {r.body["voice"] for r in server.requests} == {"bf_emma"}
    finally:
        engine.close()
    code, out, err = await run_app(
        "lipsync", "calibrate", "--provider", "openai-compatible", "--base-url", "http://127.0.0.1:9/v1",
        user_data=tmp_path,
    )  # fmt: skip
    assert code == 1 and "Traceback" not in err and len(out.strip().splitlines()) == 1
    assert out.startswith("lipsync failed: ") and "connection attempts failed" in out, out
