"""The GlobalShortcuts portal's D-Bus calls, with jeepney on the running asyncio loop (Qt's too, under qasync).

jeepney rather than QtDBus: ``BindShortcuts`` takes ``a(sa{sv})``, and PySide6's ``QDBusArgument`` cannot write
structures, while jeepney builds each message from an explicit signature.

Requests answer through a ``Request`` object whose path is known in advance (the sender's unique name and our
``handle_token``), so the ``Response`` match is in place before the call: no reply can be missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from jeepney import DBusAddress, DBusErrorResponse, MatchRule, Message, Properties, message_bus, new_method_call
from jeepney.io.asyncio import DBusConnection, DBusRouter, Proxy, open_dbus_connection

from app.shortcuts.backend import BackendUnavailable

log = logging.getLogger(__name__)

PORTAL_BUS_NAME = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
GLOBAL_SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"
REGISTRY = "org.freedesktop.host.portal.Registry"
REQUEST = "org.freedesktop.portal.Request"
SESSION = "org.freedesktop.portal.Session"
_SIGNATURES = {"CreateSession": "a{sv}", "BindShortcuts": "oa(sa{sv})sa{sv}", "ListShortcuts": "oa{sv}"}
RESPONSE_TIMEOUT_S = 300.0
"""The user may take a while in the portal's confirmation dialog."""


def to_variants(options: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """A Python dict as ``a{sv}``: strings, booleans and unsigned integers."""
    typed: dict[str, tuple[str, Any]] = {}
    for key, value in options.items():
        signature = "s" if isinstance(value, str) else "b" if isinstance(value, bool) else "u"
        typed[key] = (signature, value)
    return typed


def from_variants(value: Any) -> Any:
    """Plain Python values from what jeepney decodes, where every dict is an ``a{sv}`` (as all the portal's are):
    each dict value is a ``(signature, value)`` variant."""
    if isinstance(value, dict):
        return {key: from_variants(variant[1]) for key, variant in value.items()}
    if isinstance(value, list):
        return [from_variants(item) for item in value]
    if isinstance(value, tuple):
        return tuple(from_variants(item) for item in value)
    return value


class JeepneyPortalCalls:
    def __init__(self, bus: str = "SESSION") -> None:
        self._bus = bus
        self._connection: DBusConnection | None = None
        self._router: DBusRouter | None = None
        self._portal = DBusAddress(PORTAL_PATH, PORTAL_BUS_NAME, GLOBAL_SHORTCUTS)
        self._signal_tasks: list[asyncio.Task[None]] = []

    async def open(self, app_id: str) -> int | None:
        try:
            self._connection = await open_dbus_connection(self._bus)
        except (OSError, KeyError, ValueError, StopIteration, EOFError) as failure:
            raise BackendUnavailable(f"no D-Bus session bus ({failure})") from failure
        self._router = DBusRouter(self._connection)
        try:
            await self._call(new_method_call(self._portal.with_interface(REGISTRY), "Register", "sa{sv}", (app_id, {})))
        except DBusErrorResponse as refused:
            # Portals before 1.21 have no registry and need none; anything else is worth a line in the log.
            if "UnknownMethod" not in refused.name and "UnknownInterface" not in refused.name:
                log.warning("the portal registry refused app id %s: %s", app_id, refused)
        try:
            [version] = await self._call(Properties(self._portal).get("version"))
        except DBusErrorResponse as missing:
            log.info("no GlobalShortcuts portal: %s", missing)
            return None
        return int(version[1])

    async def request(self, method: str, arguments: list[Any]) -> tuple[int, dict[str, Any]]:
        router = self._require_router()
        options = arguments[-1]
        token = str(options["handle_token"])
        sender = router.unique_name.lstrip(":").replace(".", "_")
        request_path = f"{PORTAL_PATH}/request/{sender}/{token}"
        rule = MatchRule(type="signal", interface=REQUEST, member="Response", path=request_path)
        body = [*arguments[:-1], to_variants(options)]
        if method == "BindShortcuts":
            body[1] = [(shortcut_id, to_variants(properties)) for shortcut_id, properties in body[1]]
        await Proxy(message_bus, router).AddMatch(rule)
        try:
            with router.filter(rule) as responses:
                await self._call(new_method_call(self._portal, method, _SIGNATURES[method], tuple(body)))
                response: Message = await asyncio.wait_for(responses.get(), RESPONSE_TIMEOUT_S)
        finally:
            await Proxy(message_bus, router).RemoveMatch(rule)
        code, results = response.body
        return int(code), from_variants(results)

    def on_shortcut(self, session_handle: str, callback: Callable[[str, bool], None]) -> None:
        for member, active in (("Activated", True), ("Deactivated", False)):
            rule = MatchRule(type="signal", interface=GLOBAL_SHORTCUTS, member=member, path=PORTAL_PATH)
            rule.add_arg_condition(0, session_handle, kind="path")
            self._signal_tasks.append(asyncio.get_running_loop().create_task(self._relay(rule, active, callback)))

    async def close(self, session_handle: str | None) -> None:
        for task in self._signal_tasks:
            task.cancel()
        for task in self._signal_tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._signal_tasks.clear()
        if self._router is not None:
            if session_handle:
                with contextlib.suppress(DBusErrorResponse, OSError):
                    await self._call(new_method_call(DBusAddress(session_handle, PORTAL_BUS_NAME, SESSION), "Close"))
            await self._router.__aexit__(None, None, None)
            self._router = None
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _relay(self, rule: MatchRule, active: bool, callback: Callable[[str, bool], None]) -> None:
        router = self._require_router()
        await Proxy(message_bus, router).AddMatch(rule)
        with router.filter(rule, bufsize=64) as signals:
            while True:
                message = await signals.get()
                callback(str(message.body[1]), active)

    async def _call(self, message: Message) -> tuple[Any, ...]:
        reply = await self._require_router().send_and_get_reply(message)
        if reply.header.message_type.name == "error":
            raise DBusErrorResponse(reply)
        return tuple(reply.body)

    def _require_router(self) -> DBusRouter:
        if self._router is None:
            raise BackendUnavailable("the portal connection is closed")
        return self._router
