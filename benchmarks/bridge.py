"""Bridge benchmarks: envelope round trips over loopback and codec throughput, each against a baseline.

Round trip: the real :class:`BridgeServer` sends ``ping`` requests to a real WebSocket client in another process,
which answers ``pong``; the baseline is a bare websockets echo of a frame of the same size between the same two
processes. Codec: ``encode``/``decode`` + payload validation against plain ``json.dumps``/``json.loads``.

``python -m benchmarks.bridge [--requests N] [--json]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from benchmarks.stats import percentiles
from godot_bridge.protocol import decode, encode, make, parse_payload
from godot_bridge.protocol.messages import Ping, SceneApply
from godot_bridge.server import BridgeConfig, BridgeServer

GOAL_P99_MS = 2.0


async def _peer(mode: str, url: str, token: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "benchmarks.stage_peer", mode, url, token)


async def _time_requests(count: int, one: Callable[[], Awaitable[Any]]) -> list[float]:
    for _ in range(min(100, count)):  # warm-up: connection buffers, pydantic caches
        await one()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await one()
        samples.append((time.perf_counter() - started) * 1000.0)
    return samples


async def bridge_round_trips(count: int) -> list[float]:
    # Heartbeats far apart so that they do not interleave with the measured requests.
    server = BridgeServer(BridgeConfig(heartbeat_interval_s=600, heartbeat_timeout_s=1200))
    await server.start()
    process = await _peer("protocol", server.url, server.token)
    try:
        await server.wait_connected(10)
        return await _time_requests(count, lambda: server.request("ping", Ping(t0=server.now_ms())))
    finally:
        await server.close()
        await process.wait()


async def echo_round_trips(count: int, frame: str) -> list[float]:
    connected: asyncio.Future[ServerConnection] = asyncio.get_running_loop().create_future()
    finished = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        connected.set_result(ws)
        await finished.wait()

    async with serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        process = await _peer("echo", f"ws://127.0.0.1:{port}/", "")
        ws = await asyncio.wait_for(connected, 10)

        async def one() -> None:
            await ws.send(frame)
            await ws.recv()

        try:
            return await _time_requests(count, one)
        finally:
            finished.set()
            await ws.close()
            await process.wait()


def codec_throughput(seconds: float = 1.0) -> dict[str, float]:
    sha = "ab" * 32
    envelope = make(
        "scene.apply",
        SceneApply(model_id=f"sha256:{sha}", format="vrm", name="avatar.vrm", path="/tmp/x.vrm", size=1, sha256=sha),
        id="h-1",
    )
    text = encode(envelope, 1 << 20)
    as_dict = json.loads(text)

    def rate(work: Callable[[], object]) -> float:
        count, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            for _ in range(200):
                work()
            count += 200
        return count / elapsed

    ours_encode = rate(lambda: encode(envelope, 1 << 20))
    ours_decode = rate(lambda: parse_payload(decode(text, 1 << 20)))
    json_encode = rate(lambda: json.dumps(as_dict, separators=(",", ":")))
    json_decode = rate(lambda: json.loads(text))
    return {
        "encode_per_s": ours_encode,
        "decode_validate_per_s": ours_decode,
        "json_dumps_per_s": json_encode,
        "json_loads_per_s": json_decode,
        "frame_bytes": float(len(text)),
    }


async def main_async(count: int) -> dict[str, Any]:
    bridge = percentiles(await bridge_round_trips(count))
    ping_frame = encode(make("ping", Ping(t0=1e6), id="h-1000"), 1 << 20)
    baseline = percentiles(await echo_round_trips(count, ping_frame))
    return {"requests": count, "bridge_ms": bridge, "echo_baseline_ms": baseline}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = asyncio.run(main_async(args.requests))
    result["codec"] = codec_throughput()
    bridge, echo, codec = result["bridge_ms"], result["echo_baseline_ms"], result["codec"]
    result["goal_p99_ms"] = GOAL_P99_MS
    result["goal_met"] = bridge["p99"] <= GOAL_P99_MS
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"round trip over loopback, {args.requests} requests (ms)")
    print(f"  bridge request/reply  p50 {bridge['p50']:.3f}  p99 {bridge['p99']:.3f}  max {bridge['max']:.3f}")
    print(f"  bare websockets echo  p50 {echo['p50']:.3f}  p99 {echo['p99']:.3f}  max {echo['max']:.3f}")
    print(f"  ratio bridge/echo     p50 {bridge['p50'] / echo['p50']:.2f}x  p99 {bridge['p99'] / echo['p99']:.2f}x")
    print(f"  goal p99 <= {GOAL_P99_MS} ms: {'met' if result['goal_met'] else 'NOT met'}")
    print(f"codec, a {codec['frame_bytes']:.0f}-byte scene.apply envelope (messages per second)")
    print(
        f"  encode            {codec['encode_per_s']:>10,.0f}   json.dumps {codec['json_dumps_per_s']:>10,.0f}"
        f"   ratio {codec['encode_per_s'] / codec['json_dumps_per_s']:.2f}x"
    )
    print(
        f"  decode+validate   {codec['decode_validate_per_s']:>10,.0f}   json.loads {codec['json_loads_per_s']:>10,.0f}"
        f"   ratio {codec['decode_validate_per_s'] / codec['json_loads_per_s']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
