"""One scrubber for every error text we record (reports, provider events, logs of failures).

Provider SDKs put the upstream response body and sometimes the request headers into their
exception messages; a 401 body that echoes `Bearer sk-...` must not reach a call report, the
store, a webhook or a log. Scrubbing replaces the secret part and keeps the rest readable.
"""

from __future__ import annotations

import re

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
    # a password inside a URL: scheme://user:password@host
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]+):[^\s@/]+@"), rf"\1:{REDACTED}@"),
)


def scrub(text: str) -> str:
    """`text` without keys, tokens, auth headers or URL passwords."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
