"""Secrets out of text: the password of every URL, wherever a URL is printed or logged.

One helper so that settings errors, store errors, log records and reports all mask the same
way: `postgres://admin:PW@db/x` becomes `postgres://admin:***@db/x`. Only the password part of
the userinfo is replaced; the user name stays, so an operator can still tell which account.
"""

from __future__ import annotations

import logging
import re

MASK = "***"

# scheme://user:password@ — the password may hold anything but whitespace, '/' and '@' (an '@'
# inside a password must be percent-encoded in a URL anyway). Also matches inside longer text.
_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^\s:/@]*):(?P<pw>[^\s/@]*)@"
)


def mask_urls(text: str) -> str:
    """`text` with the password of every URL in it replaced by ***."""
    if "://" not in text:
        return text
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)


def has_password(url: str) -> bool:
    return mask_urls(url) != url


class MaskUrlsFilter(logging.Filter):
    """Logging filter: masks URL passwords in the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is the logging module's to report
            return True
        masked = mask_urls(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
