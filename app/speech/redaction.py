"""Keeps secrets out of logs and error messages: credentials in URLs (userinfo, sensitive query values) and in
authorization headers are masked before anything is written.

:func:`redact` masks a text; :class:`RedactingFilter` applies it to log records. It is attached to our speech
loggers and to the loggers of the HTTP and WebSocket libraries, which log URLs (httpx at INFO) and, at DEBUG, every
handshake header including ``Authorization`` (websockets).
"""

from __future__ import annotations

import logging
import re

MASK = "***"
_SENSITIVE_NAME = r"[\w.-]*(?:key|token|auth|passw|pwd|secret|signature|sig|credential|session)[\w.-]*"
_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#@\s]+@")
_QUERY_VALUE = re.compile(rf"([?&;]{_SENSITIVE_NAME}=)[^&;#\s'\"]+", re.IGNORECASE)
_HEADER_VALUE = re.compile(
    r"((?:proxy-)?authorization|x-api-key|api-key|xi-api-key)(['\"]?\s*[:=,]\s*['\"]?)"
    r"(?:(?:bearer|basic|token)\s+)?[^\s'\",)]+",
    re.IGNORECASE,
)

LIBRARY_LOGGERS = ("httpx", "httpcore", "websockets.client")


def redact(text: str) -> str:
    """``text`` with URL userinfo, the values of sensitive-looking query parameters and authorization header values
    masked."""
    text = _USERINFO.sub(rf"\1{MASK}@", text)
    text = _QUERY_VALUE.sub(rf"\1{MASK}", text)
    return _HEADER_VALUE.sub(rf"\1\2{MASK}", text)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message (arguments merged in first) and in its exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


_FILTER = RedactingFilter()


def guard(*loggers: logging.Logger | str) -> None:
    """Attaches the redacting filter to each logger (idempotent). Filters do not pass on to child loggers, so every
    logger that may see a URL or a header is named."""
    for logger in loggers:
        target = logging.getLogger(logger) if isinstance(logger, str) else logger
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
