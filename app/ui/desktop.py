"""The desktop app's Qt side, put together: the tamagotchi window (with the embedded stage when it runs there), the
tray, the settings and devtools windows, and the global shortcuts bound to real actions.

Built by :func:`app.main.run_gui`; everything it uses comes from the plain services in ``app/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QTabWidget, QWidget

from app.config.model import Settings
from app.config.service import Changed, SettingsBindingStore, SettingsService
from app.config.store import SettingsStore
from app.devtools.envelope_log import EnvelopeLog
from app.main import AppOptions, ManagedStage, build_stage_runtime, open_library
from app.shortcuts.actions import NEXT_AVATAR, SPEAK_CLIPBOARD, STOP_SPEAKING, TOGGLE_WINDOW
from app.shortcuts.backend import Phase
from app.shortcuts.select import open_shortcut_service
from app.shortcuts.service import RegistrationResult, ShortcutService, Trigger
from app.speech.hooks import SpeakerHooks
from app.speech.keys import LANGUAGE_MODEL_KEY, LANGUAGE_MODEL_KEY_ENV
from app.speech.providers import SpeechSettings as SpeechProviderSettings
from app.speech_link import SpeakerLink, SpeechLink
from app.stage_service import ApplyError, StageService
from app.ui.app_icon import app_icon
from app.ui.bridge_inspector import BridgeInspector
from app.ui.models_page import ModelsPage
from app.ui.native_stage import NativeStageEmbedder, WindowFinder, X11WindowFinder
from app.ui.settings_watcher import SettingsFileWatcher
from app.ui.settings_window import GodotDetector, SettingsWindow, base_versions
from app.ui.shortcut_settings import ShortcutSettingsPage
from app.ui.shortcuts_devtool import ShortcutsDevtool
from app.ui.stage_glue import StageGlue, WindowMover, X11WindowMover
from app.ui.tamagotchi_window import TamagotchiWindow
from app.ui.tray import TrayActions, TrayMenu, make_tray, tray_available
from app.ui.web_stage_host import host_command, web_engine_available
from app.version import app_version
from godot_bridge.sidecar.attach import AttachLauncher
from godot_bridge.sidecar.manager import SidecarState

if TYPE_CHECKING:
    import httpx

    from app.lipsync.auto_calibration import VoiceCalibrator
    from app.lipsync.service import LipSyncService
    from app.lipsync.timing import CueTiming
    from app.speech.service import SpeechService
    from app.ui.provider_settings import ProviderSettings

log = logging.getLogger("app.ui")

AUTO_CALIBRATION_FOLLOWS = frozenset({"lip_sync.auto_calibrate", "lip_sync.calibration_language"})
AUTO_CALIBRATION_DELAY_S = 5.0
"""After the window shows, before a new voice is calibrated by itself: the app starts (and its stage) first."""


class DesktopApp:
    def __init__(
        self,
        options: AppOptions,
        *,
        settings: SettingsService,
        stage_service: StageService,
        stage: ManagedStage | None,
        speech: SpeechLink,
        window: TamagotchiWindow,
        quit_requested: asyncio.Event,
        command_line: AppOptions | None = None,
    ) -> None:
        self.options = options
        self.command_line = command_line or options
        """What the command line asked for, before the settings filled the rest in: a restart starts from it again."""
        self._stage_settings_at_start = settings.settings.stage
        self._restarting = asyncio.Lock()
        self.settings = settings
        self.stage_service = stage_service
        self.stage = stage
        self.speech = speech
        self.window = window
        self.quit_requested = quit_requested
        self.shortcuts: ShortcutService | None = None
        self.speech_service: SpeechService | None = None
        self.lipsync: LipSyncService | None = None
        self.calibrator: VoiceCalibrator | None = None
        self.shortcut_results: list[RegistrationResult] = []
        self.settings_window: SettingsWindow | None = None
        self.provider_settings: ProviderSettings | None = None
        self._own_http: httpx.AsyncClient | None = None
        self.devtools: QWidget | None = None
        self.envelopes = EnvelopeLog()
        self._watch_bridge(stage)
        self._tasks: set[asyncio.Task[Any]] = set()
        QGuiApplication.setWindowIcon(app_icon())
        # Quitting is the tray's Quit, a shortcut-less close of the window, or a signal; closing the settings window
        # while the companion is hidden in the tray must not end the app (Qt's default) nor stop the event loop.
        QGuiApplication.setQuitOnLastWindowClosed(False)
        self.tray_menu = TrayMenu(
            TrayActions(
                toggle_window=window.toggle_visible,
                align=window.align,
                stop_speaking=speech.stop,
                open_settings=lambda: self.open_settings("models"),
                open_devtools=self.open_devtools,
                quit=quit_requested.set,
            ),
            settings,
            window,
        )
        self.tray = make_tray(self.tray_menu, app_icon(), window.toggle_visible)
        if tray_available():
            log.info("tray icon shown")
        else:
            log.info("no system tray (yet): the icon docks when one appears; the window's menu offers its actions")
        window.set_menu(self.tray_menu)
        window.hides_on_close = tray_available  # closing hides only while the tray can bring the window back
        window.settings_requested.connect(self.open_settings)
        window.closed.connect(quit_requested.set)
        settings.subscribe(self._settings_changed)
        self.settings_watcher = SettingsFileWatcher(settings, settings.path)

    @classmethod
    async def open(cls, options: AppOptions, quit_requested: asyncio.Event) -> DesktopApp:
        settings = SettingsService(SettingsStore(options.user_data))
        command_line, options = options, options.with_settings(settings.settings)
        library = open_library(options)
        stage, missing = build_stage_runtime(options, library, _page_host(options))
        stage_service = StageService(library, stage, missing)
        hooks = SpeakerHooks()
        speech = SpeakerLink(hooks)
        window = TamagotchiWindow(stage_service, settings, speech)
        desktop = cls(
            options,
            settings=settings,
            stage_service=stage_service,
            stage=stage,
            speech=speech,
            window=window,
            quit_requested=quit_requested,
            command_line=command_line,
        )
        for warning in settings.load_warnings:
            log.warning("settings: %s", warning)
        window.show()
        log.info("window shown")  # benchmarks/desktop.py measures cold start to this line
        desktop._open_speech(hooks)
        await desktop._bind_shortcuts()
        return desktop

    def _open_speech(self, hooks: SpeakerHooks) -> None:
        """The voice: the default audio device (or the null sink, timed but silent), the provider from Settings."""
        from app.lipsync.auto_calibration import VoiceCalibrator  # noqa: PLC0415
        from app.lipsync.service import LipSyncService  # noqa: PLC0415
        from app.lipsync.shaping import ShapingSettings  # noqa: PLC0415
        from app.lipsync.vmc import VmcSettings  # noqa: PLC0415
        from app.speech.service import SpeechService  # noqa: PLC0415 - after the window shows (faster start)
        from app.speech.sink import open_sink  # noqa: PLC0415

        assert isinstance(self.speech, SpeakerLink)
        try:
            sink = open_sink(prefer_device=True)
            lip = self.settings.settings.lip_sync
            # The mouth follows the same sink clock the voice plays on; cues reach the stage ahead of the sound.
            self.lipsync = LipSyncService(
                sink,
                # Asked for as cues leave: a restarted stage (or one started later) has a new bridge.
                lambda: self.stage.bridge if self.stage is not None else None,
                self.options.user_data,
                voice=lambda: lipsync_voice(self.settings.settings),
                shaping=ShapingSettings(lead_s=lip.lead_ms / 1000),
                output_latency_s=lip.output_latency_ms / 1000,
                vmc=VmcSettings(enabled=lip.vmc_enabled, host=lip.vmc_host, port=lip.vmc_port),
            )
            self.speech_service = SpeechService(
                sink, speech_settings(self.settings.settings), self.lipsync.speaker_hooks(hooks)
            )
        except Exception as error:  # a broken provider setting or voice library: the app runs, and says why
            log.warning("speech could not start: %s", error)
            self.speech.unavailable = f"Speech could not start: {error}"
            return
        self.speech.attach(self.speech_service)
        self._run(self.lipsync.start())
        self.calibrator = VoiceCalibrator(self.lipsync.store, self.speech_service.factory, self.lipsync.voice)
        self._run(self._calibrate_when_idle())
        self._configure_chat(self.settings.settings)

    async def _calibrate_when_idle(self) -> None:
        await asyncio.sleep(AUTO_CALIBRATION_DELAY_S)
        self._auto_calibrate(self.settings.settings)

    def _auto_calibrate(self, settings: Settings) -> None:
        """A voice spoken through the audio path that has no mouth profile yet gets one in the background (Settings >
        Lip sync > Calibrate automatically); until then the built-in profile moves the mouth."""
        if self.calibrator is not None and settings.lip_sync.auto_calibrate:
            self.calibrator.auto(speech_settings(settings), settings.lip_sync.calibration_language)

    def _configure_chat(self, settings: Settings) -> None:
        """The optional language model (Settings > Language model): when on, the say box asks it and the reply is
        spoken as it streams. Its API key, if it needs one, comes from ``$STAGE_TAMAGOTCHI_LLM_API_KEY`` or the OS
        keyring (Settings > Language model > API key), looked up off the GUI thread."""
        if not isinstance(self.speech, SpeakerLink) or self.speech_service is None:
            return
        model = settings.language_model
        if not (model.enabled and model.base_url and model.model):
            self.speech.conversation = None
            return
        self._run(self._start_chat(self.speech, self.speech_service, settings))

    async def _start_chat(self, link: SpeakerLink, service: SpeechService, settings: Settings) -> None:
        from app.speech.chat import ChatClient, ChatSettings, Conversation  # noqa: PLC0415
        from app.speech.providers import find_api_key  # noqa: PLC0415

        model = settings.language_model
        chat_settings = ChatSettings(model.base_url, model.model)
        if model.system_prompt:
            chat_settings = ChatSettings(model.base_url, model.model, system_prompt=model.system_prompt)
        key = await asyncio.to_thread(find_api_key, LANGUAGE_MODEL_KEY, LANGUAGE_MODEL_KEY_ENV)
        if self.settings.settings.language_model != model:
            return  # changed again while the key was looked up: the newer change configures it
        link.conversation = Conversation(ChatClient(service.http, chat_settings, key), service.speaker)

    # -- actions ------------------------------------------------------------------------------------------------

    async def _bind_shortcuts(self) -> None:
        service = await open_shortcut_service(self.options.user_data, bindings=SettingsBindingStore(self.settings))
        self.shortcuts = service

        def on_press(job: Callable[[], None]) -> Callable[[Trigger], None]:
            def act(trigger: Trigger) -> None:
                if trigger.phase is Phase.DOWN:
                    job()

            return act

        self.shortcut_results = await service.bind_actions(
            {
                TOGGLE_WINDOW: on_press(self.window.toggle_visible),
                STOP_SPEAKING: on_press(self.speech.stop),
                SPEAK_CLIPBOARD: on_press(self.speak_clipboard),
                NEXT_AVATAR: on_press(self.next_avatar),
            }
        )

    def speak_clipboard(self) -> None:
        text = QGuiApplication.clipboard().text().strip()
        if text:
            self.speech.say(text)

    def next_avatar(self) -> None:
        entries = self.stage_service.library.entries()
        if len(entries) < 2:
            return
        selected = self.stage_service.library.selected
        index = next((i for i, e in enumerate(entries) if selected and e.sha256 == selected.sha256), -1)
        self._run(self._show(entries[(index + 1) % len(entries)].sha256))

    async def _show(self, sha256: str) -> None:
        with contextlib.suppress(ApplyError):  # shown in the window's status
            await self.stage_service.show_model(sha256)

    def open_settings(self, page: str = "models") -> None:
        if self.settings_window is None:
            pages: dict[str, QWidget] = {"models": ModelsPage(self.stage_service)}
            if self.shortcuts is not None:
                pages["shortcuts"] = ShortcutSettingsPage(self.shortcuts, self.shortcut_results)
            from app.ui.provider_settings import ProviderServices, ProviderSettings  # noqa: PLC0415 - on first open

            self.provider_settings = ProviderSettings(
                ProviderServices(
                    self.settings,
                    self._catalog_http(),
                    speech=lambda: self.speech_service,
                    lipsync=lambda: self.lipsync,
                    calibrator=lambda: self.calibrator,
                    speech_unavailable=lambda: getattr(self.speech, "unavailable", None),
                    speech_settings=speech_settings,
                    lipsync_voice=lipsync_voice,
                    keys_changed=self._key_changed,
                )
            )
            self.settings_window = SettingsWindow(
                self.settings,
                pages,
                self.versions(),
                on_restart_stage=lambda: self._run(self.restart_stage()),
                page_extras={
                    "stage": [GodotDetector(self.settings, find_godot)],
                    **self.provider_settings.page_extras(),
                },
                field_notes=self.provider_settings.field_notes(),
            )
            self.settings_window.setWindowIcon(app_icon())
            self.provider_settings.load()
        self.settings_window.show_page(page)

    def _catalog_http(self) -> httpx.AsyncClient:
        """The settings pages' HTTP client (model and voice lists, tests): the speech service's when it runs."""
        if self.speech_service is not None:
            return self.speech_service.http
        if self._own_http is None:
            import httpx  # noqa: PLC0415 - only when speech could not start

            self._own_http = httpx.AsyncClient()
        return self._own_http

    def _key_changed(self, user: str) -> None:
        """A key saved or removed in Settings: the language model's client is rebuilt with it (a speech provider
        looks its key up at every reply already)."""
        if user == LANGUAGE_MODEL_KEY:
            self._configure_chat(self.settings.settings)
        elif self.calibrator is not None:  # a voice that failed for want of a key may work now
            self.calibrator.forget_failures(user)
            self._auto_calibrate(self.settings.settings)

    def _watch_bridge(self, stage: ManagedStage | None) -> None:
        if stage is None:
            return
        stage.bridge.observe_frames(self.envelopes.observe)
        if isinstance(stage.launcher, AttachLauncher):
            # What to run in the Godot editor goes to the window too (the token in it can be copied from there),
            # not only to a terminal the developer may not be looking at.
            announce = stage.launcher.announce

            def announce_in_window(text: str) -> None:
                announce(text)
                self.stage_service.starting_detail(text)

            stage.launcher.announce = announce_in_window
        platform_calls = _stage_window_calls(QGuiApplication.platformName())
        if stage.launcher.kind in ("native", "embedded") and platform_calls is not None:
            finder, mover = platform_calls
            embedder = NativeStageEmbedder(
                self.window,
                finder,
                glue=StageGlue(self.window, mover),
                inside=self.settings.settings.stage.window == "inside",
            )

            def follow(state: SidecarState, _reason: str) -> None:
                if state is SidecarState.STARTING:
                    embedder.stage_starting(lambda: stage.manager.pid)
                elif state is SidecarState.RUNNING:
                    embedder.stage_running(stage.manager.pid)
                else:
                    embedder.stage_gone()

            stage.manager.subscribe(follow)

    def open_devtools(self) -> None:
        if self.devtools is None:
            tabs = QTabWidget()
            tabs.setWindowTitle("Devtools")  # Qt appends " — Stage Tamagotchi", the display name
            inspector = BridgeInspector(
                self.envelopes, lambda: self.stage, lambda: self._run(self.restart_stage()), self.cue_timing
            )
            tabs.addTab(inspector, "Bridge")
            if self.shortcuts is not None:
                tabs.addTab(ShortcutsDevtool(self.shortcuts), "Shortcuts")
            tabs.resize(720, 520)
            self.devtools = tabs
        self.devtools.show()
        self.devtools.raise_()

    def cue_timing(self) -> tuple[CueTiming | None, float | None]:
        """For the bridge inspector: how far ahead the lip-sync cues leave for the stage, and the configured lead."""
        if self.lipsync is None:
            return None, None
        output = self.lipsync.stage_output
        return (output.timing if output is not None else None), self.lipsync.scheduler.shaping.lead_s * 1000.0

    def versions(self) -> dict[str, str]:
        versions = base_versions(app_version())
        bridge = self.stage.bridge if self.stage is not None else None
        if bridge is not None and bridge.stage is not None:
            engine = bridge.stage.hello.engine
            versions["Godot"] = f"{engine.name} {engine.version} ({engine.platform})"
        else:
            versions["Godot"] = self.stage_service.status.message or "not running"
        versions["Stage runtime"] = self.stage.launcher.kind if self.stage is not None else "none"
        selected = self.stage_service.library.selected
        if selected is not None:
            versions["Current model"] = f"{selected.name}: {selected.license_summary}"
        espeak = getattr(self.speech_service, "espeak", None)
        versions["espeak-ng"] = _espeak_version() if espeak is not None else "not loaded"
        versions["Licenses"] = "Stage Tamagotchi: MIT. Qt for Python: LGPLv3. Godot: MIT."
        return versions

    async def restart_stage(self) -> None:
        """Apply changed Stage settings: a new launcher if the runtime or Godot path changed, then a fresh start.

        What the command line chose stays (``--runtime attach --remote-debug`` stays so) unless the user has since
        changed that setting. One restart at a time: two at once would each stop the stage the other had not
        started yet, and leave one running."""
        async with self._restarting:
            options = self._restart_options()
            stage, missing = build_stage_runtime(options, self.stage_service.library, _page_host(options))
            self.stage, self.options = stage, options
            self._watch_bridge(stage)
            await self.stage_service.replace_runtime(stage, missing)  # stops the old stage first

    def _restart_options(self) -> AppOptions:
        """The command line's stage options, except those the user has changed in the settings since the start."""
        now, then, given = self.settings.settings.stage, self._stage_settings_at_start, self.command_line
        if now.runtime != then.runtime:
            given = dataclasses.replace(given, runtime="auto")  # "auto" on the command line: the settings decide
        if now.godot_path != then.godot_path:
            given = dataclasses.replace(given, godot=None)
        if (now.remote_debug, now.remote_debug_uri) != (then.remote_debug, then.remote_debug_uri):
            given = dataclasses.replace(given, remote_debug=None)
        return given.with_settings(self.settings.settings)

    def _settings_changed(self, settings: Settings, changed: Changed) -> None:
        if self.speech_service is not None and any(name.startswith("speech.") for name in changed):
            self._run(self._apply_speech(self.speech_service, settings))
        if any(name.startswith("language_model.") for name in changed):
            self._configure_chat(settings)
        if self.lipsync is not None and "lip_sync.lead_ms" in changed:
            scheduler = self.lipsync.scheduler
            scheduler.shaping = dataclasses.replace(scheduler.shaping, lead_s=settings.lip_sync.lead_ms / 1000)
        if self.lipsync is not None and "lip_sync.output_latency_ms" in changed:
            self.lipsync.scheduler.output_latency_s = settings.lip_sync.output_latency_ms / 1000
        if self.lipsync is not None and changed & {"lip_sync.vmc_enabled", "lip_sync.vmc_host", "lip_sync.vmc_port"}:
            self._run(self._apply_vmc(self.lipsync, settings))
        if changed & AUTO_CALIBRATION_FOLLOWS or any(name.startswith("speech.") for name in changed):
            self._auto_calibrate(settings)
        if any(name.startswith("stage.") for name in changed):
            log.info("stage settings changed: they apply when the stage restarts (Settings > Stage > Restart)")

    async def _apply_vmc(self, lipsync: LipSyncService, settings: Settings) -> None:
        from app.lipsync.vmc import VmcSettings  # noqa: PLC0415

        lip = settings.lip_sync
        try:
            await lipsync.set_vmc(VmcSettings(enabled=lip.vmc_enabled, host=lip.vmc_host, port=lip.vmc_port))
        except Exception as error:  # an unusable host: lip sync goes on without VMC, and the log says why
            log.warning("VMC output not applied: %s", error)

    async def _apply_speech(self, service: SpeechService, settings: Settings) -> None:
        try:
            await service.apply_settings(speech_settings(settings))
        except Exception as error:  # an unknown provider: keep the previous one and say so in the bubble
            log.warning("speech settings not applied: %s", error)

    def _run(self, job: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self.settings_watcher.stop()
        if self.provider_settings is not None:
            await self.provider_settings.aclose()
        if self.calibrator is not None:
            await self.calibrator.aclose()  # nothing half-stored; before the speech service closes its HTTP client
        for task in list(self._tasks):
            task.cancel()
        try:
            await self.stage_service.stop()
        finally:
            if isinstance(self.speech, SpeakerLink):
                await self.speech.aclose()
            if self.speech_service is not None:
                await self.speech_service.close()
            if self._own_http is not None:
                await self._own_http.aclose()
            if self.lipsync is not None:
                await self.lipsync.close()
            if self.shortcuts is not None:
                await self.shortcuts.close()
            self.tray.hide()
            self.window.allow_close()
            self.window.close()
            for extra in (self.settings_window, self.devtools):
                if extra is not None:
                    extra.close()


def _page_host(options: AppOptions) -> list[str] | None:
    """The embedded stage's host process (QtWebEngine stays out of the app's own process), when it can run."""
    if options.runtime not in ("auto", "embedded"):
        return None
    if not web_engine_available():
        log.warning("QtWebEngine is unavailable: no embedded stage")
        return None
    return host_command()


def speech_settings(settings: Settings) -> SpeechProviderSettings:
    """The speech service's settings from the Speech page (empty fields: the provider's defaults)."""
    speech = settings.speech
    return SpeechProviderSettings(
        provider=speech.provider,
        voice=speech.voice or None,
        model=speech.model or None,
        base_url=speech.base_url or None,
        speed=speech.speed,
    )


def _stage_window_calls(platform: str) -> tuple[WindowFinder, WindowMover] | None:
    """How to find and move a stage's own window on this platform: X11 and Windows; elsewhere (macOS, Wayland) no
    app may take in or place another's window, and the stage keeps the window it opened."""
    if platform == "xcb":
        return X11WindowFinder(), X11WindowMover()
    if platform == "windows":
        from app.ui.win32_window import Win32WindowFinder, Win32WindowMover  # noqa: PLC0415 - Windows only

        return Win32WindowFinder(), Win32WindowMover()
    return None


def lipsync_voice(settings: Settings) -> str:
    """The voice whose calibrated mouth profile lip sync uses: provider, voice, model and server, as the profile store
    names them (the provider's defaults when unset, as ``lipsync calibrate`` names it)."""
    from app.lipsync.provider_voice import voice_key  # noqa: PLC0415 - lip sync loads after the window shows

    speech = settings.speech
    return voice_key(speech.provider, speech.voice, speech.model, speech.base_url)


def find_godot(path: str | None) -> tuple[bool, str]:
    """The Stage page's "Detect Godot": the Godot 4 the app would use, with its version, or why there is none."""
    from godot_bridge.sidecar.discovery import GodotFinder  # noqa: PLC0415

    discovery = GodotFinder().find(path)
    if discovery.found is None:
        return False, discovery.reason
    found = discovery.found
    return True, f"Godot {found.version.number} ({found.version.raw}) at {found.path}, found via {found.source}"


def _espeak_version() -> str:
    try:
        from importlib.metadata import version  # noqa: PLC0415

        return f"the library and voices of espeakng-loader {version('espeakng-loader')} (GPLv3)"
    except Exception:  # not installed as a distribution (a bundle without metadata)
        return "bundled"
