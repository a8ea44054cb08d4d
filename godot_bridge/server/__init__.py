"""The WebSocket server side of the stage bridge."""

from godot_bridge.server.bridge import (
    BridgeConfig,
    BridgeServer,
    RequestTimeout,
    SceneApplyFailed,
    StageError,
    StageInfo,
    StageNotConnected,
)
from godot_bridge.server.events import BridgeEvent, StageConnected, StageDisconnected, StageLogged

__all__ = [
    "BridgeConfig",
    "BridgeEvent",
    "BridgeServer",
    "RequestTimeout",
    "SceneApplyFailed",
    "StageConnected",
    "StageDisconnected",
    "StageError",
    "StageInfo",
    "StageLogged",
    "StageNotConnected",
]
