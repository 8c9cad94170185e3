"""The values single settings may take: the enumerated types and the checks of a URL or a
block name (settings.py validates the whole)."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import SplitResult, urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

StackName = Literal["economy", "premium", "local"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
TurnDetection = Literal["vad", "eot", "words"]
EndpointingMode = Literal["fixed", "dynamic"]
VadEngine = Literal["silero", "inference"]
JobExecutor = Literal["process", "thread"]
AutoSwitch = Literal["auto", "on", "off"]
AudioRate = Literal[8000, 16000, 24000, 48000]
# LiveKit refuses a TurnDetector with less VAD silence than this (eot/base.py: 200 + 50 ms).
EOT_MIN_VAD_SILENCE = 0.25

# A block override looks like "deepgram/nova-3": provider, a slash, then the model.
BLOCK_RE = re.compile(r"^[a-z0-9_-]+/[A-Za-z0-9._:-]+$")


def split_url(v: str) -> SplitResult:
    """urlsplit that also checks host and port (a bad port only fails when read)."""
    try:
        parts = urlsplit(v)
        _ = parts.port
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    if not parts.hostname:
        raise ValueError("names no host")
    return parts


def database_url(v: str) -> str:
    """DATABASE_URL as SQLAlchemy takes it, or ValueError."""
    # Hosting providers hand out postgres:// (Heroku, Render, Supabase ...); SQLAlchemy
    # only knows postgresql://, and we name the driver we ship (psycopg 3).
    v = re.sub(r"^(postgres|postgresql)://", "postgresql+psycopg://", v)
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", v):
        raise ValueError(
            "must be a SQLAlchemy URL for SQLite or Postgres, "
            "e.g. sqlite:///var/callcrew.db or postgresql+psycopg://user@host/db"
        )
    try:
        make_url(v)
    except ArgumentError:
        raise ValueError("is not a valid database URL") from None
    return v
