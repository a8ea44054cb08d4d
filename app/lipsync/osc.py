"""A minimal OSC 1.0 codec: messages with int32, float32 and string arguments, and bundles of them.

Enough for the VMC protocol (``/VMC/Ext/Blend/Val`` and ``/VMC/Ext/Blend/Apply``) and for tests that decode what we
send. Everything is big-endian; strings are UTF-8, NUL-terminated and padded to a multiple of four bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

OscArgument = int | float | str
BUNDLE_TAG = b"#bundle\0"
IMMEDIATELY = 1
"""The OSC time tag meaning "now"."""


class OscError(ValueError):
    pass


@dataclass(frozen=True)
class OscMessage:
    address: str
    arguments: tuple[OscArgument, ...] = ()


def _string(text: str) -> bytes:
    data = text.encode("utf-8") + b"\0"
    return data + b"\0" * (-len(data) % 4)


def encode_message(message: OscMessage) -> bytes:
    tags = ","
    body = b""
    for argument in message.arguments:
        if isinstance(argument, bool) or not isinstance(argument, int | float | str):
            raise OscError(f"unsupported OSC argument {argument!r}")
        if isinstance(argument, int):
            tags += "i"
            body += struct.pack(">i", argument)
        elif isinstance(argument, float):
            tags += "f"
            body += struct.pack(">f", argument)
        else:
            tags += "s"
            body += _string(argument)
    return _string(message.address) + _string(tags) + body


def encode_bundle(messages: list[OscMessage], time_tag: int = IMMEDIATELY) -> bytes:
    parts = [BUNDLE_TAG, struct.pack(">Q", time_tag)]
    for message in messages:
        element = encode_message(message)
        parts.append(struct.pack(">i", len(element)) + element)
    return b"".join(parts)


def _read_string(data: bytes, offset: int) -> tuple[str, int]:
    end = data.find(b"\0", offset)
    if end < 0:
        raise OscError("unterminated OSC string")
    text = data[offset:end].decode("utf-8")
    return text, end + 1 + (-(end + 1 - offset) % 4)


def decode_message(data: bytes) -> OscMessage:
    address, offset = _read_string(data, 0)
    if not address.startswith("/"):
        raise OscError(f"not an OSC address: {address!r}")
    if offset >= len(data):
        return OscMessage(address)
    tags, offset = _read_string(data, offset)
    if not tags.startswith(","):
        raise OscError("missing OSC type tags")
    arguments: list[OscArgument] = []
    for tag in tags[1:]:
        if tag in "if":
            if offset + 4 > len(data):
                raise OscError("truncated OSC argument")
            arguments.append(struct.unpack_from(">i" if tag == "i" else ">f", data, offset)[0])
            offset += 4
        elif tag == "s":
            text, offset = _read_string(data, offset)
            arguments.append(text)
        else:
            raise OscError(f"unsupported OSC type tag {tag!r}")
    return OscMessage(address, tuple(arguments))


def decode_packet(data: bytes) -> tuple[int | None, list[OscMessage]]:
    """A packet's time tag (None for a bare message) and its messages, nested bundles flattened."""
    if not data.startswith(BUNDLE_TAG):
        return None, [decode_message(data)]
    if len(data) < 16:
        raise OscError("truncated OSC bundle")
    (time_tag,) = struct.unpack_from(">Q", data, 8)
    offset, messages = 16, []
    while offset < len(data):
        if offset + 4 > len(data):
            raise OscError("truncated OSC bundle element")
        (size,) = struct.unpack_from(">i", data, offset)
        if size <= 0 or offset + 4 + size > len(data):
            raise OscError("bad OSC bundle element size")
        messages.extend(decode_packet(data[offset + 4 : offset + 4 + size])[1])
        offset += 4 + size
    return time_tag, messages
