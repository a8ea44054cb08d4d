"""The shortcut service's logic against a fake backend: reasons, duplicates, rebinding, persistence, defaults."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from app.shortcuts.accelerator import Accelerator, parse_accelerator
from app.shortcuts.actions import DEFAULT_ACTIONS, NEXT_AVATAR, STOP_SPEAKING, TOGGLE_WINDOW
from app.shortcuts.backend import FailureReason, Phase, UnavailableBackend
from app.shortcuts.service import ShortcutService, Trigger
from app.shortcuts.settings import JsonBindingSettings, MemoryBindingSettings
from tests.unit.shortcuts.fake_backend import FakeBackend

CTRL_ALT_K = parse_accelerator("Ctrl+Alt+K")
CTRL_ALT_J = parse_accelerator("Ctrl+Alt+J")


class Recorder:
    def __init__(self) -> None:
        self.triggers: list[Trigger] = []

    def __call__(self, trigger: Trigger) -> None:
        self.triggers.append(trigger)

    def phases(self) -> list[tuple[str, str]]:
        return [(t.id, t.phase.value) for t in self.triggers]


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def service(backend: FakeBackend) -> ShortcutService:
    return ShortcutService(backend)


async def test_register_grabs_and_a_press_triggers_once_despite_auto_repeat(
    service: ShortcutService, backend: FakeBackend
) -> None:
    action = Recorder()
    result = await service.register("greet", "Ctrl+Alt+K", action)
    assert result.ok and result.accelerator == CTRL_ALT_K and result.reason is None
    assert backend.held() == {CTRL_ALT_K}
    for _ in range(3):
        backend.press(CTRL_ALT_K, Phase.DOWN)
    backend.press(CTRL_ALT_K, Phase.UP)
    backend.press(CTRL_ALT_K, Phase.DOWN)
    assert action.phases() == [("greet", "down"), ("greet", "down")]


async def test_key_ups_only_for_bindings_that_ask(service: ShortcutService, backend: FakeBackend) -> None:
    talk, greet = Recorder(), Recorder()
    await service.register("ptt", "Ctrl+Alt+K", talk, receive_key_ups=True)
    await service.register("greet", "Ctrl+Alt+J", greet)
    for accelerator in (CTRL_ALT_K, CTRL_ALT_J):
        backend.press(accelerator, Phase.DOWN)
        backend.press(accelerator, Phase.UP)
    backend.press(CTRL_ALT_K, Phase.UP)  # an up without a down is not a release of ours
    assert talk.phases() == [("ptt", "down"), ("ptt", "up")]
    assert greet.phases() == [("greet", "down")]


async def test_invalid_accelerators_say_why(service: ShortcutService, backend: FakeBackend) -> None:
    result = await service.register("x", "Ctrl+Hyper", Recorder())
    assert not result.ok and result.reason is FailureReason.INVALID and "'Hyper'" in result.message
    bare = await service.register("y", Accelerator.of("KeyK"), Recorder())
    assert bare.reason is FailureReason.INVALID and "needs a modifier" in bare.message
    nameless = await service.register(" ", "Ctrl+Alt+K", Recorder())
    assert nameless.reason is FailureReason.INVALID
    assert backend.held() == set()


async def test_duplicate_id_is_refused_and_the_first_binding_stays(
    service: ShortcutService, backend: FakeBackend
) -> None:
    first = Recorder()
    await service.register("greet", "Ctrl+Alt+K", first)
    again = await service.register("greet", "Ctrl+Alt+J", Recorder())
    assert again.reason is FailureReason.DUPLICATE_ID and "Ctrl+Alt+K" in again.message
    assert backend.held() == {CTRL_ALT_K}
    assert [b.accelerator for b in service.list()] == [CTRL_ALT_K]


async def test_the_same_combination_under_two_ids_is_a_conflict_inside_the_app(service: ShortcutService) -> None:
    await service.register("one", "Ctrl+Alt+K", Recorder())
    second = await service.register("two", "Alt+Control+k", Recorder())
    assert second.reason is FailureReason.CONFLICT and "'one'" in second.message


@pytest.mark.parametrize("reason", list(FailureReason))
async def test_backend_refusals_pass_through_with_their_message(
    service: ShortcutService, backend: FakeBackend, reason: FailureReason
) -> None:
    backend.refuse[CTRL_ALT_K] = (reason, "the system said no")
    result = await service.register("greet", "Ctrl+Alt+K", Recorder())
    assert (result.ok, result.reason, result.message) == (False, reason, "the system said no")
    assert service.list() == []


async def test_unsupported_backend_says_why() -> None:
    service = ShortcutService(UnavailableBackend("no X server and no portal"))
    result = await service.register("greet", "Ctrl+Alt+K", Recorder())
    assert result.reason is FailureReason.UNSUPPORTED and result.message == "no X server and no portal"


async def test_unregister_and_unregister_all_release_grabs(service: ShortcutService, backend: FakeBackend) -> None:
    action = Recorder()
    await service.register("one", "Ctrl+Alt+K", action)
    await service.register("two", "Ctrl+Alt+J", action)
    assert await service.unregister("one")
    assert not await service.unregister("one")
    backend.press(CTRL_ALT_K)
    assert action.triggers == [] and backend.held() == {CTRL_ALT_J}
    await service.unregister_all()
    assert service.list() == [] and backend.held() == set()
    assert (await service.register("one", "Ctrl+Alt+K", action)).ok  # the id is free again


async def test_rebinding_grabs_the_new_one_first_and_keeps_the_old_one_on_failure(
    service: ShortcutService, backend: FakeBackend
) -> None:
    action = Recorder()
    await service.register("greet", "Ctrl+Alt+K", action)
    backend.refuse[CTRL_ALT_J] = (FailureReason.CONFLICT, "taken by another application")
    failed = await service.rebind("greet", "Ctrl+Alt+J")
    assert failed.reason is FailureReason.CONFLICT
    assert backend.held() == {CTRL_ALT_K} and service.accelerator_of("greet") == CTRL_ALT_K
    backend.press(CTRL_ALT_K)
    assert action.phases() == [("greet", "down")]

    del backend.refuse[CTRL_ALT_J]
    moved = await service.rebind("greet", "Ctrl+Alt+J")
    assert moved.ok and backend.held() == {CTRL_ALT_J}
    backend.press(CTRL_ALT_K, Phase.UP)  # the old grab's events no longer reach the action
    backend.press(CTRL_ALT_J)
    assert action.phases() == [("greet", "down"), ("greet", "down")]


async def test_rebind_of_nothing_and_to_garbage(service: ShortcutService, backend: FakeBackend) -> None:
    assert (await service.rebind("nothing", "Ctrl+Alt+K")).reason is FailureReason.INVALID
    await service.register("greet", "Ctrl+Alt+K", Recorder())
    assert (await service.rebind("greet", "Ctrl+")).reason is FailureReason.INVALID
    assert backend.held() == {CTRL_ALT_K}


async def test_a_substituted_accelerator_is_what_the_binding_shows(
    service: ShortcutService, backend: FakeBackend
) -> None:
    backend.substitute[CTRL_ALT_K] = CTRL_ALT_J
    result = await service.register("greet", "Ctrl+Alt+K", Recorder())
    assert result.accelerator == CTRL_ALT_J and service.accelerator_of("greet") == CTRL_ALT_J


async def test_a_failing_action_does_not_stop_other_listeners(service: ShortcutService, backend: FakeBackend) -> None:
    def broken(trigger: Trigger) -> None:
        raise RuntimeError("boom")

    log = Recorder()
    service.subscribe(log)
    await service.register("greet", "Ctrl+Alt+K", broken)
    backend.press(CTRL_ALT_K)
    assert log.phases() == [("greet", "down")]


async def test_defaults_register_and_a_failing_default_is_reported_not_fatal(backend: FakeBackend) -> None:
    taken = parse_accelerator(next(a.default for a in DEFAULT_ACTIONS if a.id == STOP_SPEAKING))
    backend.refuse[taken] = (FailureReason.CONFLICT, "held by another application")
    service = ShortcutService(backend, MemoryBindingSettings())
    toggled = Recorder()
    results = await service.bind_actions({spec.id: toggled for spec in DEFAULT_ACTIONS})
    by_id = {r.id: r for r in results}
    assert [r.id for r in results] == [spec.id for spec in DEFAULT_ACTIONS]
    assert by_id[STOP_SPEAKING].reason is FailureReason.CONFLICT
    assert all(r.ok for r in results if r.id != STOP_SPEAKING)
    assert len(backend.held()) == len(DEFAULT_ACTIONS) - 1
    # the failed default can be rebound from the settings page, and that choice is saved
    other = await service.rebind(STOP_SPEAKING, "Ctrl+Alt+Shift+Escape")
    assert other.ok and service.settings.load()[STOP_SPEAKING] == "Ctrl+Alt+Shift+Escape"


async def test_defaults_are_distinct_and_valid() -> None:
    defaults = [parse_accelerator(spec.default) for spec in DEFAULT_ACTIONS]
    assert len(set(defaults)) == len(defaults)
    assert all(a.canonical() == spec.default for a, spec in zip(defaults, DEFAULT_ACTIONS, strict=True))


async def test_rebinding_persists_through_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "shortcuts.json"
    first = ShortcutService(FakeBackend(), JsonBindingSettings(path))
    await first.bind_actions({TOGGLE_WINDOW: Recorder(), NEXT_AVATAR: Recorder()})
    assert (await first.rebind(TOGGLE_WINDOW, "Alt+Super+F9")).ok
    assert (await first.rebind(NEXT_AVATAR, None)).ok
    await first.close()
    saved = json.loads(path.read_text())
    assert saved == {"version": 1, "bindings": {TOGGLE_WINDOW: "Alt+Super+F9", NEXT_AVATAR: None}}
    assert not list(tmp_path.glob(".shortcuts-*"))  # no temporary file left behind

    backend = FakeBackend()
    second = ShortcutService(backend, JsonBindingSettings(path))
    results = await second.bind_actions({TOGGLE_WINDOW: Recorder(), NEXT_AVATAR: Recorder()})
    assert [(r.id, r.ok, r.accelerator) for r in results] == [
        (TOGGLE_WINDOW, True, parse_accelerator("Alt+Super+F9")),
        (NEXT_AVATAR, True, None),
    ]
    assert backend.held() == {parse_accelerator("Alt+Super+F9")}
    assert (await second.reset(NEXT_AVATAR)).ok
    assert json.loads(path.read_text())["bindings"][NEXT_AVATAR] == "CmdOrCtrl+Alt+Shift+KeyN"


async def test_a_saved_shortcut_that_no_longer_parses_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "shortcuts.json"
    path.write_text(json.dumps({"version": 1, "bindings": {TOGGLE_WINDOW: "Ctrl+Hyper"}}))
    service = ShortcutService(FakeBackend(), JsonBindingSettings(path))
    [result] = await service.bind_actions({TOGGLE_WINDOW: Recorder()})
    assert result.reason is FailureReason.INVALID and "saved shortcut 'Ctrl+Hyper'" in result.message


async def test_a_saved_shortcut_the_platform_cannot_express_is_reported_as_saved(tmp_path: Path) -> None:
    backend = FakeBackend()
    backend.refuse[parse_accelerator("Ctrl+Alt+F13")] = (FailureReason.INVALID, "no key code for F13 here")
    service = ShortcutService(backend, MemoryBindingSettings({TOGGLE_WINDOW: "Ctrl+Alt+F13"}))
    [result] = await service.bind_actions({TOGGLE_WINDOW: Recorder()})
    assert result.reason is FailureReason.INVALID
    assert result.message == "saved shortcut 'Ctrl+Alt+F13' unusable: no key code for F13 here"


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"version": 1, "bindings": 3}', "\xff\xfe"])
def test_a_damaged_settings_file_is_set_aside(tmp_path: Path, content: str) -> None:
    path = tmp_path / "shortcuts.json"
    path.write_bytes(content.encode("latin-1"))
    settings = JsonBindingSettings(path)
    assert settings.load() == {}
    assert not path.exists() and (tmp_path / "shortcuts.json.damaged").read_bytes() == content.encode("latin-1")
    settings.save({TOGGLE_WINDOW: "Ctrl+Alt+KeyK"})
    assert settings.load() == {TOGGLE_WINDOW: "Ctrl+Alt+KeyK"}


async def test_a_newer_settings_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "shortcuts.json"
    newer = json.dumps({"version": 99, "bindings": {TOGGLE_WINDOW: "Ctrl+Alt+KeyK"}})
    path.write_text(newer)
    service = ShortcutService(FakeBackend(), JsonBindingSettings(path))
    [result] = await service.bind_actions({TOGGLE_WINDOW: Recorder()})
    assert result.ok and result.accelerator == parse_accelerator(DEFAULT_ACTIONS[0].default)
    rebound = await service.rebind(TOGGLE_WINDOW, "Ctrl+Alt+F2")
    assert rebound.ok and "not saved" in rebound.message and "newer version" in rebound.message
    assert path.read_text() == newer


def _dbus_error(name: str, text: str) -> Exception:
    """The error jeepney raises for a D-Bus error reply, built from a real error message."""
    from jeepney import DBusAddress, new_error, new_method_call  # noqa: PLC0415 - Linux-only dependency
    from jeepney.wrappers import DBusErrorResponse  # noqa: PLC0415

    call = new_method_call(DBusAddress("/org/freedesktop/portal/desktop", "org.freedesktop.portal.Desktop"), "Ping")
    error: Exception = DBusErrorResponse(new_error(call, name, "s", (text,)))
    return error


@pytest.mark.parametrize(
    ("failure", "reason", "said"),
    [
        (_dbus_error("org.freedesktop.DBus.Error.ServiceUnknown", "no portal"), FailureReason.UNSUPPORTED, "no portal"),
        (_dbus_error("org.freedesktop.DBus.Error.AccessDenied", "sandboxed"), FailureReason.DENIED, "sandboxed"),
        (TimeoutError("the portal did not answer BindShortcuts within 300 s"), FailureReason.DENIED, "300 s"),
        (ConnectionResetError("the bus connection was lost"), FailureReason.UNSUPPORTED, "connection was lost"),
        (RuntimeError("Windows hot keys need the Qt application"), FailureReason.UNSUPPORTED, "Qt application"),
        (OSError(5, "Input/output error"), FailureReason.UNSUPPORTED, "Input/output error"),
        (PermissionError(1, "Operation not permitted"), FailureReason.DENIED, "not permitted"),
    ],
)
async def test_an_unexpected_backend_error_is_a_reason_and_later_defaults_still_register(
    backend: FakeBackend, failure: Exception, reason: FailureReason, said: str, caplog: pytest.LogCaptureFixture
) -> None:
    first = parse_accelerator(DEFAULT_ACTIONS[0].default)
    backend.crash[first] = failure
    service = ShortcutService(backend, MemoryBindingSettings())
    results = await service.bind_actions({spec.id: Recorder() for spec in DEFAULT_ACTIONS})
    assert [r.id for r in results] == [spec.id for spec in DEFAULT_ACTIONS]
    assert results[0].reason is reason and said in results[0].message and type(failure).__name__ in results[0].message
    assert all(r.ok for r in results[1:]) and len(backend.held()) == len(DEFAULT_ACTIONS) - 1
    assert [r.getMessage() for r in caplog.records if r.funcName == "_refusal"] == [
        f"shortcut {results[0].id}: {results[0].message}"
    ]


async def test_a_failing_release_still_unregisters(service: ShortcutService, backend: FakeBackend) -> None:
    await service.register("a", "Ctrl+Alt+K", Recorder())
    await service.register("b", "Ctrl+Alt+J", Recorder())
    backend.crash_on_release = ConnectionResetError("the X connection was lost")
    await service.unregister_all()
    assert service.list() == []
    backend.crash_on_release = None
    assert (await service.register("a", "Ctrl+Alt+K", Recorder())).ok


async def test_a_grab_waiting_on_the_user_does_not_hold_up_other_ids(
    service: ShortcutService, backend: FakeBackend
) -> None:
    await service.register("other", "Ctrl+Alt+J", Recorder())
    dialog = backend.hold[CTRL_ALT_K] = asyncio.Event()
    waiting = asyncio.ensure_future(service.register("slow", CTRL_ALT_K, Recorder()))
    await asyncio.sleep(0)
    assert await asyncio.wait_for(service.unregister("other"), 1)
    assert (await asyncio.wait_for(service.register("third", "Ctrl+Alt+L", Recorder()), 1)).ok
    racing = await asyncio.wait_for(service.register("racer", CTRL_ALT_K, Recorder()), 1)
    assert racing.reason is FailureReason.CONFLICT and "'slow'" in racing.message
    assert not waiting.done()
    dialog.set()
    assert (await waiting).ok and service.accelerator_of("slow") == CTRL_ALT_K


@pytest.mark.parametrize(("platform", "same"), [("linux", "Ctrl+K"), ("win32", "Ctrl+K"), ("darwin", "Cmd+K")])
async def test_rebinding_to_the_same_keys_spelled_otherwise_succeeds(
    backend: FakeBackend, platform: str, same: str
) -> None:
    service = ShortcutService(backend, MemoryBindingSettings(), platform=platform)
    await service.bind_actions({TOGGLE_WINDOW: Recorder()})
    assert (await service.rebind(TOGGLE_WINDOW, "CmdOrCtrl+K")).ok
    held = dict(backend.grabs)
    moved = await service.rebind(TOGGLE_WINDOW, same)
    assert moved.ok and moved.accelerator == parse_accelerator(same)
    assert service.accelerator_of(TOGGLE_WINDOW) == parse_accelerator(same) and backend.grabs == held
    assert service.settings.load()[TOGGLE_WINDOW] == parse_accelerator(same).canonical()
    other = await service.register("other", "CmdOrCtrl+K", Recorder())
    assert other.reason is FailureReason.CONFLICT and f"'{TOGGLE_WINDOW}' in this app" in other.message
