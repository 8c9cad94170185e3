"""The business profile: who the desk answers for, when it is open, what it books.

A YAML file configures the desk without code changes. Errors name the file, the field and what
is wrong, because a profile is edited by hand.
"""

from __future__ import annotations

import re
from datetime import time
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from callcrew import yamlio
from callcrew.metrics.analysis_spec import AnalysisSpec
from callcrew.phone import require_e164

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ProfileError(Exception):
    """A business profile could not be read; the message names file, field and problem."""


class Service(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9_-]+$", description="short id the tools use")
    name: str = Field(min_length=1)
    duration_minutes: int = Field(gt=0, le=8 * 60)
    price: str | None = None


class Hours(BaseModel):
    """One opening window of a day, local time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    open: time
    close: time

    @model_validator(mode="after")
    def _ordered(self) -> Hours:
        if self.close <= self.open:
            raise ValueError(f"closes ({self.close}) before it opens ({self.open})")
        return self


# What a keypad digit can do at any stage (agents/keypad.py acts them out).
KEYPAD_ACTIONS = ("person", "repeat")


class BusinessProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    timezone: str = "UTC"
    greeting: str = Field(min_length=1, description="fixed opening phrase (phrase-cached)")
    goodbye: str = "Thanks for calling. Goodbye!"
    welcome_back: str = Field(
        "Good to hear from you again, {first_name}.",
        description="said after the greeting to a caller known by caller ID; {first_name}",
    )
    still_there: str = Field("Are you still there?", min_length=1)
    silence_goodbye: str = Field(
        "I can't hear anything, so I'll hang up now. Please call again any time. Goodbye!",
        min_length=1,
    )
    time_limit_goodbye: str = Field(
        "I'm sorry, we've reached the time limit for this call. Please call again. Goodbye!",
        min_length=1,
    )
    one_moment: str = Field(
        "One moment, please.", min_length=1, description="filler while a provider is late"
    )
    technical_trouble: str = Field(
        "I'm sorry, I'm having technical trouble right now.",
        min_length=1,
        description="apology when every provider of a block failed (then an offer, then goodbye)",
    )
    phone: str | None = Field(None, description="the business's own number, E.164 (call-backs)")
    transfer_number: str | None = Field(None, description="a human's number, E.164")
    warm_transfer: bool = False
    keypad: dict[str, str] = Field(
        default_factory=lambda: {"0": "person"},
        description="keypad digit -> what it does at any stage of a call (agents/keypad.py)",
    )
    task: str = Field("appointments", description="which task agent serves callers")
    slot_step_minutes: int = Field(30, gt=0, le=240)
    booking_horizon_days: int = Field(60, gt=0, le=366)
    hours: dict[Weekday, list[Hours]] = Field(default_factory=dict)
    services: list[Service] = Field(min_length=1)
    facts: list[str] = Field(default_factory=list, description="answers the agent may give")
    analysis: AnalysisSpec | None = Field(
        None, description="post-call analysis: summary, data schema, success criteria"
    )

    @field_validator("timezone")
    @classmethod
    def _known_tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r} (use an IANA name like Europe/Paris)"
            ) from None
        return v

    @field_validator("welcome_back")
    @classmethod
    def _welcome_placeholders(cls, v: str) -> str:
        try:
            v.format(first_name="Ada")
        except (KeyError, IndexError, ValueError):
            raise ValueError("may only use the placeholder {first_name}") from None
        return v

    @field_validator("keypad")
    @classmethod
    def _keys(cls, v: dict[str, str]) -> dict[str, str]:
        bad_keys = {k for k in v if not (len(k) == 1 and k in "0123456789*#")}
        if bad_keys:
            raise ValueError(f"keys must be one of 0-9, * or # (got {sorted(bad_keys)})")
        unknown = {a for a in v.values() if a not in KEYPAD_ACTIONS}
        if unknown:
            raise ValueError(
                f"unknown keypad action(s) {sorted(unknown)}; one of {', '.join(KEYPAD_ACTIONS)}"
            )
        return v

    @field_validator("phone", "transfer_number")
    @classmethod
    def _e164(cls, v: str | None) -> str | None:
        return None if v is None else require_e164(v)

    @field_validator("hours", mode="before")
    @classmethod
    def _hours_shorthand(cls, v: Any) -> Any:
        # Accept "09:00-17:00" and lists of them, the way people write opening hours.
        if not isinstance(v, dict):
            return v
        out: dict[str, Any] = {}
        for day, windows in v.items():
            key = str(day).lower()[:3]
            if windows in (None, "closed", []):
                out[key] = []
                continue
            items = windows if isinstance(windows, list) else [windows]
            parsed = []
            for w in items:
                if isinstance(w, str):
                    m = re.fullmatch(r"\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*", w)
                    if not m:
                        raise ValueError(f"{day}: {w!r} is not a window like 09:00-17:00")
                    parsed.append({"open": m.group(1).zfill(5), "close": m.group(2).zfill(5)})
                else:
                    parsed.append(w)
            out[key] = parsed
        return out

    @model_validator(mode="after")
    def _unique_services(self) -> BusinessProfile:
        ids = [s.id for s in self.services]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"service ids must be unique; repeated: {', '.join(dupes)}")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def service(self, service_id: str) -> Service | None:
        key = service_id.strip().lower()
        for s in self.services:
            if key in (s.id, s.name.lower()):
                return s
        return None

    def hours_text(self) -> str:
        parts = []
        for day in WEEKDAYS:
            windows = self.hours.get(day, [])
            spans = ", ".join(f"{w.open:%H:%M}-{w.close:%H:%M}" for w in windows) or "closed"
            parts.append(f"{day.capitalize()} {spans}")
        return "; ".join(parts)


DEFAULT_PROFILE_RESOURCE = "default_business.yaml"


def _format_validation(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid business profile"]
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = str(e["msg"]).removeprefix("Value error, ")
        lines.append(f"  - {loc}: {msg}")
    return "\n".join(lines)


def parse_profile(data: Any, source: str) -> BusinessProfile:
    if not isinstance(data, dict):
        raise ProfileError(f"{source}: a business profile must be a YAML mapping of fields")
    try:
        return BusinessProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(_format_validation(source, exc)) from None


def load_profile(path: Path | str | None = None) -> BusinessProfile:
    """Load a profile from `path`, or the embedded default desk when `path` is None."""
    if path is None:
        text = resources.files("callcrew.data").joinpath(DEFAULT_PROFILE_RESOURCE).read_text()
        source = f"(built-in) {DEFAULT_PROFILE_RESOURCE}"
    else:
        p = Path(path)
        source = str(p)
        try:
            text = yamlio.read_text(p)
        except FileNotFoundError:
            raise ProfileError(f"{source}: business profile file not found") from None
        except yamlio.YamlFileError as exc:
            raise ProfileError(f"{source}: business profile {exc.reason}") from None
    try:
        data = yamlio.load(text)
    except yamlio.YamlFileError as exc:
        raise ProfileError(f"{source}: {exc.reason}") from None
    return parse_profile(data, source)
