"""A VRM's metadata and license, read leniently: real files break the schema in harmless ways (an empty
``references`` list, a missing contact), which become warnings, never refusals."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

VrmVersion = Literal["0.x", "1.0"]

VRM0_LICENSES = {
    "Redistribution_Prohibited": "Redistribution prohibited",
    "CC0": "CC0 (public domain)",
    "CC_BY": "CC BY",
    "CC_BY_NC": "CC BY-NC",
    "CC_BY_SA": "CC BY-SA",
    "CC_BY_NC_SA": "CC BY-NC-SA",
    "CC_BY_ND": "CC BY-ND",
    "CC_BY_NC_ND": "CC BY-NC-ND",
    "Other": "Other license",
}
VRM0_USERS = {"OnlyAuthor": "only the author", "ExplicitlyLicensedPerson": "licensed persons", "Everyone": "everyone"}
VRM1_AVATAR_PERMISSION = {
    "onlyAuthor": "only the author",
    "onlySeparatelyLicensedPerson": "separately licensed persons",
    "everyone": "everyone",
}
VRM1_COMMERCIAL = {
    "personalNonProfit": "personal non-profit use only",
    "personalProfit": "personal profit allowed",
    "corporation": "corporate use allowed",
}
VRM1_MODIFICATION = {
    "prohibited": "no modification",
    "allowModification": "modification allowed",
    "allowModificationRedistribution": "modification and redistribution of modified copies allowed",
}
KNOWN_VRM1_LICENSES = {
    "https://vrm.dev/licenses/1.0/": "VRM Public License 1.0",
    "https://vrm.dev/licenses/1.0": "VRM Public License 1.0",
    "https://vrm.dev/licenses/1.0/en/": "VRM Public License 1.0",
}


@dataclass(frozen=True)
class LicenseInfo:
    name: str
    """Human name: "CC BY", "VRM Public License 1.0", or the URL when unknown."""
    url: str | None
    summary: str
    """One line for a list: who may use it, commercial use, redistribution."""
    permissions: dict[str, Any] = field(default_factory=dict)
    """The license fields exactly as the file states them (VRM 0.x or 1.0 names)."""


@dataclass(frozen=True)
class ModelMeta:
    title: str | None
    version: str | None
    authors: tuple[str, ...]
    contact: str | None
    references: tuple[str, ...]
    copyright: str | None
    license: LicenseInfo
    thumbnail_image: int | None
    """Index into ``images`` (already resolved from VRM 0.x's texture index)."""


MAX_TEXT = 2000
MAX_ITEMS = 50
MAX_DEPTH = 6


def clean_text(value: str, limit: int = MAX_TEXT) -> str:
    """Text from a file, safe to print, log and store: unpaired surrogates replaced, length bounded."""
    text = value.encode("utf-8", "replace").decode("utf-8") if any(0xD800 <= ord(c) <= 0xDFFF for c in value) else value
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def plain(value: Any, depth: int = 0) -> Any:
    """A JSON value from a file made safe to keep: clean text, finite numbers, bounded depth and size."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int):
        return value
    if depth >= MAX_DEPTH:
        return "(nested too deeply to show)"
    if isinstance(value, dict):
        return {clean_text(str(k), 200): plain(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
    if isinstance(value, list | tuple):
        return [plain(item, depth + 1) for item in value[:MAX_ITEMS]]
    return clean_text(str(value))


def _text(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    return clean_text(value.strip()) if isinstance(value, str) and value.strip() else None


def _texts(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (clean_text(value),) if value.strip() else ()
    if isinstance(value, list):
        return tuple(clean_text(item) for item in value[:MAX_ITEMS] if isinstance(item, str) and item.strip())
    return ()


def read_vrm0_meta(meta: dict[str, Any], textures: list[dict[str, Any]], warnings: list[str]) -> ModelMeta:
    license_code = _text(meta, "licenseName")
    if license_code is None:
        warnings.append("meta.licenseName is missing: the license is unknown")
    elif license_code not in VRM0_LICENSES:
        warnings.append(f"meta.licenseName {license_code!r} is not one of the VRM 0.x license names")
    name = VRM0_LICENSES.get(license_code or "", license_code or "Unknown license")
    other = _text(meta, "otherLicenseUrl")
    users = VRM0_USERS.get(_text(meta, "allowedUserName") or "", "unstated users")
    commercial = {"Allow": "commercial use allowed", "Disallow": "no commercial use"}.get(
        _text(meta, "commercialUssageName") or "", "commercial use unstated"
    )
    permissions: dict[str, Any] = {
        key: plain(meta.get(key))
        for key in (
            "licenseName",
            "otherLicenseUrl",
            "allowedUserName",
            "violentUssageName",
            "sexualUssageName",
            "commercialUssageName",
            "otherPermissionUrl",
        )
        if key in meta
    }
    thumbnail: int | None = None
    texture = meta.get("texture")
    if isinstance(texture, int) and not isinstance(texture, bool) and 0 <= texture < len(textures):
        source = textures[texture].get("source")
        thumbnail = source if isinstance(source, int) and not isinstance(source, bool) else None
    return ModelMeta(
        title=_text(meta, "title"),
        version=_text(meta, "version"),
        authors=_texts(meta.get("author")),
        contact=_text(meta, "contactInformation"),
        references=_texts(meta.get("reference")),
        copyright=None,
        license=LicenseInfo(name, other, f"{name}; use by {users}; {commercial}", permissions),
        thumbnail_image=thumbnail,
    )


def read_vrm1_meta(meta: dict[str, Any], warnings: list[str]) -> ModelMeta:
    for required in ("name", "authors", "licenseUrl"):
        if not meta.get(required):
            warnings.append(f"meta.{required} is missing or empty (VRM 1.0 requires it)")
    if meta.get("references") == []:
        warnings.append("meta.references is an empty list (the schema wants at least one item; ignored)")
    url = _text(meta, "licenseUrl")
    name = KNOWN_VRM1_LICENSES.get(url or "", url or "Unknown license")
    permission = VRM1_AVATAR_PERMISSION.get(_text(meta, "avatarPermission") or "onlyAuthor", "only the author")
    commercial = VRM1_COMMERCIAL.get(_text(meta, "commercialUsage") or "personalNonProfit", "commercial use unstated")
    redistribution = "redistribution allowed" if meta.get("allowRedistribution") is True else "no redistribution"
    credit = "credit required" if meta.get("creditNotation", "required") == "required" else "credit not required"
    permissions: dict[str, Any] = {
        key: plain(meta.get(key))
        for key in (
            "licenseUrl",
            "avatarPermission",
            "allowExcessivelyViolentUsage",
            "allowExcessivelySexualUsage",
            "commercialUsage",
            "allowPoliticalOrReligiousUsage",
            "allowAntisocialOrHateUsage",
            "creditNotation",
            "allowRedistribution",
            "modification",
            "otherLicenseUrl",
            "thirdPartyLicenses",
        )
        if key in meta
    }
    thumbnail = meta.get("thumbnailImage")
    return ModelMeta(
        title=_text(meta, "name"),
        version=_text(meta, "version"),
        authors=_texts(meta.get("authors")),
        contact=_text(meta, "contactInformation"),
        references=_texts(meta.get("references")),
        copyright=_text(meta, "copyrightInformation"),
        license=LicenseInfo(
            name,
            url,
            f"{name}; use by {permission}; {commercial}; {redistribution}; {credit}",
            permissions,
        ),
        thumbnail_image=thumbnail if isinstance(thumbnail, int) and not isinstance(thumbnail, bool) else None,
    )
