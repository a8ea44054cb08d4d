"""How the command line and the Stage settings decide the runtime, Godot path and remote debugging."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import build_parser
from app.config.model import DEFAULT_REMOTE_DEBUG_URI, Settings, StageSettings
from app.main import AppOptions, LauncherUnavailable, build_launcher


def test_remote_debug_without_a_value_uses_the_editors_default_uri() -> None:
    assert build_parser().parse_args(["--remote-debug"]).remote_debug == DEFAULT_REMOTE_DEBUG_URI
    assert build_parser().parse_args(["--remote-debug=tcp://10.0.0.2:7000"]).remote_debug == "tcp://10.0.0.2:7000"
    assert build_parser().parse_args([]).remote_debug is None
    assert build_parser().parse_args(["--runtime", "embedded"]).runtime == "embedded"


def test_options_before_the_subcommand_name_are_kept() -> None:
    # The subcommands repeat these options; their unset copies used to overwrite what was given before the name,
    # so `--user-data DIR models list` worked on the default library.
    parsed = build_parser().parse_args(["--user-data", "/tmp/x", "models", "list"])
    assert parsed.user_data == "/tmp/x"
    parsed = build_parser().parse_args(["--runtime", "web", "--godot", "/g", "stage-check", "--model", "m.vrm"])
    assert (parsed.runtime, parsed.godot) == ("web", "/g")
    assert build_parser().parse_args(["--godot", "/g", "godot-info"]).godot == "/g"
    assert build_parser().parse_args(["models", "list", "--user-data", "/tmp/y"]).user_data == "/tmp/y"
    assert build_parser().parse_args(["say", "hello"]).user_data is None


@pytest.mark.parametrize(
    "uri", ["stage-check", "tcp://", "tcp://:6007", "tcp://host:port", "tcp://host:70000", "http://h:1"]
)
def test_a_remote_debug_uri_godot_would_refuse_is_refused_on_the_command_line(
    uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["--remote-debug", uri])
    assert exit_.value.code == 2
    assert "a remote debug URI looks like tcp://127.0.0.1:6007" in capsys.readouterr().err


def test_the_settings_fill_what_the_command_line_leaves_open(tmp_path: Path) -> None:
    settings = Settings(
        stage=StageSettings(
            runtime="embedded", godot_path="/opt/godot4", remote_debug=True, remote_debug_uri="tcp://h:1"
        )
    )
    options = AppOptions(tmp_path, "auto").with_settings(settings)
    assert (options.runtime, options.godot, options.remote_debug) == ("embedded", "/opt/godot4", "tcp://h:1")
    explicit = AppOptions(tmp_path, "native", "/usr/bin/godot4", "tcp://x:2").with_settings(settings)
    assert (explicit.runtime, explicit.godot, explicit.remote_debug) == ("native", "/usr/bin/godot4", "tcp://x:2")
    off = AppOptions(tmp_path, "auto").with_settings(Settings())
    assert (off.runtime, off.godot, off.remote_debug) == ("auto", None, None)


def test_the_embedded_runtime_needs_the_window(tmp_path: Path) -> None:
    with pytest.raises(LauncherUnavailable) as missing:
        build_launcher(AppOptions(tmp_path, "embedded"))
    assert missing.value.code == "embedded-unavailable"


def test_auto_without_godot_or_a_window_says_godot_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GODOT4", "GODOT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(LauncherUnavailable) as missing:
        build_launcher(AppOptions(tmp_path, "auto"))
    assert missing.value.code == "godot-not-found"


def test_starting_the_app_imports_no_subcommand_module() -> None:
    # The subcommands pull in numpy, espeak and httpx; the window must not wait for them (cold start).
    probe = (
        "import sys, app.cli; args = app.cli.parse(['--runtime', 'native', '-v']); "
        "print(args.command, sorted(m for m in sys.modules if m.endswith('.cli') and m != 'app.cli'))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "None []"
    assert build_parser().parse_args(["lipsync", "analyze", "x.wav"]).command == "lipsync"
