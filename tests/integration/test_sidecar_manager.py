"""The sidecar manager with the real bridge server and a stand-in Godot process (real processes, real sockets)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from godot_bridge.protocol.messages import SceneApply
from godot_bridge.server import BridgeConfig, BridgeServer
from godot_bridge.sidecar.launch import TOKEN_ENV, LaunchRequest
from godot_bridge.sidecar.manager import SidecarManager, SidecarSettings, SidecarState, StageStartError
from godot_bridge.sidecar.native import NativeLauncher, stage_command
from tests.waiting import until

STAND_IN = [sys.executable, str(Path(__file__).resolve().parents[1] / "support" / "stand_in_godot.py")]
SHA = "cd" * 32
SCENE = SceneApply(model_id=f"sha256:{SHA}", format="vrm", name="a.vrm", path="/x/a.vrm", size=1, sha256=SHA)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] if Path(f"/proc/{pid}").exists() else "X"
    return state in {"Z", "X"}


class Harness:
    def __init__(self, manager: SidecarManager, record: Path, sleeps: list[float], states: list[tuple[str, str]]):
        self.manager = manager
        self.record = record
        self.sleeps = sleeps
        self.states = states

    def entries(self, event: str) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        lines = self.record.read_text(encoding="utf-8").splitlines()
        return [entry for entry in map(json.loads, lines) if entry["event"] == event]


@asynccontextmanager
async def managed(tmp_path: Path, mode: str, **settings: Any) -> AsyncIterator[Harness]:
    record = tmp_path / "record.jsonl"
    env = {**os.environ, "STAND_IN_MODE": mode, "STAND_IN_RECORD": str(record)}
    bridge = BridgeServer(BridgeConfig(heartbeat_interval_s=0.2, heartbeat_timeout_s=1.0))
    await bridge.start()
    sleeps: list[float] = []

    async def quick_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0.01)

    defaults: dict[str, Any] = {"ready_timeout_s": 10.0, "shutdown_grace_s": 0.5}
    manager = SidecarManager(
        NativeLauncher(STAND_IN, env=env),
        bridge,
        SidecarSettings(project_dir=tmp_path, **{**defaults, **settings}),
        sleep=quick_sleep,
    )
    states: list[tuple[str, str]] = []
    manager.subscribe(lambda state, reason: states.append((state.value, reason)))
    try:
        yield Harness(manager, record, sleeps, states)
    finally:
        await manager.stop()
        await bridge.close()


def test_the_command_puts_engine_options_before_the_separator_and_no_token() -> None:
    request = LaunchRequest("ws://127.0.0.1:1/stage", "secret", Path("/p"), remote_debug="tcp://127.0.0.1:6007")
    assert stage_command(["godot4"], request) == [
        "godot4",
        "--remote-debug",
        "tcp://127.0.0.1:6007",
        "--path",
        "/p",
        "--",
        "--bridge-url=ws://127.0.0.1:1/stage",
    ]
    assert "secret" not in " ".join(stage_command(["godot4"], request))


async def test_start_launches_with_the_token_only_in_the_environment(tmp_path: Path) -> None:
    async with managed(tmp_path, "normal", remote_debug="tcp://127.0.0.1:6007") as harness:
        await harness.manager.start()
        assert harness.manager.state is SidecarState.RUNNING
        [launch] = harness.entries("launch")
        bridge_url = harness.manager.bridge.url
        assert launch["argv"] == [
            "--remote-debug",
            "tcp://127.0.0.1:6007",
            "--path",
            str(tmp_path),
            "--",
            f"--bridge-url={bridge_url}",
        ]
        assert launch["token_in_env"] and harness.manager.bridge.token not in json.dumps(launch["argv"])
        assert launch["cwd"] == str(tmp_path)
        await until(lambda: any("stand-in: connected" in line for _s, line in harness.manager.output), 2)
        pid = harness.manager.pid
        assert pid is not None
    assert gone(pid)
    assert [state for state, _ in harness.states][-2:] == ["stopping", "stopped"]


async def test_a_stage_that_exits_before_hello_fails_with_its_stderr(tmp_path: Path) -> None:
    async with managed(tmp_path, "exit-before-hello") as harness:
        with pytest.raises(StageStartError) as failed:
            await harness.manager.start()
        message = str(failed.value)
        assert "exited with code 2 before it connected" in message
        assert "could not open the project (simulated)" in message
        assert harness.manager.state is SidecarState.FAILED


async def test_a_stage_that_never_connects_times_out_and_is_ended(tmp_path: Path) -> None:
    async with managed(tmp_path, "hang", ready_timeout_s=1.0) as harness:
        with pytest.raises(StageStartError, match=r"did not connect to the bridge within 1 s") as failed:
            await harness.manager.start()
        assert "hanging without connecting" in str(failed.value)
        [launch] = harness.entries("launch")
        assert launch and harness.manager.pid is not None
        await until(lambda: gone(harness.manager.pid or 0), 2, "the hung stage to be ended")


async def test_a_crash_restarts_with_backoff_and_reapplies_the_scene(tmp_path: Path) -> None:
    async with managed(tmp_path, "crash-after-apply") as harness:
        await harness.manager.start()
        first_pid = harness.manager.pid
        await harness.manager.apply_scene(SCENE)
        await until(lambda: len(harness.entries("applied")) == 2, 10, "the scene to be re-applied")
        assert [entry["launch"] for entry in harness.entries("applied")] == [1, 2]
        assert {entry["modelId"] for entry in harness.entries("applied")} == {SCENE.model_id}
        await until(lambda: harness.manager.state is SidecarState.RUNNING, 5)
        assert harness.manager.pid != first_pid and first_pid is not None and gone(first_pid)
        assert harness.sleeps == [0.5]
        states = [state for state, _ in harness.states]
        assert states[:5] == ["starting", "running", "crashed", "restarting", "starting"]
        crash_reason = dict(harness.states)["crashed"]
        assert "exited unexpectedly with code 1" in crash_reason and "crashing after the apply" in crash_reason


async def test_it_gives_up_after_five_restarts_within_a_minute(tmp_path: Path) -> None:
    async with managed(tmp_path, "crash-after-hello") as harness:
        await harness.manager.start()
        await until(lambda: harness.manager.state is SidecarState.FAILED, 30, "the manager to give up")
        assert harness.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]
        assert len(harness.entries("launch")) == 6
        assert "gave up after 5 restarts within 60 s" in harness.manager.reason
        assert "crashing on purpose" in harness.manager.reason


async def test_shutdown_escalates_to_terminate_and_then_kill(tmp_path: Path) -> None:
    async with managed(tmp_path, "ignore-shutdown") as harness:
        await harness.manager.start()
        pid = harness.manager.pid
        assert pid is not None
        started = asyncio.get_running_loop().time()
        await harness.manager.stop()
        elapsed = asyncio.get_running_loop().time() - started
        assert gone(pid) and harness.manager.state is SidecarState.STOPPED
        assert 1.0 <= elapsed < 5.0  # two grace periods of 0.5 s (host.shutdown, SIGTERM), then SIGKILL


async def test_a_frozen_stage_is_ended_and_restarted(tmp_path: Path) -> None:
    async with managed(tmp_path, "normal") as harness:
        await harness.manager.start()
        pid = harness.manager.pid
        assert pid is not None
        os.kill(pid, 19)  # SIGSTOP: the process lives but the bridge hears nothing
        await until(lambda: len(harness.entries("launch")) == 2, 10, "a restart")
        await until(lambda: harness.manager.state is SidecarState.RUNNING, 10)
        assert gone(pid)
        assert any("stopped answering the bridge" in reason for state, reason in harness.states if state == "crashed")


async def test_stop_is_idempotent_and_start_after_stop_works(tmp_path: Path) -> None:
    async with managed(tmp_path, "normal") as harness:
        await harness.manager.stop()
        await harness.manager.start()
        await harness.manager.stop()
        await harness.manager.stop()
        await harness.manager.start()
        assert harness.manager.state is SidecarState.RUNNING and len(harness.entries("launch")) == 2


async def test_a_missing_executable_is_a_clear_start_error(tmp_path: Path) -> None:
    bridge = BridgeServer()
    await bridge.start()
    manager = SidecarManager(NativeLauncher([str(tmp_path / "no-godot")]), bridge, SidecarSettings(tmp_path))
    with pytest.raises(StageStartError, match=r"could not start .*no-godot"):
        await manager.start()
    await manager.stop()
    await bridge.close()
    assert TOKEN_ENV == "STAGE_TAMAGOTCHI_TOKEN"
