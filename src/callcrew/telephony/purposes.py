"""Why an outbound call is made: the crew's purposes, their data and the dial's clear errors.

A crew declares its purposes (`Crew.purposes`, each with a pydantic `data` model); the engine
always has `custom`, whose data is free-form. `dial --purpose P --data key=value` and a
campaign's CSV columns fill `data`, which is validated here against the purpose's model so a
wrong or missing field is one line naming the purpose's fields, before anything is dispatched.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from callcrew.call import Purpose
from callcrew.crews import ENGINE_PURPOSE, LoadedCrew


class CustomData(BaseModel):
    """The engine's `custom` purpose: any fields, handed to the crew as they are."""

    model_config = ConfigDict(extra="allow")


CUSTOM = Purpose(ENGINE_PURPOSE, "a call the crew opens from its data alone", CustomData)


def all_purposes(crew: LoadedCrew) -> list[Purpose]:
    """The engine's `custom`, then the crew's own."""
    return [CUSTOM, *crew.purposes]


def purpose_names(crew: LoadedCrew) -> list[str]:
    return [p.name for p in all_purposes(crew)]


def find_purpose(crew: LoadedCrew, name: str) -> Purpose:
    """The purpose called `name`; ValueError naming the ones there are."""
    for p in all_purposes(crew):
        if p.name == name:
            return p
    raise ValueError(f"purpose {name!r} is not one of {', '.join(purpose_names(crew))}")


def describe_fields(model: type[BaseModel]) -> str:
    """`order_id (required: the order the call is about), note` for an error."""
    parts = []
    for name, info in model.model_fields.items():
        notes = [n for n in ("required" if info.is_required() else "", info.description) if n]
        parts.append(f"{name} ({': '.join(notes)})" if notes else name)
    if model.model_config.get("extra") == "allow":
        parts.append("any other key=value")
    return ", ".join(parts) or "none"


def _problems(exc: ValidationError) -> str:
    out = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = str(e["msg"]).removeprefix("Value error, ")
        out.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(out)


def validate_data(purpose: Purpose, data: dict[str, Any]) -> dict[str, Any]:
    """The purpose's data as it goes into the dispatch (JSON-ready); ValueError naming the
    purpose, what is wrong and the fields it takes."""
    try:
        model = purpose.data.model_validate(data)
    except ValidationError as exc:
        raise ValueError(
            f"purpose {purpose.name!r}: {_problems(exc)} "
            f"(its data: {describe_fields(purpose.data)})"
        ) from None
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return dumped


def parse_pairs(pairs: list[str], option: str = "--data") -> dict[str, str]:
    """`key=value` arguments as a mapping; ValueError for one that is not."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"{option} {pair!r} is not key=value (like {option} note=hello)")
        if key in out:
            raise ValueError(f"{option} {key} is given twice")
        out[key] = value
    return out
