"""E.164 phone numbers: the one format callcrew stores, logs (masked) and dials."""

from __future__ import annotations

import re

E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")


def is_e164(number: str) -> bool:
    return bool(E164_RE.match(number))


def require_e164(number: str) -> str:
    """The number itself, or a ValueError whose sentence a settings/file error can show."""
    if not is_e164(number):
        raise ValueError(f"{number!r} is not an E.164 number like +15551234567")
    return number
