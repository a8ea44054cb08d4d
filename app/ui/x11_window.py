"""X11 requests Qt has no API for: show a window on every workspace (``_NET_WM_DESKTOP = 0xFFFFFFFF``) or back on
the current one; read another process's window's alpha and shape only a window's input (:class:`X11Link`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("app.ui.x11")

ALL_DESKTOPS = 0xFFFFFFFF
ALPHA_DEPTH = 32


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


class X11Link:
    """One X connection, opened on first use and kept until :meth:`close`: the click-through reads the stage window
    and shapes the tamagotchi window's input several times a second, and a connection of its own each time cost more
    than the reading. Requests to a window that is gone are logged, not raised."""

    def __init__(self, display_name: str | None = None) -> None:
        self._display_name = display_name
        self._connection: Any = None
        self._unavailable = False

    def _x(self) -> Any:
        if self._connection is None and not self._unavailable:
            try:
                from Xlib import display  # noqa: PLC0415 - Linux only

                self._connection = display.Display(self._display_name)
            except Exception as error:  # no python-xlib, no X server behind DISPLAY, or refused
                log.info("cannot reach the X server: %s", error)
                self._unavailable = True
                return None
            self._connection.set_error_handler(lambda error, *_: log.debug("X error: %s", error))
        return self._connection

    def window_alpha(self, window_id: int) -> np.ndarray | None:
        """The alpha channel (rows x columns) of a 32-bit window as it is drawn now, also another process's; None
        when it has no alpha or cannot be read."""
        read = self.window_alpha_and_place(window_id)
        return None if read is None else read[0]

    def window_alpha_and_place(self, window_id: int) -> tuple[np.ndarray | None, tuple[int, int, int, int]] | None:
        """:meth:`window_alpha` (None when it has none or cannot be read yet) and the window's place in its parent
        (x, y, width, height); None when the window cannot be queried at all. The place comes even without the alpha:
        a restarted stage's window, not drawn yet, must still be put in its place."""
        connection = self._x()
        if connection is None:
            return None
        import numpy as np  # noqa: PLC0415
        from Xlib import X  # noqa: PLC0415

        try:
            window = connection.create_resource_object("window", window_id)
            geometry = window.get_geometry()
        except Exception as error:  # the window went away meanwhile
            log.debug("could not query window %#x: %s", window_id, error)
            return None
        width, height = geometry.width, geometry.height
        place = (geometry.x, geometry.y, width, height)
        if geometry.depth != ALPHA_DEPTH:
            return None, place
        try:
            image = window.get_image(0, 0, width, height, X.ZPixmap, 0xFFFFFFFF)
        except Exception as error:  # unmapped, or gone meanwhile
            log.debug("could not read window %#x: %s", window_id, error)
            return None, place
        pixels = np.frombuffer(image.data, np.uint8)
        if pixels.size < width * height * 4:
            return None, place
        # 32 bits a pixel, alpha in the top byte: the fourth byte of each pixel on a little-endian server.
        return pixels.reshape(height, -1, 4)[:, :width, 3].copy(), place

    def set_input_shape(self, window_id: int, rects: list[tuple[int, int, int, int]]) -> bool:
        """Let only ``rects`` (x, y, width, height) of the window take the mouse (the X Shape extension's input
        shape): clicks anywhere else reach the windows below, while everything stays visible."""
        connection = self._x()
        if connection is None:
            return False
        from Xlib import X  # noqa: PLC0415
        from Xlib.ext import shape  # noqa: PLC0415

        try:
            window = connection.create_resource_object("window", window_id)
            shape.rectangles(window, shape.SO.Set, shape.SK.Input, X.Unsorted, 0, 0, rects)
            connection.sync()
            return True
        except Exception as error:
            log.info("could not shape the window's input: %s", error)
            return False

    def place(self, window_id: int, rect: tuple[int, int, int, int]) -> None:
        """Move and resize a window to ``rect`` (x, y, width, height) in its parent."""
        connection = self._x()
        if connection is not None:
            x, y, width, height = rect
            connection.create_resource_object("window", window_id).configure(x=x, y=y, width=width, height=height)
            connection.flush()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
