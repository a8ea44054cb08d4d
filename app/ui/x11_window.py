"""The one EWMH request Qt has no API for: show a window on every workspace (``_NET_WM_DESKTOP = 0xFFFFFFFF``), or
back on the current one."""

from __future__ import annotations

import logging

log = logging.getLogger("app.ui.x11")

ALL_DESKTOPS = 0xFFFFFFFF


def set_on_all_desktops(window_id: int, everywhere: bool = True) -> bool:
    """Ask the window manager to show ``window_id`` on all workspaces (or, with ``everywhere=False``, only on the
    current one); False (logged) when it cannot be asked."""
    try:
        from Xlib import X, display  # noqa: PLC0415 - Linux only
        from Xlib.protocol import event  # noqa: PLC0415
    except ImportError:
        return False
    try:
        connection = display.Display()
    except Exception as error:  # no X server behind DISPLAY, or refused
        log.info("cannot reach the X server to stick the window to all workspaces: %s", error)
        return False
    try:
        root = connection.screen().root
        desktop = connection.intern_atom("_NET_WM_DESKTOP")
        target = ALL_DESKTOPS
        if not everywhere:
            current = root.get_full_property(connection.intern_atom("_NET_CURRENT_DESKTOP"), X.AnyPropertyType)
            target = int(current.value[0]) if current is not None and len(current.value) else 0
        window = connection.create_resource_object("window", window_id)
        # EWMH: a client message to the root window for a mapped window, the property for one not yet mapped.
        message = event.ClientMessage(window=window, client_type=desktop, data=(32, [target, 1, 0, 0, 0]))
        root.send_event(message, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)
        window.change_property(desktop, connection.intern_atom("CARDINAL"), 32, [target])
        connection.sync()
        return True
    except Exception as error:  # a window that went away meanwhile
        log.info("could not stick the window to all workspaces: %s", error)
        return False
    finally:
        connection.close()
