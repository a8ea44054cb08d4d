"""A stand-in xdg-desktop-portal on a private D-Bus bus: the GlobalShortcuts calls as the spec describes them.

``python -m tests.support.fake_portal BUS_ADDRESS [--no-global-shortcuts] [--cancel] [--trigger TEXT]``. Prints
``ready`` once it owns ``org.freedesktop.portal.Desktop``. Tests drive it through ``test.FakePortal``: ``Press(id)`` and
``Release(id)`` emit Activated/Deactivated for the session; ``AppId()`` says what the registry was told;
``BindCalls()`` how many ``BindShortcuts`` calls came.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from jeepney import (
    DBusAddress,
    HeaderFields,
    Message,
    MessageType,
    message_bus,
    new_error,
    new_method_return,
    new_signal,
)
from jeepney.io.blocking import open_dbus_connection

DESKTOP = "/org/freedesktop/portal/desktop"
SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"


def main() -> int:  # noqa: PLR0915 - one dispatcher, read top to bottom
    parser = argparse.ArgumentParser()
    parser.add_argument("bus")
    parser.add_argument("--no-global-shortcuts", action="store_true")
    parser.add_argument("--cancel", action="store_true")
    parser.add_argument("--trigger", default="")
    args = parser.parse_args()
    connection = open_dbus_connection(args.bus)
    connection.send_and_get_reply(message_bus.RequestName("org.freedesktop.portal.Desktop"))
    print("ready", flush=True)
    session = ""
    app_id = ""
    bind_calls = 0
    while True:
        message: Message = connection.receive()
        if message.header.message_type != MessageType.method_call:
            continue
        fields: dict[Any, Any] = message.header.fields
        interface, member = fields.get(HeaderFields.interface), fields.get(HeaderFields.member)
        sender = str(fields.get(HeaderFields.sender, "")).lstrip(":").replace(".", "_")

        def respond(code: int, results: dict[str, Any], message: Message = message, sender: str = sender) -> None:
            token = message.body[-1]["handle_token"][1]
            path = f"{DESKTOP}/request/{sender}/{token}"
            connection.send(new_method_return(message, "o", (path,)))
            request = DBusAddress(path, interface="org.freedesktop.portal.Request")
            connection.send(new_signal(request, "Response", "ua{sv}", (code, results)))

        if interface == "org.freedesktop.DBus.Properties" and member == "Get":
            if args.no_global_shortcuts or message.body[0] != SHORTCUTS:
                connection.send(new_error(message, "org.freedesktop.DBus.Error.UnknownInterface"))
            else:
                connection.send(new_method_return(message, "v", (("u", 1),)))
        elif interface == "org.freedesktop.host.portal.Registry" and member == "Register":
            app_id = message.body[0]
            connection.send(new_method_return(message))
        elif interface == SHORTCUTS and member == "CreateSession":
            session = f"{DESKTOP}/session/{sender}/{message.body[0]['session_handle_token'][1]}"
            respond(0, {"session_handle": ("o", session)})
        elif interface == SHORTCUTS and member == "BindShortcuts":
            bind_calls += 1
            if args.cancel:
                respond(1, {})
                continue
            bound = [
                (shortcut_id, {"description": properties["description"], "trigger_description": ("s", args.trigger)})
                for shortcut_id, properties in message.body[1]
            ]
            respond(0, {"shortcuts": ("a(sa{sv})", bound)})
        elif interface == "org.freedesktop.portal.Session" and member == "Close":
            connection.send(new_method_return(message))
            print("session closed", flush=True)
        elif interface == "test.FakePortal" and member in ("Press", "Release"):
            signal = "Activated" if member == "Press" else "Deactivated"
            emitter = DBusAddress(DESKTOP, interface=SHORTCUTS)
            connection.send(new_signal(emitter, signal, "osta{sv}", (session, message.body[0], 0, {})))
            connection.send(new_method_return(message))
        elif interface == "test.FakePortal" and member == "AppId":
            connection.send(new_method_return(message, "s", (app_id,)))
        elif interface == "test.FakePortal" and member == "BindCalls":
            connection.send(new_method_return(message, "u", (bind_calls,)))
        else:
            connection.send(new_error(message, "org.freedesktop.DBus.Error.UnknownMethod"))


if __name__ == "__main__":
    sys.exit(main())
