"""Row ids typed by people (CLI options, CSV cells): ASCII digits within the column's range.

`int()` is too lenient for ids: it takes "١٢" (Arabic-Indic digits), "1_000", " +7 " and any
number of digits, and a value past the column's range fails only inside the database driver
(SQLite: OverflowError; Postgres: an out-of-range error). Ids are INTEGER columns, and
Postgres' INTEGER is 32-bit signed, so both back ends accept 1 .. 2**31 - 1.
"""

from __future__ import annotations

import re

from callcrew.redact import mask_urls

MAX_ID = 2**31 - 1

_ASCII_DIGITS = re.compile(r"[0-9]+")


def parse_id(text: str, what: str = "id") -> int:
    """`text` as a row id, or ValueError naming `what` and what an id looks like."""
    shown = mask_urls(text)
    cleaned = text.strip()
    if not _ASCII_DIGITS.fullmatch(cleaned) or len(cleaned) > 10:
        raise ValueError(f"{what} {shown!r} is not a number (digits 0-9 only, 1 to {MAX_ID})")
    value = int(cleaned)
    if not 1 <= value <= MAX_ID:
        raise ValueError(f"{what} {shown!r} is out of range (1 to {MAX_ID})")
    return value
