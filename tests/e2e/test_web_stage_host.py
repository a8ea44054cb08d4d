"""The embedded stage's host process for real (``python -m app web-stage-host URL`` on Xvfb, QtWebEngine): it shows a
page and says which window it is in, and ends non-zero with a one-line reason when the page cannot load or its
renderer dies (the sidecar manager then reports the stage as crashed, with that line)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.xvfb import XvfbUnavailable, running_xvfb

pytestmark = pytest.mark.tier3
ROOT = Path(__file__).resolve().parents[2]


def host(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "app", "web-stage-host", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@contextlib.contextmanager
def x_env() -> Iterator[dict[str, str]]:
    try:
        with running_xvfb() as display:
            env = {k: v for k, v in os.environ.items() if k not in {"QT_QPA_PLATFORM", "WAYLAND_DISPLAY"}}
            env["DISPLAY"] = display
            yield env
    except XvfbUnavailable as missing:
        pytest.skip(str(missing))


@contextlib.contextmanager
def page_server() -> Iterator[str]:
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><html><body style='background: transparent'>a stage</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


def ended(process: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _, stderr = process.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # its web engine helpers too
    return process.returncode, stderr


def renderers(host_pid: int) -> list[int]:
    """The host's page renderers: forked by its web engine's zygote, so grandchildren of the host in its group."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parent, group = int(fields[1]), int(fields[2])
            if group == host_pid and parent not in {host_pid, 1} and int(stat.parent.name) != host_pid:
                found.append(int(stat.parent.name))
    return found


def test_bad_arguments_end_the_host_with_a_one_line_reason() -> None:
    env = dict(os.environ)
    for args, reason in (
        (
            ("http://127.0.0.1:1/index.html", "--size", "big"),
            "--size must be WIDTHxHEIGHT, each from 1 to 16384, not 'big'",
        ),
        (("https://example.com/",), "only the app's own page on 127.0.0.1 is shown"),
        (("http://127.0.0.1:80@example.com/",), "only the app's own page on 127.0.0.1 is shown"),
        (("http://127.0.0.1:1/index.html", "--size", "0x600"), "--size must be WIDTHxHEIGHT, each from 1 to"),
        (("http://127.0.0.1:1/index.html", "--size=-450x600"), "--size must be WIDTHxHEIGHT, each from 1 to"),
    ):
        code, stderr = ended(host(env, *args))
        assert code == 2 and reason in stderr and len(stderr.strip().splitlines()) == 1, stderr


def test_a_page_that_does_not_load_ends_the_host_with_the_reason() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with x_env() as env:
        code, stderr = ended(host(env, f"http://127.0.0.1:{closed_port}/index.html"))
    assert code == 3 and f"the stage page http://127.0.0.1:{closed_port}/index.html did not load" in stderr


def test_the_host_shows_the_page_in_a_window_and_a_dead_renderer_ends_it_with_the_reason(tmp_path: Path) -> None:
    with x_env() as env, page_server() as url:
        env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
        process = host(env, url, "--size", "300x400")
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("stage window ") and int(line.split()[-1]) > 0, line
        geometry = subprocess.run(
            ["xwininfo", "-id", line.split()[-1]], env=env, capture_output=True, text=True, check=True
        ).stdout
        assert "Width: 300" in geometry and "Height: 400" in geometry and "Depth: 32" in geometry
        # Named as the stage host, not after python's __main__.py: the window's class, the web engine's processes and
        # its cache folder.
        wm_class = subprocess.run(
            ["xprop", "-id", line.split()[-1], "WM_CLASS"], env=env, capture_output=True, text=True, check=True
        ).stdout
        assert wm_class.split("=")[1].strip() == '"stage-tamagotchi-stage", "stage-tamagotchi-stage"', wm_class
        deadline = time.monotonic() + 30
        while not renderers(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        [renderer] = renderers(process.pid)
        assert "--application-name=stage-tamagotchi-stage" in Path(f"/proc/{renderer}/cmdline").read_text()
        os.kill(renderer, signal.SIGKILL)
        code, stderr = ended(process)
    cache = {folder.name for folder in (tmp_path / "cache").iterdir()}
    assert "stage-tamagotchi-stage" in cache and not any("__main__" in name for name in cache), cache
    assert code == 4 and "web-stage-host: the page's renderer ended (" in stderr, stderr
