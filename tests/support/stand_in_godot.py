"""A stand-in for a native Godot binary, for the launcher and manager tests (no native Godot 4 installs here).

It behaves like the stage at the process boundary: ``--version`` prints a version; otherwise it reads
``--bridge-url`` from the user arguments and the token from ``STAGE_TAMAGOTCHI_TOKEN``, says ``stage.hello``,
answers ping, scene.apply, stage.snapshot and host.shutdown, and prints to stdout and stderr. Its behaviour is
chosen with ``STAND_IN_MODE``:

- ``normal``: a well-behaved stage.
- ``exit-before-hello``: prints an error and exits 2 without connecting.
- ``hang``: never connects and never exits by itself.
- ``crash-after-apply``: exits 1 right after answering its first scene.apply (on launch N <= STAND_IN_CRASHES).
- ``crash-after-hello``: exits 1 half a second after the welcome, every time.
- ``ignore-shutdown``: ignores host.shutdown and SIGTERM (only SIGKILL ends it).

With ``STAND_IN_RECORD=<file>`` it appends one JSON line per launch and per applied scene.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

TOKEN_ENV = "STAGE_TAMAGOTCHI_TOKEN"


def record(entry: dict[str, Any]) -> None:
    target = os.environ.get("STAND_IN_RECORD")
    if target:
        with Path(target).open("a", encoding="utf-8") as sink:
            sink.write(json.dumps(entry) + "\n")


def launch_number() -> int:
    target = os.environ.get("STAND_IN_RECORD")
    if not target or not Path(target).exists():
        return 1
    lines = Path(target).read_text(encoding="utf-8").splitlines()
    return sum(1 for line in lines if json.loads(line)["event"] == "launch")


def envelope(kind: str, payload: dict[str, Any], *, id: str | None = None, re: str | None = None) -> str:
    message: dict[str, Any] = {"v": 1, "type": kind, "payload": payload}
    if id:
        message["id"] = id
    if re:
        message["re"] = re
    return json.dumps(message)


async def run_stage(url: str, mode: str) -> int:
    launch = launch_number()
    crashes = int(os.environ.get("STAND_IN_CRASHES", "1"))
    async with connect(url) as ws:
        hello = {
            "token": os.environ.get(TOKEN_ENV, ""),
            "protocols": [1],
            "engine": {"name": "godot", "version": "4.6.stable.stand-in", "platform": "Linux"},
            "buffers": {"inboundBytes": 1 << 20, "outboundBytes": 1 << 20, "maxQueuedPackets": 4096},
            "capabilities": ["scene.path", "stage.snapshot"],
            "pid": os.getpid(),
        }
        await ws.send(envelope("stage.hello", hello, id="s-1"))
        print("stand-in: connected", flush=True)
        if mode == "crash-after-hello":
            await ws.recv()
            await asyncio.sleep(0.5)
            print("stand-in: crashing on purpose", file=sys.stderr, flush=True)
            return 1
        async for frame in ws:
            message = json.loads(frame)
            kind, request_id = message["type"], message.get("id")
            if kind == "ping" and request_id:
                await ws.send(envelope("pong", {"t0": message["payload"]["t0"], "t1": 0.0}, re=request_id))
            elif kind == "scene.apply":
                scene = message["payload"]
                record({"event": "applied", "launch": launch, "modelId": scene["modelId"]})
                applied = {
                    "modelId": scene["modelId"],
                    "vrmVersion": "1.0",
                    "expressions": ["aa"],
                    "unboundExpressions": [],
                    "mouthReady": False,
                    "meshCount": 1,
                    "blendShapeCount": 1,
                    "loadMs": 1.0,
                }
                await ws.send(envelope("scene.applied", applied, re=request_id))
                if mode == "crash-after-apply" and launch <= crashes:
                    print("stand-in: crashing after the apply", file=sys.stderr, flush=True)
                    return 1
            elif kind == "host.shutdown":
                if mode == "ignore-shutdown":
                    continue
                await ws.send(envelope("stage.bye", {}, re=request_id))
                return 0
            elif request_id:
                await ws.send(envelope("error", {"code": "unknown-type", "message": kind}, re=request_id))
    return 3  # the host closed the bridge


def main(argv: list[str]) -> int:
    if "--version" in argv:
        print(os.environ.get("STAND_IN_VERSION", "4.6.stable.official.89cea1439"))
        return 0
    mode = os.environ.get("STAND_IN_MODE", "normal")
    user_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    url = next((arg.split("=", 1)[1] for arg in user_args if arg.startswith("--bridge-url=")), "")
    record(
        {
            "event": "launch",
            "pid": os.getpid(),
            "argv": argv,
            "token_in_env": bool(os.environ.get(TOKEN_ENV)),
            "cwd": os.getcwd(),
        }
    )
    print(f"stand-in: started in mode {mode}", flush=True)
    if mode == "ignore-shutdown":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode == "exit-before-hello":
        print("stand-in: ERROR: could not open the project (simulated)", file=sys.stderr, flush=True)
        return 2
    if mode == "hang":
        print("stand-in: hanging without connecting", file=sys.stderr, flush=True)
        signal.pause()
    return asyncio.run(run_stage(url, mode))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
