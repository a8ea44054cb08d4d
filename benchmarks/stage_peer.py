"""The far end of the round-trip benchmark, in its own process as a real stage would be.

``protocol`` mode speaks the bridge protocol (hello, then answers every ping with a pong); ``echo`` mode is the
baseline: it sends back every frame unchanged over a bare WebSocket.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from websockets.asyncio.client import connect


async def run(mode: str, url: str, token: str) -> None:
    async with connect(url, max_size=None, compression=None) as ws:
        if mode == "echo":
            async for frame in ws:
                await ws.send(frame)
            return
        hello = {
            "v": 1,
            "type": "stage.hello",
            "id": "s-1",
            "payload": {
                "token": token,
                "protocols": [1],
                "engine": {"name": "bench", "version": "0", "platform": sys.platform},
                "buffers": {"inboundBytes": 1 << 20, "outboundBytes": 1 << 20, "maxQueuedPackets": 4096},
                "capabilities": [],
                "pid": None,
            },
        }
        await ws.send(json.dumps(hello))
        async for frame in ws:
            message = json.loads(frame)
            if message.get("type") == "ping" and "id" in message:
                pong = {"t0": message["payload"]["t0"], "t1": time.monotonic() * 1000.0}
                await ws.send(json.dumps({"v": 1, "type": "pong", "re": message["id"], "payload": pong}))


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ""))
