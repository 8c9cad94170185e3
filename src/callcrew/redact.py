"""URL passwords out of the messages we print: `postgres://admin:PW@db/x` becomes
`postgres://admin:***@db/x` in every settings, store and CLI error. Only the password part of
the userinfo is replaced; the user name stays, so an operator can still tell which account.
Log records and recorded errors go through `scrub.py`, which masks URL passwords with this
(plus keys and auth headers); the worker installs its log scrubber at start.
"""

from __future__ import annotations

import re

MASK = "***"

# scheme://user:password@ — the password may hold anything but whitespace, '/' and '@' (an '@'
# inside a password must be percent-encoded in a URL anyway). Also matches inside longer text.
_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^\s:/@]*):(?P<pw>[^\s/@]*)@"
)


def mask_urls(text: str, mask: str = MASK) -> str:
    """`text` with the password of every URL in it replaced by `mask` (*** unless told)."""
    if "://" not in text:
        return text
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{mask}@", text)


def has_password(url: str) -> bool:
    return mask_urls(url) != url
