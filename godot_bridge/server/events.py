"""What the bridge tells the rest of the app about its stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from godot_bridge.server.bridge import StageInfo


@dataclass(frozen=True)
class StageConnected:
    info: StageInfo


@dataclass(frozen=True)
class StageDisconnected:
    code: int | None
    reason: str


@dataclass(frozen=True)
class StageLogged:
    level: str
    message: str
    source: str | None


BridgeEvent = StageConnected | StageDisconnected | StageLogged
