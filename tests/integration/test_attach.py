"""Attach mode: the app launches nothing, tells the developer what to run, and adopts the stage that connects."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from godot_bridge.server import BridgeServer
from godot_bridge.sidecar.attach import AttachLauncher
from godot_bridge.sidecar.manager import SidecarManager, SidecarSettings, SidecarState
from tests.integration.stage_client import open_stage, recv_json
from tests.waiting import until


async def test_attach_announces_the_arguments_and_adopts_the_editor_stage(tmp_path: Path) -> None:
    announced: list[str] = []
    bridge = BridgeServer()
    await bridge.start()
    manager = SidecarManager(AttachLauncher(announced.append), bridge, SidecarSettings(tmp_path, ready_timeout_s=10))
    starting = asyncio.ensure_future(manager.start())
    await until(lambda: bool(announced), 5, "the attach instructions")
    text = announced[0]
    assert str(tmp_path) in text and "STAGE_TAMAGOTCHI_TOKEN" in text
    match = re.search(r"--bridge-url=(\S+) --bridge-token=(\S+)", text)
    assert match is not None and match[1] == bridge.url and match[2] == bridge.token
    # What the developer's editor run does: connect with exactly those arguments.
    ws, welcome = await open_stage(match[1], match[2])
    assert welcome["type"] == "host.welcome"
    await starting
    assert manager.state is SidecarState.RUNNING and manager.pid is None
    stopping = asyncio.ensure_future(manager.stop())
    shutdown = await recv_json(ws)
    assert shutdown["type"] == "host.shutdown"
    await ws.close()
    await stopping
    assert manager.state.value == "stopped"
    await bridge.close()
