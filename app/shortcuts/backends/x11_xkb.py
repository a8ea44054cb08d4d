"""XKB's "detectable auto-repeat" for one X connection (python-xlib has no XKB module; two requests suffice).

Without it, a held key repeats as KeyRelease+KeyPress pairs, indistinguishable from real presses except by their
equal timestamps. With it the server sends only the repeated KeyPress, which the backend drops while the key is down.
"""

from __future__ import annotations

from typing import Any

from Xlib.protocol import rq

_USE_CORE_KEYBOARD = 0x100
_DETECTABLE_AUTO_REPEAT = 1 << 0


class _UseExtension(rq.ReplyRequest):
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(0),
        rq.RequestLength(),
        rq.Card16("wanted_major"),
        rq.Card16("wanted_minor"),
    )
    _reply = rq.Struct(
        rq.ReplyCode(),
        rq.Bool("supported"),
        rq.Card16("sequence_number"),
        rq.ReplyLength(),
        rq.Card16("server_major"),
        rq.Card16("server_minor"),
        rq.Pad(20),
    )


class _PerClientFlags(rq.ReplyRequest):
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(21),
        rq.RequestLength(),
        rq.Card16("device_spec"),
        rq.Pad(2),
        rq.Card32("change"),
        rq.Card32("value"),
        rq.Card32("ctrls_to_change"),
        rq.Card32("auto_ctrls"),
        rq.Card32("auto_ctrl_values"),
    )
    _reply = rq.Struct(
        rq.ReplyCode(),
        rq.Card8("device_id"),
        rq.Card16("sequence_number"),
        rq.ReplyLength(),
        rq.Card32("supported"),
        rq.Card32("value"),
        rq.Card32("auto_ctrls"),
        rq.Card32("auto_ctrl_values"),
        rq.Pad(8),
    )


def set_detectable_auto_repeat(display: Any) -> bool:
    """Ask the server to drop the synthetic releases of auto-repeat on this connection; False if it cannot."""
    info = display.query_extension("XKEYBOARD")
    if info is None or not info.present:
        return False
    used = _UseExtension(display=display.display, opcode=info.major_opcode, wanted_major=1, wanted_minor=0)
    if not used.supported:
        return False
    flags = _PerClientFlags(
        display=display.display,
        opcode=info.major_opcode,
        device_spec=_USE_CORE_KEYBOARD,
        change=_DETECTABLE_AUTO_REPEAT,
        value=_DETECTABLE_AUTO_REPEAT,
        ctrls_to_change=0,
        auto_ctrls=0,
        auto_ctrl_values=0,
    )
    return bool(flags.value & _DETECTABLE_AUTO_REPEAT)
