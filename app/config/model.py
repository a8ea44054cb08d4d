"""Every user setting in one versioned pydantic model, grouped by the settings page that edits it.

A field that cannot take effect while the app runs says so in its ``json_schema_extra`` (``{"applies": "stage"}``:
the stage restarts to apply it; ``{"applies": "app"}``: the next start). :func:`applies_when` reads it, so the
settings pages and the service agree on what a change does.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SETTINGS_VERSION = 1
DEFAULT_REMOTE_DEBUG_URI = "tcp://127.0.0.1:6007"

Applies = Literal["now", "stage", "app"]
StageRuntime = Literal["auto", "native", "embedded", "web", "attach"]
StageWindow = Literal["inside", "glued"]
Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right", "center"]

_STAGE: Any = {"applies": "stage"}


def checked_remote_debug_uri(value: str) -> str:
    """``value`` if Godot's ``--remote-debug`` takes it (``tcp://host:port``), else ValueError saying what it takes."""
    host, _, port = value.removeprefix("tcp://").rpartition(":")
    if not value.startswith("tcp://") or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"a remote debug URI looks like {DEFAULT_REMOTE_DEBUG_URI}, not {value!r}")
    return value


class Section(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True, frozen=True)


class WindowGeometry(Section):
    x: int
    y: int
    width: int = Field(ge=1)
    height: int = Field(ge=1)


class WindowSettings(Section):
    always_on_top: bool = True
    all_workspaces: bool = True
    click_through: bool = True
    """Transparent areas let clicks reach the windows below (on by default, unlike AIRI's hidden "Auto hide")."""
    show_bubble: bool = True
    opacity: float = Field(default=1.0, ge=0.2, le=1.0)
    geometry: dict[str, WindowGeometry] = {}
    """Where the window was, per screen layout (see :func:`app.ui.placement.screen_key`)."""


class StageSettings(Section):
    runtime: StageRuntime = Field(default="auto", json_schema_extra=_STAGE)
    """``auto``: native Godot 4 when found, else the embedded web runtime."""
    godot_path: str | None = Field(default=None, json_schema_extra=_STAGE)
    remote_debug: bool = Field(default=False, json_schema_extra=_STAGE)
    remote_debug_uri: str = Field(default=DEFAULT_REMOTE_DEBUG_URI, json_schema_extra=_STAGE)
    window: StageWindow = Field(default="inside", json_schema_extra=_STAGE)
    """Where the stage's own window goes: ``inside`` the tamagotchi window where the platform allows (X11), else
    ``glued``: a borderless window of its own, kept over the avatar's place as the tamagotchi window moves."""

    @field_validator("remote_debug_uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        return checked_remote_debug_uri(value)


class SpeechSettings(Section):
    """Empty strings mean the provider's default. API keys are never here (environment variables, or the keyring)."""

    provider: Literal["espeak", "openai", "openai-compatible", "unspeech-stream"] = "espeak"
    base_url: str = ""
    model: str = ""
    voice: str = ""
    speed: float = Field(default=1.0, ge=0.5, le=2.0)


class LanguageModelSettings(Section):
    enabled: bool = False
    base_url: str = ""
    model: str = ""
    system_prompt: str = ""


class LipSyncSettings(Section):
    lead_ms: int = Field(default=30, ge=0, le=500)
    """The mouth opens this much before the sound, as real mouths do (the lip-sync issue's default: about 30 ms)."""
    auto_calibrate: bool = True
    """A voice without phoneme marks (any remote provider) gets its mouth profile made by itself when first used: about
    a dozen short texts spoken once, in the background. Off: only "Calibrate this voice" makes one (a paid voice)."""
    calibration_language: str = ""
    """The language the voice speaks (``de``, ``fr``, ``ja``...), for its calibration texts; empty: an espeak
    voice's own, a Kokoro voice's (``jf_alpha``: Japanese), else English."""
    output_latency_ms: int = Field(default=0, ge=-500, le=500)
    """How much later than the audio device reports the voice is heard (Bluetooth headphones: 150-250 ms); the mouth
    follows. Negative when the picture lags the sound instead."""
    vmc_enabled: bool = False
    vmc_host: str = "127.0.0.1"
    vmc_port: int = Field(default=39539, ge=1, le=65535)


class ShortcutSettings(Section):
    bindings: dict[str, str | None] = {}
    """Action id -> canonical accelerator, ``None`` when turned off; missing actions use their defaults."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    version: int = SETTINGS_VERSION
    window: WindowSettings = WindowSettings()
    stage: StageSettings = StageSettings()
    speech: SpeechSettings = SpeechSettings()
    language_model: LanguageModelSettings = LanguageModelSettings()
    lip_sync: LipSyncSettings = LipSyncSettings()
    shortcuts: ShortcutSettings = ShortcutSettings()


SECTIONS: dict[str, type[Section]] = {
    name: info.annotation
    for name, info in Settings.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, Section)
}


def applies_when(section: str, field: str) -> Applies:
    """When a change to ``section.field`` applies: ``now``, on a ``stage`` restart, or at the next ``app`` start."""
    extra = SECTIONS[section].model_fields[field].json_schema_extra
    if isinstance(extra, dict) and extra.get("applies") in ("stage", "app"):
        return extra["applies"]  # type: ignore[return-value]
    return "now"
