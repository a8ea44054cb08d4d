"""The Windows, macOS and Wayland backends' logic, with fakes of exactly their platform calls (which cannot run
here), and the run-time choice of backend."""

from __future__ import annotations

import asyncio
import ctypes
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from app.shortcuts.accelerator import parse_accelerator
from app.shortcuts.actions import DEFAULT_ACTIONS
from app.shortcuts.backend import (
    BackendUnavailable,
    FailureReason,
    GrabRefused,
    Phase,
    ShortcutBackend,
    UnavailableBackend,
)
from app.shortcuts.backends import macos, windows
from app.shortcuts.backends.macos import MacBackend
from app.shortcuts.backends.wayland import PortalBackend, preferred_trigger
from app.shortcuts.backends.windows import WindowsBackend
from app.shortcuts.select import BackendFactories, detect_session, open_backend, open_shortcut_service
from app.shortcuts.service import ShortcutService, Trigger
from app.shortcuts.settings import MemoryBindingSettings
from tests.waiting import until


class FakeWin32:
    def __init__(self) -> None:
        self.registered: dict[int, tuple[int, int]] = {}
        self.taken: set[tuple[int, int]] = set()
        self.error_for: dict[int, int] = {}
        self.down: set[int] = set()
        self.on_hot_key: Callable[[int], None] | None = None
        self.layout = {30: 0x41, 37: 0x4B, 52: 0xBE}  # scan codes of A, K, Period on a US layout

    def register_hot_key(self, hotkey_id: int, modifiers: int, virtual_key: int) -> int:
        if (modifiers & ~windows.MOD_NOREPEAT, virtual_key) in self.taken:
            return windows.ERROR_HOTKEY_ALREADY_REGISTERED
        if (modifiers, virtual_key) in self.registered.values():  # this thread's own hot key
            return windows.ERROR_HOTKEY_ALREADY_REGISTERED
        if virtual_key in self.error_for:
            return self.error_for[virtual_key]
        self.registered[hotkey_id] = (modifiers, virtual_key)
        return 0

    def unregister_hot_key(self, hotkey_id: int) -> None:
        del self.registered[hotkey_id]

    def virtual_key_for_scan_code(self, scan_code: int) -> int:
        return self.layout.get(scan_code, 0)

    def key_is_down(self, virtual_key: int) -> bool:
        return virtual_key in self.down

    def watch_hot_keys(self, on_hot_key: Callable[[int], None]) -> None:
        self.on_hot_key = on_hot_key

    def stop_watching(self) -> None:
        self.on_hot_key = None

    def press(self, virtual_key: int) -> None:
        assert self.on_hot_key is not None
        self.down.add(virtual_key)
        for hotkey_id, (_, key) in list(self.registered.items()):
            if key == virtual_key:
                self.on_hot_key(hotkey_id)


async def test_windows_registers_with_norepeat_and_reports_down_then_up() -> None:
    calls = FakeWin32()
    service = ShortcutService(WindowsBackend(calls))
    fired: list[Trigger] = []
    assert (await service.register("talk", "CmdOrCtrl+Shift+K", fired.append, receive_key_ups=True)).ok
    [(modifiers, key)] = calls.registered.values()
    assert key == 0x4B and modifiers == windows.MOD_CONTROL | windows.MOD_SHIFT | windows.MOD_NOREPEAT
    calls.press(0x4B)
    calls.press(0x4B)  # a second WM_HOTKEY while held is not a second press
    await asyncio.sleep(0.05)
    assert [t.phase for t in fired] == [Phase.DOWN]
    calls.down.clear()
    await until(lambda: len(fired) == 2, what="the key-up")
    assert fired[1].phase is Phase.UP
    await service.close()
    assert calls.registered == {} and calls.on_hot_key is None


async def test_windows_error_1409_is_a_conflict_and_other_errors_say_their_code() -> None:
    calls = FakeWin32()
    calls.taken.add((windows.MOD_CONTROL | windows.MOD_ALT, 0x41))
    calls.error_for[0x74] = 5
    service = ShortcutService(WindowsBackend(calls))
    conflict = await service.register("a", "Ctrl+Alt+A", lambda _: None)
    assert conflict.reason is FailureReason.CONFLICT and "Ctrl+Alt+A" in conflict.message
    other = await service.register("b", "Alt+F5", lambda _: None)
    assert other.reason is FailureReason.INVALID and "error 5" in other.message


async def test_windows_error_1409_for_our_own_hot_key_does_not_blame_another_application() -> None:
    backend = WindowsBackend(FakeWin32())
    await backend.grab("a#1", parse_accelerator("Ctrl+Alt+A"))
    with pytest.raises(GrabRefused) as ours:
        await backend.grab("b#2", parse_accelerator("CmdOrCtrl+Alt+A"))
    assert ours.value.reason is FailureReason.CONFLICT and ours.value.message == (
        "Ctrl+Alt+A is already registered by this app ('a')"
    )
    service = ShortcutService(WindowsBackend(FakeWin32()), platform="win32")
    assert (await service.register("a", "Ctrl+Alt+A", lambda _: None)).ok
    same = await service.register("b", "CmdOrCtrl+Alt+A", lambda _: None)
    assert same.reason is FailureReason.CONFLICT and "already used by 'a' in this app" in same.message
    moved = await service.rebind("a", "CmdOrCtrl+Alt+A")  # the same keys: no second RegisterHotKey, no 1409
    assert moved.ok and service.accelerator_of("a") == parse_accelerator("CmdOrCtrl+Alt+A")


async def test_windows_refuses_f12_alone_and_keys_the_layout_lacks() -> None:
    service = ShortcutService(WindowsBackend(FakeWin32()))
    f12 = await service.register("a", "F12", lambda _: None)
    assert f12.reason is FailureReason.INVALID and "debuggers" in f12.message
    missing = await service.register("b", "Ctrl+Alt+Q", lambda _: None)  # no scan code 16 in the fake layout
    assert missing.reason is FailureReason.INVALID and "KeyQ" in missing.message
    enter = await service.register("c", "Ctrl+NumpadEnter", lambda _: None)
    assert enter.reason is FailureReason.INVALID


class FakeCarbon:
    def __init__(self) -> None:
        self.registered: dict[int, tuple[int, int]] = {}
        self.status_for: dict[tuple[int, int], int] = {}
        self.on_hot_key: Callable[[int, bool], None] | None = None

    def register_hot_key(self, key_code: int, modifiers: int, hotkey_id: int) -> tuple[int, Any]:
        status = self.status_for.get((key_code, modifiers), 0)
        if status == 0:
            self.registered[hotkey_id] = (key_code, modifiers)
        return status, hotkey_id

    def unregister_hot_key(self, ref: Any) -> None:
        del self.registered[ref]

    def install_handler(self, on_hot_key: Callable[[int, bool], None]) -> None:
        self.on_hot_key = on_hot_key

    def remove_handler(self) -> None:
        self.on_hot_key = None


async def test_macos_maps_cmd_or_ctrl_to_cmd_and_reports_press_and_release() -> None:
    calls = FakeCarbon()
    service = ShortcutService(MacBackend(calls, (14, 5)))
    fired: list[Trigger] = []
    assert (await service.register("talk", "CmdOrCtrl+Shift+K", fired.append, receive_key_ups=True)).ok
    [(hotkey_id, (key_code, modifiers))] = calls.registered.items()
    assert key_code == 0x28 and modifiers == macos.CMD_KEY | macos.SHIFT_KEY
    assert calls.on_hot_key is not None
    calls.on_hot_key(hotkey_id, True)
    calls.on_hot_key(hotkey_id, False)
    calls.on_hot_key(999, True)  # not ours
    assert [t.phase for t in fired] == [Phase.DOWN, Phase.UP]
    await service.close()
    assert calls.registered == {} and calls.on_hot_key is None


async def test_macos_reasons() -> None:
    calls = FakeCarbon()
    calls.status_for[(0x28, macos.CONTROL_KEY | macos.OPTION_KEY)] = macos.EVENT_HOT_KEY_EXISTS
    calls.status_for[(0x26, macos.CONTROL_KEY | macos.OPTION_KEY)] = -50
    sequoia = ShortcutService(MacBackend(calls, (15, 1)))
    assert (await sequoia.register("a", "Ctrl+Alt+K", lambda _: None)).reason is FailureReason.CONFLICT
    assert (await sequoia.register("b", "Ctrl+Alt+J", lambda _: None)).reason is FailureReason.DENIED
    refused = await sequoia.register("c", "Alt+Shift+F5", lambda _: None)
    assert refused.reason is FailureReason.INVALID and "macOS 15" in refused.message
    media = await sequoia.register("d", "MediaPlayPause", lambda _: None)
    assert media.reason is FailureReason.INVALID
    older = ShortcutService(MacBackend(FakeCarbon(), (14, 6)))
    assert (await older.register("c", "Alt+Shift+F5", lambda _: None)).ok


class FakePortal:
    def __init__(self, version: int | None = 1) -> None:
        self.version = version
        self.app_id: str | None = None
        self.requests: list[tuple[str, list[Any]]] = []
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.callback: Callable[[str, bool], None] | None = None
        self.closed: list[str | None] = []

    async def open(self, app_id: str) -> int | None:
        self.app_id = app_id
        return self.version

    async def request(self, method: str, arguments: list[Any]) -> tuple[int, dict[str, Any]]:
        self.requests.append((method, arguments))
        if method == "CreateSession":
            return 0, {"session_handle": "/org/freedesktop/portal/desktop/session/1_1/stage_tamagotchi"}
        if self.answers:
            return self.answers.pop(0)
        return 0, {"shortcuts": [(shortcut_id, {"trigger_description": ""}) for shortcut_id, _ in arguments[1]]}

    def on_shortcut(self, session_handle: str, callback: Callable[[str, bool], None]) -> None:
        self.callback = callback

    async def close(self, session_handle: str | None) -> None:
        self.closed.append(session_handle)


async def test_portal_binds_every_shortcut_with_a_preferred_trigger_and_reports_key_ups() -> None:
    portal = FakePortal()
    backend = await PortalBackend.open(portal)
    assert portal.app_id and portal.requests[0][0] == "CreateSession"
    service = ShortcutService(backend)
    fired: list[Trigger] = []
    assert (await service.register("talk", "CmdOrCtrl+Alt+K", fired.append, receive_key_ups=True)).ok
    assert (await service.register("next", "Super+Shift+F5", fired.append)).ok
    method, arguments = portal.requests[-1]
    assert method == "BindShortcuts"
    assert [(i.split("#")[0], p["preferred_trigger"]) for i, p in arguments[1]] == [
        ("talk", "CTRL+ALT+k"),
        ("next", "SHIFT+LOGO+F5"),
    ]
    assert portal.callback is not None
    talk_id = arguments[1][0][0]
    portal.callback(talk_id, True)
    portal.callback(talk_id, False)
    portal.callback("someone-else", True)
    assert [(t.id, t.phase) for t in fired] == [("talk", Phase.DOWN), ("talk", Phase.UP)]
    await service.unregister("talk")
    portal.callback(talk_id, True)  # the portal cannot unbind; the released shortcut's events are ignored
    assert len(fired) == 2
    await service.close()
    assert portal.closed == ["/org/freedesktop/portal/desktop/session/1_1/stage_tamagotchi"]


async def test_portal_reasons_and_a_trigger_the_user_changed() -> None:
    portal = FakePortal()
    service = ShortcutService(await PortalBackend.open(portal))
    portal.answers.append((1, {}))
    assert (await service.register("a", "Ctrl+Alt+K", lambda _: None)).reason is FailureReason.DENIED
    portal.answers.append((0, {"shortcuts": []}))
    left_out = await service.register("a", "Ctrl+Alt+K", lambda _: None)
    assert left_out.reason is FailureReason.DENIED and "left this shortcut out" in left_out.message
    changed = (0, {"shortcuts": [("a#3", {"trigger_description": "Ctrl+Alt+J"})]})
    portal.answers.append(changed)
    result = await service.register("a", "Ctrl+Alt+K", lambda _: None)
    assert result.ok and result.accelerator == parse_accelerator("Ctrl+Alt+J")


async def test_no_portal_means_unavailable_with_why() -> None:
    portal = FakePortal(version=None)
    with pytest.raises(BackendUnavailable, match="no xdg-desktop-portal with GlobalShortcuts"):
        await PortalBackend.open(portal)
    assert portal.closed == [None]  # the bus connection is not left open


def test_preferred_trigger_uses_keysym_names() -> None:
    assert preferred_trigger(parse_accelerator("Ctrl+Up")) == "CTRL+Up"
    assert preferred_trigger(parse_accelerator("MediaPlayPause")) == "XF86AudioPlay"
    assert preferred_trigger(parse_accelerator("CmdOrCtrl+Ctrl+Period")) == "CTRL+period"


@pytest.mark.parametrize(
    ("platform", "env", "kind"),
    [
        ("win32", {}, "windows"),
        ("darwin", {}, "macos"),
        ("linux", {"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11"}, "x11"),
        ("linux", {"DISPLAY": ":0"}, "x11"),
        ("linux", {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "wayland"),
        ("linux", {"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"}, "wayland"),
        ("linux", {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "x11"}, "x11"),
        ("linux", {"XDG_SESSION_TYPE": "tty"}, "none"),
        ("freebsd14", {"DISPLAY": ":1"}, "x11"),
    ],
)
def test_detect_session(platform: str, env: dict[str, str], kind: str) -> None:
    assert detect_session(platform, env).kind == kind


class Made:
    def __init__(self) -> None:
        self.built: list[str] = []

    def factories(self, failing: str = "") -> BackendFactories:
        def make(name: str) -> Callable[..., ShortcutBackend]:
            def build(*_: object) -> ShortcutBackend:
                self.built.append(name)
                if name == failing:
                    raise BackendUnavailable(f"{name} cannot start")
                return UnavailableBackend(name)

            return build

        async def wayland() -> ShortcutBackend:
            return make("wayland")()

        made: Callable[[], Awaitable[ShortcutBackend]] = wayland
        return BackendFactories(make("x11"), made, make("windows"), make("macos"))


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("linux", {"DISPLAY": ":3"}, "x11"),
        ("linux", {"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, "wayland"),
        ("win32", {}, "windows"),
        ("darwin", {}, "macos"),
    ],
)
async def test_open_backend_builds_the_sessions_backend(platform: str, env: dict[str, str], expected: str) -> None:
    made = Made()
    backend = await open_backend(platform, env, made.factories())
    assert made.built == [expected] and isinstance(backend, UnavailableBackend) and backend.why == expected


async def test_open_backend_says_why_when_nothing_works() -> None:
    made = Made()
    backend = await open_backend("linux", {"WAYLAND_DISPLAY": "wayland-0"}, made.factories(failing="wayland"))
    assert isinstance(backend, UnavailableBackend)
    assert "Wayland session" in backend.why and "wayland cannot start" in backend.why
    headless = await open_backend("linux", {}, made.factories())
    assert isinstance(headless, UnavailableBackend) and "DISPLAY and WAYLAND_DISPLAY are unset" in headless.why
    result = await ShortcutService(headless).register("a", "Ctrl+Alt+K", lambda _: None)
    assert result.reason is FailureReason.UNSUPPORTED and "unset" in result.message


async def test_x11_backend_without_an_x_server_is_unavailable() -> None:
    backend = await open_backend("linux", {"DISPLAY": ":987"})
    assert isinstance(backend, UnavailableBackend) and "cannot connect to the X server" in backend.why


async def test_the_composition_root_gets_a_service_with_saved_bindings(tmp_path: Path) -> None:
    (tmp_path / "shortcuts.json").write_text('{"version": 1, "bindings": {"toggle-window": "Alt+Super+F9"}}')
    made = Made()
    service = await open_shortcut_service(tmp_path, made.factories())
    assert service.settings.load() == {"toggle-window": "Alt+Super+F9"}
    assert isinstance(service.backend, UnavailableBackend)


@pytest.mark.parametrize(
    ("event_type", "message", "expected"),
    [
        (b"windows_dispatcher_MSG", windows.WM_HOTKEY, 7),  # RegisterHotKey(NULL, ...): a thread message
        (b"windows_generic_MSG", windows.WM_HOTKEY, 7),  # a hot key bound to one of Qt's windows
        (b"windows_dispatcher_MSG", 0x0100, None),  # WM_KEYDOWN is not ours
        (b"xcb_generic_event_t", windows.WM_HOTKEY, None),
    ],
)
def test_the_native_event_filter_reads_wm_hotkey_from_the_dispatcher(
    event_type: bytes, message: int, expected: int | None
) -> None:
    from PySide6.QtCore import QByteArray  # noqa: PLC0415 - Qt only for this test
    from shiboken6 import Shiboken  # noqa: PLC0415

    msg = windows.MSG(hwnd=None, message=message, wParam=7, lParam=0x4B0006)
    seen: list[int] = []
    native_filter = windows.hot_key_filter(seen.append)
    handled = native_filter.nativeEventFilter(QByteArray(event_type), Shiboken.VoidPtr(ctypes.addressof(msg)))
    assert seen == ([] if expected is None else [expected])
    assert handled == (expected is not None, 0)


class FakeCarbonEvents:
    """``GetEventParameter`` and ``GetEventKind`` for one hot key event, as Carbon answers them."""

    def __init__(self, signature: int, hotkey_id: int, kind: int, status: int = 0) -> None:
        self.signature, self.hotkey_id, self.kind, self.status = signature, hotkey_id, kind, status

    def GetEventParameter(self, *args: Any) -> int:  # noqa: N802 - Carbon's name
        event, name, wanted_type, _actual_type, size, _actual_size, out = args
        assert (event, name, wanted_type, size) == ("event", macos._DIRECT_OBJECT, macos._TYPE_HOT_KEY_ID, 8)
        if self.status == 0:
            out._obj.signature, out._obj.id = self.signature, self.hotkey_id
        return self.status

    def GetEventKind(self, event: Any) -> int:  # noqa: N802
        return self.kind


@pytest.mark.parametrize(
    ("carbon", "status", "seen"),
    [
        (FakeCarbonEvents(macos.SIGNATURE, 3, 5), macos.NO_ERR, [(3, True)]),
        (FakeCarbonEvents(macos.SIGNATURE, 3, 6), macos.NO_ERR, [(3, False)]),
        (FakeCarbonEvents(int.from_bytes(b"Othr", "big"), 3, 5), macos.EVENT_NOT_HANDLED_ERR, []),
        (FakeCarbonEvents(macos.SIGNATURE, 3, 5, status=-9870), macos.EVENT_NOT_HANDLED_ERR, []),
    ],
)
def test_the_carbon_handler_passes_on_hot_keys_that_are_not_ours(
    carbon: FakeCarbonEvents, status: int, seen: list[tuple[int, bool]]
) -> None:
    calls: list[tuple[int, bool]] = []
    assert macos.handle_hot_key_event(carbon, "event", lambda *call: calls.append(call)) == status
    assert calls == seen


async def test_portal_startup_is_one_bind_with_a_result_per_action() -> None:
    portal = FakePortal()
    service = ShortcutService(await PortalBackend.open(portal), MemoryBindingSettings())
    left_out = f"{DEFAULT_ACTIONS[1].id}#2"

    async def answer_all_but_one(method: str, arguments: list[Any]) -> tuple[int, dict[str, Any]]:
        portal.requests.append((method, arguments))
        return 0, {"shortcuts": [(i, {"trigger_description": ""}) for i, _ in arguments[1] if i != left_out]}

    portal.request = answer_all_but_one  # type: ignore[method-assign]
    results = await service.bind_actions({spec.id: lambda _: None for spec in DEFAULT_ACTIONS})
    [(method, arguments)] = portal.requests[1:]
    assert method == "BindShortcuts" and len(arguments[1]) == len(DEFAULT_ACTIONS)
    assert [r.ok for r in results] == [True, False, True, True]
    assert results[1].reason is FailureReason.DENIED and "left this shortcut out" in results[1].message


async def test_a_batch_request_that_breaks_refuses_each_action_with_a_reason() -> None:
    portal = FakePortal()
    service = ShortcutService(await PortalBackend.open(portal), MemoryBindingSettings())

    async def lost(method: str, arguments: list[Any]) -> tuple[int, dict[str, Any]]:
        raise ConnectionResetError("the session bus went away")

    portal.request = lost  # type: ignore[method-assign]
    results = await service.bind_actions({spec.id: lambda _: None for spec in DEFAULT_ACTIONS})
    assert {(r.reason, "session bus went away" in r.message) for r in results} == {(FailureReason.UNSUPPORTED, True)}
    assert service.list() == []
