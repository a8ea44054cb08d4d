"""A bridge host in a process of its own, so a test can freeze or kill it the way a crashed app would end.

Prints ``URL TOKEN`` first and ``connected`` once a stage is welcomed, then serves until killed. Browser
origins from 127.0.0.1 are allowed: the stage under test is a page served by the test process's web launcher.
"""

from __future__ import annotations

import asyncio
import sys

from godot_bridge.server import BridgeConfig, BridgeServer, StageConnected


async def serve(heartbeat_timeout_s: float) -> None:
    config = BridgeConfig(heartbeat_interval_s=heartbeat_timeout_s / 4, heartbeat_timeout_s=heartbeat_timeout_s)
    server = BridgeServer(config, origin_allowed=lambda origin: origin.startswith("http://127.0.0.1:"))
    server.subscribe(lambda event: print("connected", flush=True) if isinstance(event, StageConnected) else None)
    await server.start()
    print(server.url, server.token, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(float(sys.argv[1])))
