"""The built-in avatar, Tama: generated in code (no third-party assets) as a VRM 1.0 or VRM 0.x file."""

from app.models.default_avatar.builder import NAME, VrmVersion, build_default_avatar

__all__ = ["NAME", "VrmVersion", "build_default_avatar"]
