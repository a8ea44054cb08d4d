"""The Wayland backend's D-Bus calls for real: a private dbus-daemon and a stand-in portal process that speaks the
GlobalShortcuts interface (no compositor can run here, so the portal itself is the faked boundary)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from jeepney import DBusAddress, new_method_call
from jeepney.io.asyncio import open_dbus_router

from app.shortcuts.actions import DEFAULT_ACTIONS, NEXT_AVATAR, TOGGLE_WINDOW
from app.shortcuts.backend import BackendUnavailable, FailureReason
from app.shortcuts.backends.portal_dbus import JeepneyPortalCalls
from app.shortcuts.backends.wayland import APP_ID, PortalBackend
from app.shortcuts.select import open_backend
from app.shortcuts.service import ShortcutService, Trigger
from app.shortcuts.settings import MemoryBindingSettings
from tests.support.x11_desktop import session_bus
from tests.waiting import until

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.tier3  # a real dbus-daemon: CI must have it


@pytest.fixture
def bus() -> Iterator[str]:
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon is not installed (make setup-test installs it as root)")
    with session_bus(dict(os.environ)) as address:
        yield address


class Portal:
    def __init__(self, bus: str) -> None:
        self.bus = bus
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, *options: str) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.support.fake_portal", self.bus, *options, cwd=ROOT, stdout=subprocess.PIPE
        )
        assert self.process.stdout is not None
        assert (await asyncio.wait_for(self.process.stdout.readline(), 20)).strip() == b"ready"

    async def call(self, member: str, *arguments: str) -> tuple[object, ...]:
        async with open_dbus_router(self.bus) as router:
            target = DBusAddress("/org/freedesktop/portal/desktop", "org.freedesktop.portal.Desktop", "test.FakePortal")
            signature = "s" * len(arguments) or None
            reply = await router.send_and_get_reply(new_method_call(target, member, signature, arguments))
            return tuple(reply.body)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


@pytest.fixture
async def portal(bus: str) -> AsyncIterator[Portal]:
    running = Portal(bus)
    try:
        yield running
    finally:
        await running.stop()


async def test_binds_registers_the_app_id_and_reports_presses_and_releases(bus: str, portal: Portal) -> None:
    await portal.start()
    service = ShortcutService(await PortalBackend.open(JeepneyPortalCalls(bus)))
    try:
        fired: list[Trigger] = []
        result = await service.register("talk", "Ctrl+Alt+K", fired.append, receive_key_ups=True)
        assert result.ok, result.message
        assert await portal.call("AppId") == (APP_ID,)
        await portal.call("Press", "talk#1")
        await portal.call("Release", "talk#1")
        await portal.call("Press", "someone-else")
        await until(lambda: len(fired) == 2, what="the portal's Activated and Deactivated")
        assert [(t.id, t.phase.value) for t in fired] == [("talk", "down"), ("talk", "up")]
    finally:
        await service.close()
    assert portal.process is not None and portal.process.stdout is not None
    assert (await asyncio.wait_for(portal.process.stdout.readline(), 10)).strip() == b"session closed"


async def test_a_trigger_the_user_chose_is_what_the_binding_shows(bus: str, portal: Portal) -> None:
    await portal.start("--trigger", "Ctrl+Shift+F7")
    service = ShortcutService(await PortalBackend.open(JeepneyPortalCalls(bus)))
    try:
        result = await service.register("talk", "Ctrl+Alt+K", lambda _: None)
        assert result.ok and result.accelerator is not None and result.accelerator.canonical() == "Ctrl+Shift+F7"
    finally:
        await service.close()


async def test_a_cancelled_dialog_is_denied(bus: str, portal: Portal) -> None:
    await portal.start("--cancel")
    service = ShortcutService(await PortalBackend.open(JeepneyPortalCalls(bus)))
    try:
        result = await service.register("talk", "Ctrl+Alt+K", lambda _: None)
        assert result.reason is FailureReason.DENIED and "cancelled" in result.message
    finally:
        await service.close()


async def test_a_portal_without_global_shortcuts_is_unsupported_with_why(bus: str, portal: Portal) -> None:
    await portal.start("--no-global-shortcuts")
    calls = JeepneyPortalCalls(bus)
    with pytest.raises(BackendUnavailable, match="no xdg-desktop-portal with GlobalShortcuts"):
        await PortalBackend.open(calls)


async def test_a_wayland_session_without_a_bus_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    backend = await open_backend("linux", {"WAYLAND_DISPLAY": "wayland-0"})
    result = await ShortcutService(backend).register("talk", "Ctrl+Alt+K", lambda _: None)
    assert result.reason is FailureReason.UNSUPPORTED and "no D-Bus session bus" in result.message


async def test_startup_binds_the_apps_actions_in_one_request_and_a_change_in_another(bus: str, portal: Portal) -> None:
    await portal.start()
    service = ShortcutService(await PortalBackend.open(JeepneyPortalCalls(bus)), MemoryBindingSettings())
    try:
        fired: list[Trigger] = []
        results = await service.bind_actions({spec.id: fired.append for spec in DEFAULT_ACTIONS})
        assert all(r.ok for r in results), [r.message for r in results if not r.ok]
        assert await portal.call("BindCalls") == (1,)  # one dialog at startup, not one per action
        await portal.call("Press", f"{TOGGLE_WINDOW}#1")
        await until(lambda: len(fired) == 1, what="a batch-bound shortcut to fire")
        assert fired[0].id == TOGGLE_WINDOW
        assert (await service.rebind(NEXT_AVATAR, "Ctrl+Alt+Shift+F7")).ok
        assert await portal.call("BindCalls") == (2,)
    finally:
        await service.close()


async def test_a_cancelled_dialog_at_startup_denies_each_action(bus: str, portal: Portal) -> None:
    await portal.start("--cancel")
    service = ShortcutService(await PortalBackend.open(JeepneyPortalCalls(bus)), MemoryBindingSettings())
    try:
        results = await service.bind_actions({spec.id: lambda _: None for spec in DEFAULT_ACTIONS})
        assert [(r.reason, r.message) for r in results] == [
            (FailureReason.DENIED, "the shortcut dialog was cancelled")
        ] * 4
        assert await portal.call("BindCalls") == (1,) and service.list() == []
    finally:
        await service.close()
