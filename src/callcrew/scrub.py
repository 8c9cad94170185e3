"""One scrubber for every error text we record (reports, provider events, logs of failures).

Provider SDKs put the upstream response body and sometimes the request headers into their
exception messages; a 401 body that echoes `Bearer sk-...` must not reach a call report, the
store, a webhook or a log. Scrubbing replaces the secret part and keeps the rest readable.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

from callcrew.redact import mask_urls

REDACTED = "[redacted]"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Bearer <token> / Basic <b64> / Token <x>, with or without the header name
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=:-]{6,}"), rf"\1 {REDACTED}"),
    # header or JSON/query fields that carry a secret: api_key=..., "x-api-key": "...", ...
    (
        re.compile(
            r"(?i)([\"']?\b(?:authorization|x-api-key|api[_-]?key|xi-api-key|access[_-]?token|"
            r"auth[_-]?token|token|secret|password|passwd)[\"']?\s*[:=]\s*[\"']?)"
            r"(?!\[redacted\]|(?i:bearer|basic|token)\s)[^\s\"',;&}]+"
        ),
        rf"\1{REDACTED}",
    ),
    # well-known key shapes on their own (OpenAI sk-..., Deepgram/Cartesia hex, JWTs)
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), REDACTED),
)


def scrub(text: str) -> str:
    """`text` without keys, tokens, auth headers or URL passwords."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    # a password inside a URL (scheme://user:password@host): the same rule as printed messages
    return mask_urls(text, REDACTED)


def install_log_scrubber() -> None:
    """Scrub every log record made in this process from now on (idempotent).

    Provider SDKs and LiveKit's adapters log the upstream error ("... failed, switching to next
    LLM: <body>"), and a body can echo the caller's key. A record factory catches them all,
    whichever logger or handler they go through, before any handler formats them.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_callcrew_scrub", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's to report
            return record
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            cleaned = scrub(text)
            if cleaned != text:
                record.exc_text = cleaned  # formatters use it instead of re-formatting
        return record

    factory._callcrew_scrub = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
