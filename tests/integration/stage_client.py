"""A minimal protocol-speaking stage for server tests: a real websockets client, driven step by step."""

from __future__ import annotations

import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect


def hello_frame(
    token: str,
    *,
    protocols: list[int] | None = None,
    inbound: int = 1 << 20,
    id: str = "s-1",
    capabilities: tuple[str, ...] = ("scene.path", "stage.snapshot"),
) -> str:
    return json.dumps(
        {
            "v": 1,
            "type": "stage.hello",
            "id": id,
            "payload": {
                "token": token,
                "protocols": protocols or [1],
                "engine": {"name": "godot", "version": "4.6.stable.test", "platform": "Linux"},
                "buffers": {"inboundBytes": inbound, "outboundBytes": 1 << 20, "maxQueuedPackets": 4096},
                "capabilities": list(capabilities),
                "pid": 1234,
            },
        }
    )


async def open_stage(url: str, token: str, **hello: Any) -> tuple[ClientConnection, dict[str, Any]]:
    """Connect, say hello, and return the connection with the decoded welcome."""
    ws = await connect(url, max_size=None)
    await ws.send(hello_frame(token, **hello))
    welcome = json.loads(await ws.recv())
    return ws, welcome


async def recv_json(ws: ClientConnection, *, skip_pings: bool = True) -> dict[str, Any]:
    """The next frame, answering (and skipping) the host's heartbeat pings on the way."""
    while True:
        message: dict[str, Any] = json.loads(await ws.recv())
        if skip_pings and message.get("type") == "ping" and message.get("id"):
            await ws.send(
                json.dumps(
                    {
                        "v": 1,
                        "type": "pong",
                        "re": message["id"],
                        "payload": {"t0": message["payload"]["t0"], "t1": 0.0},
                    }
                )
            )
            continue
        return message
