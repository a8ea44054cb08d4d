"""When to ping and when to give up on a silent peer: pure bookkeeping over a clock the caller supplies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

HeartbeatAction = Literal["ping", "timeout"]


@dataclass
class Heartbeat:
    interval_s: float
    timeout_s: float
    last_received: float
    last_sent: float

    @classmethod
    def starting_at(cls, now: float, interval_s: float, timeout_s: float) -> Heartbeat:
        if not 0 < interval_s < timeout_s:
            raise ValueError("the heartbeat interval must be positive and shorter than the timeout")
        return cls(interval_s, timeout_s, now, now)

    def received(self, now: float) -> None:
        self.last_received = now

    def sent(self, now: float) -> None:
        self.last_sent = now

    def due(self, now: float) -> HeartbeatAction | None:
        if now - self.last_received >= self.timeout_s:
            return "timeout"
        if now - self.last_sent >= self.interval_s:
            return "ping"
        return None

    def next_check(self, now: float) -> float:
        """Seconds until :meth:`due` can next change its answer."""
        until_timeout = self.last_received + self.timeout_s - now
        until_ping = self.last_sent + self.interval_s - now
        return max(0.0, min(until_timeout, until_ping))
