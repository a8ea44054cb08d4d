"""Why a file is refused: a closed set of stable codes, each with a message a person understands.

The codes are part of the app's interface (the command line prints them with ``--json``, the models page shows the
message), and ``docs/models.md`` documents every one; a test keeps the two in step.
"""

from __future__ import annotations

from enum import StrEnum


class RefusalCode(StrEnum):
    EMPTY = "empty"
    UNREADABLE = "unreadable"
    TOO_LARGE = "too_large"
    WRONG_FORMAT = "wrong_format"
    NOT_GLB = "not_glb"
    UNSUPPORTED_GLB_VERSION = "unsupported_glb_version"
    TRUNCATED = "truncated"
    BAD_CHUNK = "bad_chunk"
    BAD_JSON = "bad_json"
    NOT_VRM = "not_vrm"
    UNSUPPORTED_VRM_VERSION = "unsupported_vrm_version"
    BROKEN_REFERENCES = "broken_references"
    MISSING_HUMANOID = "missing_humanoid"


SUMMARIES: dict[RefusalCode, str] = {
    RefusalCode.EMPTY: "The file is empty.",
    RefusalCode.UNREADABLE: "The file could not be read.",
    RefusalCode.TOO_LARGE: "The file is larger than the app accepts.",
    RefusalCode.WRONG_FORMAT: "The file is another kind of model or file, not a VRM.",
    RefusalCode.NOT_GLB: "The file is not a glTF binary, which every VRM file is.",
    RefusalCode.UNSUPPORTED_GLB_VERSION: "The file is a glTF binary of a version other than 2.",
    RefusalCode.TRUNCATED: "The file is cut short: the download or copy did not finish.",
    RefusalCode.BAD_CHUNK: "The file's inner structure (its chunks) is damaged.",
    RefusalCode.BAD_JSON: "The model's description (its JSON) is damaged.",
    RefusalCode.NOT_VRM: "The file is a 3D model but not a VRM avatar.",
    RefusalCode.UNSUPPORTED_VRM_VERSION: "The file is a VRM of a version this app does not know.",
    RefusalCode.BROKEN_REFERENCES: "Parts of the model point at things that are not in the file.",
    RefusalCode.MISSING_HUMANOID: "The avatar has no humanoid skeleton (hips and head).",
}
"""One line per code, the same whatever the file; the refusal's own message adds the file's particulars."""


class ModelRefused(Exception):
    """The file cannot be used as an avatar. ``code`` is stable; ``message`` is for a person."""

    def __init__(self, code: RefusalCode, message: str, detected_format: str | None = None) -> None:
        # Messages quote the file (names, URIs): unpaired surrogates would break printing and logging.
        message = message.encode("utf-8", "replace").decode("utf-8")
        super().__init__(message)
        self.code = code
        self.message = message
        self.detected_format = detected_format

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code.value, "message": self.message, "detectedFormat": self.detected_format}
