"""VMC protocol output (off by default): the cue stream as one OSC bundle per frame, sent over UDP when the frame is
due, for VSeeFace, Warudo, VNyan and other VMC receivers ("Marionettes", port 39539 by default).

Each bundle holds ``/VMC/Ext/Blend/Val (s name, f value)`` for the five mouth shapes, then ``/VMC/Ext/Blend/Apply``.
Names are VRM 0.x (``A I U E O``, which every receiver understands) or VRM 1.0 (``aa ih ou ee oh``). A cancel, or
the end of an utterance, sends one closed-mouth bundle.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import ipaddress
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from app.lipsync.cues import CueBatch
from app.lipsync.osc import OscMessage, encode_bundle
from app.lipsync.track import VOWELS, VRM0_NAMES

log = logging.getLogger("app.lipsync.vmc")

DEFAULT_PORT = 39539
RESOLVE_TIMEOUT_S = 5.0
"""A host name that takes longer to resolve than this (a hung DNS server) leaves VMC off rather than waiting."""

_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


class VmcUnavailable(Exception):
    """VMC output cannot start; the message says why in words a user can act on."""


def host_problem(host: str) -> str | None:
    """Why ``host`` cannot receive VMC packets (empty, malformed, broadcast, unspecified), or None when it can."""
    if not host.strip():
        return "the VMC host is empty"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        labels = host.removesuffix(".").split(".")
        if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
            return f"the VMC host {host!r} is neither a host name nor an IP address"
        return None
    if address.is_unspecified:
        return f"the VMC host {host} is the unspecified address: give the receiver's address, e.g. 127.0.0.1"
    if address == ipaddress.IPv4Address("255.255.255.255"):
        return "the VMC host 255.255.255.255 is the broadcast address: give the receiver's address, e.g. 127.0.0.1"
    return None


@dataclass(frozen=True)
class VmcSettings:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    names: Literal["vrm0", "vrm1"] = "vrm0"

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f"the VMC port must be 1..65535, not {self.port}")


def blend_bundle(weights: list[float], names: Literal["vrm0", "vrm1"]) -> bytes:
    labels = [VRM0_NAMES[v] for v in VOWELS] if names == "vrm0" else list(VOWELS)
    messages = [OscMessage("/VMC/Ext/Blend/Val", (label, float(w))) for label, w in zip(labels, weights, strict=True)]
    return encode_bundle([*messages, OscMessage("/VMC/Ext/Blend/Apply")])


class VmcOutput:
    """A :class:`~app.lipsync.cues.CueOutput` that sends each frame when it is due (host monotonic clock)."""

    def __init__(self, settings: VmcSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._frames: list[tuple[float, int, list[float]]] = []
        """A heap of (due host ms, sequence, weights)."""
        self._sequence = 0
        self._wake = asyncio.Event()
        self._transport: asyncio.DatagramTransport | None = None
        self._task: asyncio.Task[None] | None = None
        self.bundles_sent = 0

    async def start(self) -> None:
        """Opens the UDP socket to the receiver; raises :class:`VmcUnavailable` (with the reason) when it cannot."""
        host, port = self.settings.host, self.settings.port
        problem = host_problem(host)
        if problem is not None:
            raise VmcUnavailable(problem)
        loop = asyncio.get_running_loop()
        try:
            self._transport, _ = await asyncio.wait_for(
                loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=(host, port)), RESOLVE_TIMEOUT_S
            )
        except TimeoutError as error:
            raise VmcUnavailable(f"the VMC host {host!r} did not resolve within {RESOLVE_TIMEOUT_S:g} s") from error
        except OSError as error:  # an unknown name (gaierror), an address this machine may not send to
            reason = error.strerror or str(error)
            raise VmcUnavailable(f"cannot send VMC packets to {host}:{port}: {reason}") from error
        self._task = asyncio.create_task(self._run(), name="VMC sender")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # -- CueOutput -----------------------------------------------------------------------------------------------

    def begin(self, utterance: str, host_time_ms: float, frame_rate: float, lead_ms: float) -> None:
        pass

    def cues(self, batch: CueBatch) -> None:
        step = 1000.0 / batch.frame_rate
        for index, row in enumerate(batch.weights.tolist()):
            self._push(batch.host_time_ms + index * step, row)
        self._wake.set()

    def end(self, utterance: str, host_time_ms: float) -> None:
        self._push(host_time_ms, [0.0] * len(VOWELS))
        self._wake.set()

    def cancel(self, utterance: str) -> None:
        self._frames.clear()
        self._send([0.0] * len(VOWELS))

    # -- sending -------------------------------------------------------------------------------------------------

    def _push(self, due_ms: float, weights: list[float]) -> None:
        self._sequence += 1
        heapq.heappush(self._frames, (due_ms, self._sequence, weights))

    def _send(self, weights: list[float]) -> None:
        if self._transport is None:
            return
        try:
            self._transport.sendto(blend_bundle(weights, self.settings.names))
            self.bundles_sent += 1
        except OSError as error:  # nobody listening, network down: VMC is best effort
            log.debug("VMC send failed: %s", error)

    async def _run(self) -> None:
        while True:
            if not self._frames:
                self._wake.clear()
                await self._wake.wait()
                continue
            now_ms = self._clock() * 1000.0
            due_ms, _, weights = self._frames[0]
            if due_ms > now_ms:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), (due_ms - now_ms) / 1000.0)
                continue
            heapq.heappop(self._frames)
            # Frames already late by more than one frame are skipped: only the newest due frame is shown.
            while self._frames and self._frames[0][0] <= now_ms:
                _, _, weights = heapq.heappop(self._frames)
            self._send(weights)
