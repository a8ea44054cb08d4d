"""The glTF binary (GLB) container, read strictly and without trusting any length it declares.

Only the 12-byte header, the chunk headers and the JSON chunk are read; the BIN chunk (the mesh and texture data,
nearly all of a VRM) is located, never loaded. Every declared length is checked against the real file size before
anything is allocated for it, so a lying header cannot make us reserve memory the file does not back.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from app.models.refusals import ModelRefused, RefusalCode

GLB_MAGIC = b"glTF"
HEADER_BYTES = 12
CHUNK_HEADER_BYTES = 8
CHUNK_JSON = 0x4E4F534A
CHUNK_BIN = 0x004E4942
MiB = 1 << 20
MAX_CHUNKS = 64
"""GLB has a JSON and an optional BIN chunk; unknown ones are allowed, but not without bound."""


@dataclass(frozen=True)
class InspectionLimits:
    max_file_bytes: int = 1 << 30
    max_json_bytes: int = 64 * MiB
    max_thumbnail_bytes: int = 16 * MiB


DEFAULT_LIMITS = InspectionLimits()


@dataclass(frozen=True)
class GlbLayout:
    """Where the chunks are. ``bin_offset`` is the file offset of the BIN chunk's data (None without one)."""

    length: int
    json_offset: int
    json_length: int
    bin_offset: int | None
    bin_length: int
    warnings: tuple[str, ...] = field(default=())


def read_glb(stream: BinaryIO, size: int, limits: InspectionLimits = DEFAULT_LIMITS) -> tuple[GlbLayout, Any]:
    """The container layout and the parsed JSON document; raises :class:`ModelRefused` with the precise reason."""
    header = stream.read(HEADER_BYTES)
    if header[:4] != GLB_MAGIC:
        raise ModelRefused(RefusalCode.NOT_GLB, "This is not a glTF binary: VRM files start with the bytes 'glTF'.")
    if len(header) < HEADER_BYTES:
        raise ModelRefused(RefusalCode.TRUNCATED, f"The file ends after {size} bytes, inside its 12-byte header.")
    version, declared = struct.unpack_from("<II", header, 4)
    if version != 2:
        raise ModelRefused(
            RefusalCode.UNSUPPORTED_GLB_VERSION,
            f"This is a glTF binary of version {version}; VRM needs version 2"
            + (" (glTF 1.0 files predate VRM)." if version == 1 else "."),
        )
    if declared > size:
        raise ModelRefused(
            RefusalCode.TRUNCATED,
            f"The file is cut short: its header says {declared:,} bytes but it has only {size:,}. "
            "Download or copy it again.",
        )
    if declared < size:
        raise ModelRefused(
            RefusalCode.BAD_CHUNK,
            f"The file has {size - declared:,} bytes after the {declared:,} its header declares.",
        )
    chunks = _read_chunk_headers(stream, declared, limits)
    (json_offset, json_length, _), rest = chunks[0], chunks[1:]
    warnings: list[str] = []
    bin_offset: int | None = None
    bin_length = 0
    unknown = 0
    for index, (offset, length, kind) in enumerate(rest, start=1):
        if kind == CHUNK_JSON:
            raise ModelRefused(RefusalCode.BAD_CHUNK, f"Chunk {index} is a second JSON chunk; only one is allowed.")
        if kind == CHUNK_BIN:
            if index != 1:
                raise ModelRefused(RefusalCode.BAD_CHUNK, f"Chunk {index} is a BIN chunk; it may only be the second.")
            bin_offset, bin_length = offset, length
        else:
            unknown += 1
    if unknown:
        warnings.append(f"ignored {unknown} chunk(s) of unknown type after the JSON and BIN chunks")
    stream.seek(json_offset)
    document = parse_json_chunk(stream.read(json_length), warnings)
    return GlbLayout(declared, json_offset, json_length, bin_offset, bin_length, tuple(warnings)), document


def _read_chunk_headers(stream: BinaryIO, length: int, limits: InspectionLimits) -> list[tuple[int, int, int]]:
    """(data offset, data length, type) of every chunk, after checking each fits and is 4-byte aligned."""
    chunks: list[tuple[int, int, int]] = []
    offset = HEADER_BYTES
    while offset < length:
        index = len(chunks)
        if index >= MAX_CHUNKS:
            raise ModelRefused(
                RefusalCode.BAD_CHUNK, f"The file has more than {MAX_CHUNKS} chunks; glTF binaries have two."
            )
        if length - offset < CHUNK_HEADER_BYTES:
            raise ModelRefused(RefusalCode.BAD_CHUNK, f"Chunk {index} starts {length - offset} bytes before the end.")
        stream.seek(offset)
        raw = stream.read(CHUNK_HEADER_BYTES)
        if len(raw) < CHUNK_HEADER_BYTES:
            raise ModelRefused(RefusalCode.TRUNCATED, "The file ended while its chunks were read.")
        chunk_length, kind = struct.unpack("<II", raw)
        data = offset + CHUNK_HEADER_BYTES
        if chunk_length > length - data:
            raise ModelRefused(
                RefusalCode.BAD_CHUNK,
                f"Chunk {index} says it holds {chunk_length:,} bytes but only {length - data:,} remain in the file.",
            )
        if chunk_length % 4:
            raise ModelRefused(
                RefusalCode.BAD_CHUNK, f"Chunk {index} is {chunk_length:,} bytes long, not a multiple of 4 as required."
            )
        if index == 0:
            if kind != CHUNK_JSON:
                raise ModelRefused(RefusalCode.BAD_CHUNK, "The first chunk of a glTF binary must be its JSON.")
            if chunk_length > limits.max_json_bytes:
                raise ModelRefused(
                    RefusalCode.BAD_CHUNK,
                    f"The JSON chunk is {chunk_length / MiB:.0f} MiB; the limit is "
                    f"{limits.max_json_bytes / MiB:.0f} MiB (real avatars need a few hundred KiB).",
                )
        chunks.append((data, chunk_length, kind))
        offset = data + chunk_length
    if not chunks:
        raise ModelRefused(RefusalCode.TRUNCATED, "The file is only a header: it has no JSON chunk.")
    return chunks


def parse_json_chunk(raw: bytes, warnings: list[str]) -> dict[str, Any]:
    """The JSON document; harmless deviations (a BOM, NUL padding) become warnings."""
    if raw.startswith(b"\xef\xbb\xbf"):
        warnings.append("the JSON chunk starts with a byte-order mark (not allowed by glTF; ignored)")
        raw = raw[3:]
    stripped = raw.rstrip(b" \t\r\n")
    if stripped.endswith(b"\x00"):
        warnings.append("the JSON chunk is padded with NUL bytes instead of spaces (ignored)")
        stripped = stripped.rstrip(b"\x00 \t\r\n")
    try:
        document = json.loads(stripped.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ModelRefused(
            RefusalCode.BAD_JSON, f"The model's JSON is not UTF-8 text (byte {error.start} is invalid)."
        ) from None
    except RecursionError:
        raise ModelRefused(RefusalCode.BAD_JSON, "The model's JSON is nested too deeply to be a real model.") from None
    except ValueError as error:
        detail = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
        position = f" at character {error.pos}" if isinstance(error, json.JSONDecodeError) else ""
        raise ModelRefused(RefusalCode.BAD_JSON, f"The model's JSON is not valid: {detail}{position}.") from None
    if not isinstance(document, dict):
        raise ModelRefused(RefusalCode.BAD_JSON, "The model's JSON is not an object, as glTF requires.")
    return document
