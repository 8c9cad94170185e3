"""The crew's part of a scenario: its `data:`, its own `expect:` keys and their checks, judges.

A crew may declare `rehearsal = Rehearsal(...)`; without one, its scenarios use only the
engine's keys (`expect: store:` and `expect: crew:` match the crew's data generically, by
subset). The crew's `expect:` models are mixed into the engine's, so a crew key is validated
(and its errors located: `expect.orders.0.total: Field required`) when the file loads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationInfo

if TYPE_CHECKING:
    from callcrew.crews import LoadedCrew
    from callcrew.profile import BusinessProfile


@dataclass(frozen=True)
class CheckView:
    """What a crew's checks see at one check point: its records and the call's crew data."""

    snapshot: dict[str, Any]  # crew.snapshot(store) at this point
    crew: dict[str, Any]  # the report's crew section (after a turn: the call's so far)
    profile: BusinessProfile
    call_id: str | None  # the call checked; None for a `calls:` file's shared store
    where: str = ""  # prefix for each failure line ("after caller line 2: ")


# The scenario's `data:` block (validated by the crew) and the business profile, to the profile
# the rehearsal runs on (the desk widens opening hours for frontdesk's `available_slots`).
ProfileHook = Callable[["BusinessProfile", Mapping[str, Any]], "BusinessProfile"]
# frontdesk `userdata` keys other than `now` -> (additions to `data:`, additions to `expect:`);
# ValueError for a key the crew does not take.
FrontdeskHook = Callable[[Mapping[str, Any]], tuple[dict[str, Any], dict[str, Any]]]


@dataclass(frozen=True)
class Rehearsal:
    """A crew's scenario vocabulary. Each `*_expect` model holds only the crew's keys; a turn's
    model should extend the store's, and the end-of-call model the turn's."""

    data: type[BaseModel] | None = None  # `data:`, checked when the file loads
    store_expect: type[BaseModel] | None = None  # also a `calls:` file's (the shared store)
    turn_expect: type[BaseModel] | None = None  # a turn's `expect:`
    call_expect: type[BaseModel] | None = None  # the call's `expect:`
    check: Callable[[BaseModel, CheckView], list[str]] | None = None
    profile: ProfileHook | None = None
    frontdesk: FrontdeskHook | None = None
    judges: Mapping[str, str] = field(default_factory=dict)  # name -> criteria
    default_judges: tuple[str, ...] | None = None  # None: the engine's default set
    role: str | None = None  # the agent's goal for the judges; {business} is filled in


NO_REHEARSAL = Rehearsal()


def rehearsal_of(crew: LoadedCrew) -> Rehearsal:
    kit = getattr(crew, "rehearsal", None) or getattr(crew.crew, "rehearsal", None)
    return kit if isinstance(kit, Rehearsal) else NO_REHEARSAL


def kit_in(info: ValidationInfo) -> Rehearsal:
    """The crew's kit a scenario loader passed in the validation context."""
    kit = (info.context or {}).get("rehearsal")
    return kit if isinstance(kit, Rehearsal) else NO_REHEARSAL


def crew_keys(kit: Rehearsal, level: str) -> set[str]:
    """The crew's own `expect:` keys at `level` (store, turn or call)."""
    model = {"store": kit.store_expect, "turn": kit.turn_expect, "call": kit.call_expect}[level]
    return set(model.model_fields) if model is not None else set()


# --- subset matching (`expect: store:` and `expect: crew:`) ----------------------------------


def _as_local(value: datetime, profile: BusinessProfile) -> datetime:
    return value.astimezone(profile.tz).replace(tzinfo=None) if value.tzinfo else value


def _scalar_matches(want: Any, got: Any, profile: BusinessProfile) -> bool:
    if isinstance(got, datetime):
        if isinstance(want, str):
            try:
                want = datetime.fromisoformat(want)
            except ValueError:
                return False
        if isinstance(want, datetime):
            return _as_local(want, profile) == _as_local(got, profile)
        return False
    if isinstance(want, bool) or isinstance(got, bool):
        return want is got
    return bool(want == got)


def subset_problem(want: Any, got: Any, profile: BusinessProfile, path: str) -> str | None:
    """Why `got` does not contain `want`, or None. A mapping matches when each of its keys does;
    a list when it has as many items and each wanted item matches a different actual one (in
    any order); a number against a list is its length; times compare in the business's zone."""
    if isinstance(want, Mapping):
        if not isinstance(got, Mapping):
            return f"{path}: expected a mapping, got {got!r}"
        for key, value in want.items():
            if key not in got:
                return f"{path}.{key}: missing (has {', '.join(map(str, got)) or 'nothing'})"
            problem = subset_problem(value, got[key], profile, f"{path}.{key}")
            if problem:
                return problem
        return None
    if isinstance(got, list):
        if isinstance(want, int) and not isinstance(want, bool):
            return None if len(got) == want else f"{path}: expected {want} item(s), got {len(got)}"
        if not isinstance(want, list):
            return f"{path}: expected {want!r}, got a list of {len(got)}"
        if len(want) != len(got):
            return f"{path}: expected {len(want)} item(s), got {len(got)}: {got!r}"
        left = list(got)
        for i, item in enumerate(want):
            hit = next(
                (j for j, g in enumerate(left) if subset_problem(item, g, profile, "") is None),
                None,
            )
            if hit is None:
                return f"{path}[{i}]: no item matches {item!r} (items: {got!r})"
            left.pop(hit)
        return None
    if not _scalar_matches(want, got, profile):
        return f"{path}: expected {want!r}, got {got!r}"
    return None
