"""``python -m app say`` as a user runs it: a real process, the real espeak voice, a real local HTTP provider."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import wave
from pathlib import Path

from tests.support.speech_servers import SpeechHttpServer

ROOT = Path(__file__).resolve().parents[2]


async def run_say(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "say",
        *args,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_say_writes_a_wav_and_reports_sentences_and_timing(tmp_path: Path) -> None:
    target = tmp_path / "hello.wav"
    code, out, _ = await run_say("Hello there, my friend. How are you today?", "--out", str(target), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["ok"] and report["provider"] == "espeak" and report["output"] == str(target)
    assert [s["text"] for s in report["sentences"]] == ["Hello there, my friend.", "How are you today?"]
    assert 0 < report["firstAudioMs"] < 1000 and 0 < report["realTimeFactor"] < 0.5
    with wave.open(str(target)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (22050, 1, 2)
        assert abs(wav.getnframes() / 22050 - report["audioSeconds"]) < 0.01
        assert report["audioSeconds"] > 1.5


async def test_say_plays_on_the_null_sink_and_says_so() -> None:
    code, out, err = await run_say("Short and sweet.")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == "[0] Short and sweet."
    assert "first audio" in lines[1] and "real-time factor" in lines[1] and "null sink" in lines[1]
    assert "no audio device" in err  # the fallback is said in the log


async def test_say_fails_in_one_line_for_an_unknown_voice_and_a_missing_key() -> None:
    code, out, err = await run_say("Hello there.", "--voice", "en-gb")
    assert code == 1 and out.strip().startswith("say failed: espeak-ng has no voice 'en-gb'; try en, ")
    assert len(out.strip().splitlines()) == 1
    assert "Traceback" not in err
    code, out, _ = await run_say("Hello there.", "--provider", "openai", "--json", env={"OPENAI_API_KEY": ""})
    assert code == 1 and json.loads(out)["code"] == "missing-key"


async def test_say_through_an_http_provider_with_the_key_from_the_environment() -> None:
    async with SpeechHttpServer() as server:
        code, out, _ = await run_say(
            "Testing the remote voice.",
            "--provider",
            "openai-compatible",
            "--base-url",
            server.base_url,
            "--api-key-env",
            "MY_TTS_KEY",
            "--json",
            env={"MY_TTS_KEY": "secret-value"},
        )
        assert server.requests[0].headers["authorization"] == "Bearer secret-value"
    report = json.loads(out)
    assert code == 0 and report["sampleRate"] == 24000
    assert report["audioSeconds"] == len("Testing the remote voice.") * 0.01
