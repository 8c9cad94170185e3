"""The business profile: who answers for the business, when it is open, its fixed phrases.

A YAML file configures a business without code changes. What every business has is here; the
crew's own part (the desk's services, a restaurant's menu) is one top-level section typed by
the crew (`Crew.profile_section`) and validated with the same errors, which name the file, the
field and what is wrong, because a profile is edited by hand.
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from callcrew import yamlio
from callcrew.metrics.analysis_spec import AnalysisSpec
from callcrew.phone import require_e164

if TYPE_CHECKING:
    from callcrew.call import ProfileSection
    from callcrew.crews import LoadedCrew

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ProfileError(Exception):
    """A business profile could not be read; the message names file, field and problem."""


SectionT = TypeVar("SectionT", bound=BaseModel)


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
    hours: dict[Weekday, list[Hours]] = Field(default_factory=dict)
    facts: list[str] = Field(default_factory=list, description="answers the agent may give")
    analysis: AnalysisSpec | None = Field(
        None, description="post-call analysis: summary, data schema, success criteria"
    )
    # The crew's validated section (`Crew.profile_section`), set by parse_profile.
    _section: BaseModel | None = PrivateAttr(None)
    _section_key: str | None = PrivateAttr(None)

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

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def section(self) -> BaseModel | None:
        """The crew's section of the profile, validated by the crew's model (or None)."""
        return self._section

    def section_as(self, model: type[SectionT]) -> SectionT:
        """The crew's section, typed: what a crew's agents call (`desk(profile)`)."""
        if not isinstance(self._section, model):
            raise LookupError(
                f"the business profile has no {model.__name__} section "
                f"(loaded without the crew that declares it?)"
            )
        return self._section

    def as_data(self) -> dict[str, Any]:
        """The profile as YAML-shaped data, the crew's section included (for merging)."""
        data = self.model_dump(mode="json")
        if self._section is not None and self._section_key is not None:
            data[self._section_key] = self._section.model_dump(mode="json")
        return data

    def hours_text(self) -> str:
        parts = []
        for day in WEEKDAYS:
            windows = self.hours.get(day, [])
            spans = ", ".join(f"{w.open:%H:%M}-{w.close:%H:%M}" for w in windows) or "closed"
            parts.append(f"{day.capitalize()} {spans}")
        return "; ".join(parts)


def _format_validation(source: str, problems: list[str]) -> str:
    return "\n".join([f"{source}: invalid business profile", *(f"  - {p}" for p in problems)])


def _problems(exc: ValidationError, prefix: str = "") -> list[str]:
    lines = []
    for e in exc.errors():
        loc = ".".join(
            [prefix, *(str(p) for p in e["loc"])] if prefix else [str(p) for p in e["loc"]]
        )
        msg = str(e["msg"]).removeprefix("Value error, ")
        lines.append(f"{loc or '(top level)'}: {msg}")
    return lines


def _section_of(crew: LoadedCrew | ProfileSection | str | None) -> ProfileSection | None:
    from callcrew.call import ProfileSection
    from callcrew.crews import load_crew

    if crew is None or isinstance(crew, ProfileSection):
        return crew
    loaded = load_crew(crew) if isinstance(crew, str) else crew
    return loaded.profile_section


def parse_profile(
    data: Any, source: str, crew: LoadedCrew | ProfileSection | str | None = "default"
) -> BusinessProfile:
    """Validate `data` as the engine's fields plus the crew's section (`crew`: a loaded crew,
    its section, a crew name, or None for a crew without one); every problem one line."""
    if not isinstance(data, dict):
        raise ProfileError(f"{source}: a business profile must be a YAML mapping of fields")
    section = _section_of(crew)
    engine_data = dict(data)
    problems: list[str] = []
    section_value: BaseModel | None = None
    if section is not None:
        raw = engine_data.pop(section.key, None)
        moved = [
            k
            for k in list(engine_data)
            if k not in BusinessProfile.model_fields and k in section.model.model_fields
        ]
        for k in moved:
            del engine_data[k]
            problems.append(
                f"{k}: moved under {section.key}: (the crew's section); indent it there"
            )
        if raw is None and section.required:
            if not moved:
                problems.append(f"{section.key}: required (the crew's section of the profile)")
        else:
            try:
                section_value = section.model.model_validate(raw if raw is not None else {})
            except ValidationError as exc:
                problems.extend(_problems(exc, section.key))
    try:
        profile = BusinessProfile.model_validate(engine_data)
    except ValidationError as exc:
        problems = _problems(exc) + problems
    if problems:
        raise ProfileError(_format_validation(source, problems))
    if section is not None:
        profile._section, profile._section_key = section_value, section.key
    return profile


def load_profile(
    path: Path | str | None = None, crew: LoadedCrew | str = "default"
) -> BusinessProfile:
    """Load a profile from `path`, or the crew's built-in one (`Crew.default_profile()`) when
    `path` is None; `crew` (loaded, or its name) types and validates its section."""
    from callcrew.crews import load_crew

    loaded = load_crew(crew) if isinstance(crew, str) else crew
    if path is None:
        builtin = loaded.default_profile()
        if builtin is None:
            raise ProfileError(
                f"crew {loaded.name!r} has no built-in business profile; set BUSINESS_PROFILE"
            )
        p, source = Path(builtin), f"(built-in) {Path(builtin).name}"
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
    return parse_profile(data, source, loaded)
