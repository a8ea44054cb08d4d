"""The global shortcut service: bindings by id, concrete failure reasons, triggers with auto-repeat dropped.

Plain asyncio; the platform lives behind a :class:`ShortcutBackend`. The composition root builds one service with
its backend and settings and hands it the app's actions (:meth:`ShortcutService.bind_actions`).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import itertools
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.shortcuts.accelerator import Accelerator, AcceleratorError, needs_modifier, parse_accelerator
from app.shortcuts.actions import DEFAULT_ACTIONS, ShortcutAction
from app.shortcuts.backend import BatchGrabbing, FailureReason, GrabRefused, GrabResult, Phase, ShortcutBackend
from app.shortcuts.settings import BindingSettings, MemoryBindingSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trigger:
    id: str
    phase: Phase
    at: float
    """``time.monotonic()`` when the service received the event."""


Action = Callable[[Trigger], None]
TriggerListener = Callable[[Trigger], None]


@dataclass(frozen=True)
class Binding:
    id: str
    accelerator: Accelerator
    receive_key_ups: bool = False
    description: str = ""


@dataclass(frozen=True)
class RegistrationResult:
    id: str
    ok: bool
    accelerator: Accelerator | None
    reason: FailureReason | None = None
    message: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ok": self.ok,
            "accelerator": self.accelerator.canonical() if self.accelerator else None,
            "reason": self.reason.value if self.reason else None,
            "message": self.message,
        }


@dataclass
class _Active:
    binding: Binding
    action: Action
    token: str
    down: bool = False


_Request = tuple[Binding, Action, "_Active | None"]
"""A binding to grab, its action, and the active binding it replaces (when rebinding)."""


@dataclass(frozen=True)
class _Known:
    """An app action the service may (re)bind, active or not."""

    action: Action
    spec: ShortcutAction


class ShortcutService:
    def __init__(
        self,
        backend: ShortcutBackend,
        settings: BindingSettings | None = None,
        catalogue: tuple[ShortcutAction, ...] = DEFAULT_ACTIONS,
        clock: Callable[[], float] = time.monotonic,
        platform: str = sys.platform,
    ) -> None:
        self.backend = backend
        self.platform = platform
        """Decides which accelerators are the same keys (``CmdOrCtrl+K`` is ``Ctrl+K`` except on macOS)."""
        self.settings = settings if settings is not None else MemoryBindingSettings()
        self.catalogue = {spec.id: spec for spec in catalogue}
        self._clock = clock
        self._active: dict[str, _Active] = {}
        self._by_token: dict[str, _Active] = {}
        self._known: dict[str, _Known] = {}
        self._listeners: list[TriggerListener] = []
        self._tokens = itertools.count(1)
        self._locks: dict[str, asyncio.Lock] = {}
        """One lock per id: a grab that waits on the user (a portal dialog, up to minutes) holds only its own id."""
        self._pending: dict[Accelerator, str] = {}
        """Combinations being grabbed right now, by id, so two ids cannot race for the same one."""
        backend.listen(self._on_key)

    # -- registering ---------------------------------------------------------------------------------------------

    async def register(
        self,
        id: str,
        accelerator: Accelerator | str,
        action: Action,
        receive_key_ups: bool = False,
        description: str = "",
    ) -> RegistrationResult:
        async with self._lock(id):
            parsed = _parse(id, accelerator)
            if isinstance(parsed, RegistrationResult):
                return parsed
            if id in self._active:
                return self._duplicate(id, parsed)
            binding = Binding(id, parsed, receive_key_ups, description)
            return await self._grab(binding, action)

    async def rebind(self, id: str, accelerator: Accelerator | str | None) -> RegistrationResult:
        """Move an app action (or any active binding) to a new accelerator, or turn it off with ``None``.

        The new combination is grabbed before the old one is released, so a refusal leaves the old binding working.
        App actions are saved to the settings when the change succeeds.
        """
        async with self._lock(id):
            current = self._active.get(id)
            known = self._known.get(id)
            if current is None and known is None:
                return _refused(id, None, FailureReason.INVALID, f"there is no shortcut action '{id}' to rebind")
            if accelerator is None:
                if current is not None:
                    await self._release(current)
                return self._saved(RegistrationResult(id, True, None, message="turned off"), None)
            parsed = _parse(id, accelerator)
            if isinstance(parsed, RegistrationResult):
                return parsed
            if current is not None and current.binding.accelerator == parsed:
                return self._saved(RegistrationResult(id, True, parsed, message="unchanged"), parsed)
            if current is not None and self._same_keys(current.binding.accelerator, parsed):
                # the grab already held is these keys: grabbing them again would clash with ourselves
                current.binding = Binding(id, parsed, current.binding.receive_key_ups, current.binding.description)
                return self._saved(RegistrationResult(id, True, parsed, message="same keys as before"), parsed)
            if current is not None:
                binding = Binding(id, parsed, current.binding.receive_key_ups, current.binding.description)
                action = current.action
            else:
                assert known is not None
                binding = Binding(id, parsed, known.spec.receive_key_ups, known.spec.description)
                action = known.action
            result = await self._grab(binding, action, replacing=current)
            return self._saved(result, parsed) if result.ok else result

    async def reset(self, id: str) -> RegistrationResult:
        spec = self.catalogue.get(id)
        if spec is None:
            return _refused(id, None, FailureReason.INVALID, f"'{id}' has no default shortcut")
        return await self.rebind(id, spec.default)

    async def bind_actions(self, actions: Mapping[str, Action]) -> list[RegistrationResult]:
        """Register the app's actions with the user's saved accelerators (or the defaults), in one backend request
        where the backend batches (one portal dialog for all of them).

        Never raises for a shortcut that cannot be had: each result says what happened, for the UI to show.
        """
        saved = self.settings.load()
        results: dict[str, RegistrationResult] = {}
        requests: list[_Request] = []
        for action_id, action in actions.items():
            spec = self.catalogue.get(action_id)
            if spec is None:
                results[action_id] = _refused(action_id, None, FailureReason.INVALID, f"unknown action '{action_id}'")
                continue
            self._known[action_id] = _Known(action, spec)
            wanted = saved.get(action_id, spec.default)
            if wanted is None:
                results[action_id] = RegistrationResult(action_id, True, None, message="turned off")
                continue
            parsed = _parse(action_id, wanted)
            if isinstance(parsed, RegistrationResult):
                results[action_id] = parsed
                continue
            requests.append((Binding(action_id, parsed, spec.receive_key_ups, spec.description), action, None))
        async with contextlib.AsyncExitStack() as locks:
            for binding, _, _ in requests:
                await locks.enter_async_context(self._lock(binding.id))
            grabbing = []
            for request in requests:
                binding = request[0]
                if binding.id in self._active:
                    results[binding.id] = self._duplicate(binding.id, binding.accelerator)
                else:
                    grabbing.append(request)
            for result in await self._grab_all(grabbing):
                results[result.id] = result
        for action_id, result in results.items():
            if result.ok:
                continue
            if action_id in saved and result.reason is FailureReason.INVALID:
                message = f"saved shortcut {saved[action_id]!r} unusable: {result.message}"
                results[action_id] = _refused(action_id, None, FailureReason.INVALID, message)
            log.warning("shortcut %s not registered: %s", action_id, results[action_id].message)
        return [results[action_id] for action_id in actions]

    async def unregister(self, id: str) -> bool:
        async with self._lock(id):
            active = self._active.get(id)
            if active is None:
                return False
            await self._release(active)
            return True

    async def unregister_all(self) -> None:
        for id in list(self._active):
            await self.unregister(id)

    async def close(self) -> None:
        await self.unregister_all()
        await self.backend.close()

    def list(self) -> list[Binding]:
        return [active.binding for active in self._active.values()]

    def accelerator_of(self, id: str) -> Accelerator | None:
        active = self._active.get(id)
        return active.binding.accelerator if active else None

    # -- triggers ------------------------------------------------------------------------------------------------

    def subscribe(self, listener: TriggerListener) -> Callable[[], None]:
        """Every trigger the service passes to an action also goes to ``listener``; call the result to stop."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _on_key(self, token: str, phase: Phase) -> None:
        active = self._by_token.get(token)
        if active is None:
            return
        if phase is Phase.DOWN:
            if active.down:  # the platform's auto-repeat, or a second press report
                return
            active.down = True
        else:
            if not active.down:
                return
            active.down = False
            if not active.binding.receive_key_ups:
                return
        trigger = Trigger(active.binding.id, phase, self._clock())
        for callback in (active.action, *self._listeners):
            try:
                callback(trigger)
            except Exception:
                log.exception("shortcut %s: the %s handler failed", trigger.id, phase.value)

    # -- internals -----------------------------------------------------------------------------------------------

    def _lock(self, id: str) -> asyncio.Lock:
        return self._locks.setdefault(id, asyncio.Lock())

    async def _grab(self, binding: Binding, action: Action, replacing: _Active | None = None) -> RegistrationResult:
        [result] = await self._grab_all([(binding, action, replacing)])
        return result

    async def _grab_all(self, requests: Sequence[_Request]) -> Sequence[RegistrationResult]:
        """Grab each binding (the caller holds their ids' locks); a refused one leaves what it would replace."""
        results: dict[str, RegistrationResult] = {}
        grabs: builtins.list[tuple[str, _Request]] = []
        for binding, action, replacing in requests:
            holder = self._holder_of(binding.accelerator, replacing)
            if holder is not None:
                results[binding.id] = _refused(
                    binding.id,
                    binding.accelerator,
                    FailureReason.CONFLICT,
                    f"{binding.accelerator.familiar()} is already used by '{holder}' in this app",
                )
                continue
            grabs.append((f"{binding.id}#{next(self._tokens)}", (binding, action, replacing)))
            self._pending[binding.accelerator] = binding.id
        try:
            grabbed = await self._backend_grab([(token, request[0]) for token, request in grabs])
        finally:
            for _, (binding, _, _) in grabs:
                self._pending.pop(binding.accelerator, None)
        for token, (binding, action, replacing) in grabs:
            outcome = grabbed[token]
            if isinstance(outcome, RegistrationResult):
                results[binding.id] = outcome
            else:
                results[binding.id] = await self._activate(binding, action, token, outcome, replacing)
        return [results[binding.id] for binding, _, _ in requests]

    async def _backend_grab(self, grabs: Sequence[tuple[str, Binding]]) -> dict[str, GrabResult | RegistrationResult]:
        """Each token's grab, or its refusal as a result (an unexpected backend error too, with a closed reason)."""
        if len(grabs) > 1 and isinstance(self.backend, BatchGrabbing):
            try:
                answers = await self.backend.grab_many([(token, binding.accelerator) for token, binding in grabs])
            except Exception as failure:
                return {token: self._refusal(binding, failure) for token, binding in grabs}
            unanswered = GrabRefused(FailureReason.UNSUPPORTED, f"the {self.backend.name} backend did not answer")
            outcome: dict[str, GrabResult | RegistrationResult] = {}
            for token, binding in grabs:
                answer = answers.get(token, unanswered)
                outcome[token] = self._refusal(binding, answer) if isinstance(answer, GrabRefused) else answer
            return outcome
        outcome = {}
        for token, binding in grabs:
            try:
                outcome[token] = await self.backend.grab(token, binding.accelerator)
            except Exception as failure:  # a refusal, or a lost bus or X connection, a timeout, an OS error
                outcome[token] = self._refusal(binding, failure)
        return outcome

    def _refusal(self, binding: Binding, failure: Exception) -> RegistrationResult:
        if isinstance(failure, GrabRefused):
            return _refused(binding.id, binding.accelerator, failure.reason, failure.message)
        reason, message = backend_failure(self.backend.name, binding.accelerator, failure)
        # once, as one line (a command's stderr shows no traceback); the traceback when debugging
        log.warning("shortcut %s: %s", binding.id, message, exc_info=log.isEnabledFor(logging.DEBUG))
        return _refused(binding.id, binding.accelerator, reason, message)

    async def _activate(
        self, binding: Binding, action: Action, token: str, grabbed: GrabResult, replacing: _Active | None
    ) -> RegistrationResult:
        if grabbed.actual is not None and grabbed.actual != binding.accelerator:
            binding = Binding(binding.id, grabbed.actual, binding.receive_key_ups, binding.description)
        if replacing is not None:
            await self._release(replacing)
        active = _Active(binding, action, token)
        self._active[binding.id] = active
        self._by_token[token] = active
        return RegistrationResult(binding.id, True, binding.accelerator, message=f"registered with {self.backend.name}")

    def _duplicate(self, id: str, accelerator: Accelerator) -> RegistrationResult:
        held = self._active[id].binding.accelerator
        return _refused(
            id,
            accelerator,
            FailureReason.DUPLICATE_ID,
            f"'{id}' is already bound to {held.familiar()}; rebind or unregister it first",
        )

    def _holder_of(self, accelerator: Accelerator, replacing: _Active | None) -> str | None:
        """The id in this app that has (or is getting) ``accelerator``, other than the binding being replaced."""
        for other in self._active.values():
            if other is not replacing and self._same_keys(other.binding.accelerator, accelerator):
                return other.binding.id
        return next((id for held, id in self._pending.items() if self._same_keys(held, accelerator)), None)

    def _same_keys(self, one: Accelerator, other: Accelerator) -> bool:
        return one.on_platform(self.platform) == other.on_platform(self.platform)

    async def _release(self, active: _Active) -> None:
        self._active.pop(active.binding.id, None)
        self._by_token.pop(active.token, None)
        try:
            await self.backend.release(active.token)
        except Exception:  # the binding is gone for the app either way; a dead connection holds no grab
            log.warning(
                "shortcut %s: the %s backend failed to release it",
                active.binding.id,
                self.backend.name,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )

    def _saved(self, result: RegistrationResult, accelerator: Accelerator | None) -> RegistrationResult:
        if result.id not in self.catalogue:
            return result
        bindings = self.settings.load()
        bindings[result.id] = accelerator.canonical() if accelerator else None
        try:
            self.settings.save(bindings)
        except Exception as error:
            return RegistrationResult(
                result.id, result.ok, result.accelerator, result.reason, f"{result.message}; not saved: {error}"
            )
        return result


def backend_failure(backend: str, accelerator: Accelerator, failure: Exception) -> tuple[FailureReason, str]:
    """An unexpected backend error as a reason of the closed set, with a message that says what failed.

    The system saying no (a permission error, a D-Bus ``AccessDenied``, no answer from a dialog in time) is
    ``denied``; anything else (a lost connection, an OS or library error) means the backend cannot do it here.
    """
    what = f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
    dbus_error = getattr(failure, "name", None)
    name = accelerator.familiar()
    if isinstance(failure, PermissionError) or dbus_error == "org.freedesktop.DBus.Error.AccessDenied":
        return FailureReason.DENIED, f"the system refused {name} ({backend} backend: {what})"
    if isinstance(failure, TimeoutError):
        return FailureReason.DENIED, f"no answer in time for {name} ({backend} backend: {what})"
    return FailureReason.UNSUPPORTED, f"the {backend} backend failed to register {name} ({what})"


def _parse(id: str, accelerator: Accelerator | str) -> Accelerator | RegistrationResult:
    if not id.strip():
        return _refused(id, None, FailureReason.INVALID, "a shortcut needs an id")
    try:
        if isinstance(accelerator, str):
            return parse_accelerator(accelerator)
        if needs_modifier(accelerator):
            return _refused(id, accelerator, FailureReason.INVALID, f"{accelerator.familiar()} needs a modifier")
        return accelerator
    except AcceleratorError as error:
        return _refused(id, None, FailureReason.INVALID, error.message)


def _refused(id: str, accelerator: Accelerator | None, reason: FailureReason, message: str) -> RegistrationResult:
    return RegistrationResult(id, False, accelerator, reason, message)
