"""Secrets in URLs and headers are masked before they reach a log line or an error message."""

from __future__ import annotations

import logging

import pytest

from app.speech.redaction import RedactingFilter, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ws://user:pw@host:1/s?api_key=k1&voice=v&token=t", "ws://***@host:1/s?api_key=***&voice=v&token=***"),
        ("GET /s?access_token=z&lang=en HTTP/1.1", "GET /s?access_token=***&lang=en HTTP/1.1"),
        ("https://h/v1?Password=p#frag", "https://h/v1?Password=***#frag"),
        ("> Authorization: Bearer sk-1", "> Authorization: ***"),
        ("{'authorization': 'Basic dXNlcjpwdw=='}", "{'authorization': '***'}"),
        (
            "x-api-key=abc and https://h/v1/audio/speech?voice=nova",
            "x-api-key=*** and https://h/v1/audio/speech?voice=nova",
        ),
    ],
)
def test_redact_masks_userinfo_sensitive_query_values_and_auth_headers(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_the_filter_masks_arguments_and_exception_text(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("tests.redaction")
    log.addFilter(RedactingFilter())
    caplog.set_level(logging.INFO, logger="tests.redaction")
    log.info("> %s: %s", "Authorization", "Bearer sk-secret")
    try:
        raise ValueError("cannot open https://me:sk-secret@host/?key=sk-secret")
    except ValueError:
        log.exception("failed")
    assert "sk-secret" not in caplog.text and "Authorization: ***" in caplog.text and "ValueError" in caplog.text
