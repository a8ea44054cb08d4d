"""The embedded stage's host shows only the app's own page on the loopback, at a sensible size: judged on the parsed
URL (a prefix check let ``http://127.0.0.1:80@example.com/`` through to example.com)."""

from __future__ import annotations

import pytest

from app.ui.web_stage_host import is_local_page, parse_size


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:41234/index.html", "http://localhost:8080/index.html", "http://127.0.0.1/index.html"],
)
def test_the_apps_page_on_the_loopback_is_shown(url: str) -> None:
    assert is_local_page(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:80@example.com/",  # user info: the host is example.com
        "http://127.0.0.1@example.com/",
        "http://user:pw@127.0.0.1:80/",
        "http://127.0.0.1.example.com:80/",
        "http://localhost.evil.test:80/",
        "https://127.0.0.1:80/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://127.0.0.1:notaport/",
        "http://[::1]:80/",
        "",
    ],
)
def test_anything_else_is_refused(url: str) -> None:
    assert not is_local_page(url)


def test_sizes_are_width_by_height_within_bounds() -> None:
    assert parse_size("450x600") == (450, 600)
    assert parse_size("1X1") == (1, 1)
    for bad in ("0x600", "450x0", "-450x600", "450x-1", "big", "450", "450x600x2", "99999x600", ""):
        assert parse_size(bad) is None, bad
