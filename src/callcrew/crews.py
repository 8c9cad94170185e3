"""Finds the crew by name and checks what it declares, so the engine never imports `agents/`.

`CREW=default` names an entry point in the `callcrew.crews` group (pyproject.toml);
`CREW=package.module:OBJECT` loads any importable crew. The loaded object is wrapped in
`LoadedCrew`, which gives every optional member of the `Crew` contract (call.py) the engine's
default, so a crew declares only what it has.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callcrew.call import (
    ENGINE_OUTCOMES,
    NAME_PATTERN,
    CallInfo,
    CallState,
    CrewContext,
    CrewOutcome,
    CrewTables,
    ProfileSection,
    ProviderFailurePlan,
    Purpose,
)
from callcrew.errors import UserError

if TYPE_CHECKING:
    from livekit.agents import Agent
    from pydantic import BaseModel

    from callcrew.profile import BusinessProfile
    from callcrew.store import Store

GROUP = "callcrew.crews"
REQUIRED = ("new_call", "first_agent", "voicemail_message")
ENGINE_PURPOSE = "custom"  # every crew can place a call that just delivers a message
ENGINE_BRANCH = "callcrew"  # the engine's Alembic branch label
LIST_NOUN = re.compile(r"^[a-z0-9']+$")  # one word as the turn detector reads it (turn_words)


class CrewNotFound(UserError):
    """The crew cannot be loaded or declares something invalid; one line, for exit 2."""


class CrewDefaults:
    """The engine's default for every optional member; a crew class may inherit it so that it
    satisfies `call.Crew` as written (crews loaded by name get them from `LoadedCrew` anyway)."""

    outcomes: Sequence[CrewOutcome] = ()
    profile_section: ProfileSection | None = None
    tables: CrewTables | None = None
    purposes: Sequence[Purpose] = ()
    rehearsal: Any = None  # simulate.crewkit.Rehearsal: the crew's scenario vocabulary
    list_nouns: frozenset[str] = frozenset()  # the engine's own list nouns only

    def on_provider_failure(self, state: CallState, block: str) -> ProviderFailurePlan:
        from callcrew.providers.recovery import callback_or_transfer

        return callback_or_transfer(state)

    def check_dispatch(self, store: Store, purpose: str, data: BaseModel) -> None:
        return None

    def seed(
        self, store: Store, data: Mapping[str, Any], now: datetime, profile: BusinessProfile
    ) -> None:
        if data:
            raise UserError(
                f"data: this crew keeps no data of its own (got {', '.join(sorted(data))})"
            )

    def snapshot(self, store: Store) -> dict[str, Any]:
        return {}

    def default_profile(self) -> Path | None:
        return None

    def demo_scenario(self) -> Path | None:
        return None


class LoadedCrew(CrewDefaults):
    """A loaded crew with the engine's defaults filled in and its declarations checked."""

    def __init__(self, crew: Any, label: str = "") -> None:
        self.crew = crew
        self.name: str = str(getattr(crew, "name", label or type(crew).__name__))
        members = ("outcomes", "profile_section", "tables", "purposes", "rehearsal", "list_nouns")
        for member in members:
            if hasattr(crew, member):
                setattr(self, member, getattr(crew, member))
        self.outcomes = tuple(self.outcomes)
        self.purposes = tuple(self.purposes)
        for hook in (
            "on_provider_failure",
            "check_dispatch",
            "seed",
            "snapshot",
            "default_profile",
            "demo_scenario",
        ):
            if callable(getattr(crew, hook, None)):
                setattr(self, hook, getattr(crew, hook))
        validate(self, label or self.name)

    async def new_call(self, info: CallInfo, ctx: CrewContext) -> CallState:
        state: CallState = await self.crew.new_call(info, ctx)
        if not state.crew_outcomes:
            state.crew_outcomes = self.outcomes
        return state

    def first_agent(self, state: CallState) -> Agent:
        agent: Agent = self.crew.first_agent(state)
        return agent

    def voicemail_message(self, state: CallState) -> str:
        return str(self.crew.voicemail_message(state))

    def purpose(self, name: str) -> Purpose | None:
        """The crew's purpose called `name` (None for the engine's "custom" or an unknown one)."""
        return next((p for p in self.purposes if p.name == name), None)

    def purpose_names(self) -> list[str]:
        return [ENGINE_PURPOSE, *(p.name for p in self.purposes)]

    def outcome_names(self) -> list[str]:
        """Every outcome a report of this crew may carry: the engine's, then the crew's."""
        return sorted(ENGINE_OUTCOMES) + [o.name for o in self.outcomes]


def validate(crew: LoadedCrew, label: str) -> None:
    """Raise CrewNotFound (one line) for a declaration the engine cannot honour."""
    from callcrew.profile import BusinessProfile

    where = f"CREW={label!r}"
    seen: set[str] = set()
    for o in crew.outcomes:
        if not isinstance(o, CrewOutcome):
            raise CrewNotFound(f"{where}: outcomes must be CrewOutcome objects (got {o!r})")
        if not NAME_PATTERN.match(o.name):
            raise CrewNotFound(f"{where}: outcome {o.name!r} must match {NAME_PATTERN.pattern}")
        if o.name in ENGINE_OUTCOMES:
            raise CrewNotFound(f"{where}: outcome {o.name!r} is already the engine's")
        if o.name in seen:
            raise CrewNotFound(f"{where}: outcome {o.name!r} is declared twice")
        seen.add(o.name)
    seen = {ENGINE_PURPOSE}
    for p in crew.purposes:
        if not isinstance(p, Purpose):
            raise CrewNotFound(f"{where}: purposes must be Purpose objects (got {p!r})")
        if not NAME_PATTERN.match(p.name):
            raise CrewNotFound(f"{where}: purpose {p.name!r} must match {NAME_PATTERN.pattern}")
        if p.name in seen:
            raise CrewNotFound(f"{where}: purpose {p.name!r} is the engine's or declared twice")
        seen.add(p.name)
    crew.list_nouns = _list_nouns(crew.list_nouns, where)
    section = crew.profile_section
    if section is not None:
        if not NAME_PATTERN.match(section.key):
            raise CrewNotFound(
                f"{where}: profile section key {section.key!r} must match {NAME_PATTERN.pattern}"
            )
        if section.key in BusinessProfile.model_fields:
            raise CrewNotFound(
                f"{where}: profile section {section.key!r} clashes with the engine's profile "
                "field of that name"
            )
    tables = crew.tables
    if tables is not None:
        if tables.branch == ENGINE_BRANCH or not NAME_PATTERN.match(tables.branch):
            raise CrewNotFound(
                f"{where}: table branch {tables.branch!r} must match {NAME_PATTERN.pattern} "
                f"and not be the engine's {ENGINE_BRANCH!r}"
            )
        if not Path(tables.migrations).is_dir():
            raise CrewNotFound(f"{where}: migrations directory {tables.migrations} is missing")


def _list_nouns(nouns: Any, where: str) -> frozenset[str]:
    # A bare string would be read as its letters; the detector compares lower-case words.
    if isinstance(nouns, str) or not isinstance(nouns, set | frozenset | list | tuple):
        raise CrewNotFound(f"{where}: list_nouns must be a set of words (got {nouns!r})")
    for noun in nouns:
        if not isinstance(noun, str) or not LIST_NOUN.match(noun):
            raise CrewNotFound(
                f"{where}: list noun {noun!r} must be one lower-case word ({LIST_NOUN.pattern})"
            )
    return frozenset(nouns)


def load_crew(name: str = "default") -> LoadedCrew:
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise CrewNotFound(f"CREW={name!r}: cannot load it ({exc})") from None
    else:
        found = {ep.name: ep for ep in entry_points(group=GROUP)}
        if name not in found:
            known = (
                ", ".join(sorted(found)) or "none (is callcrew installed with pip install -e .?)"
            )
            raise CrewNotFound(f"CREW={name!r}: no such crew; installed crews: {known}")
        obj = found[name].load()
    if isinstance(obj, LoadedCrew):
        return obj
    missing = [m for m in REQUIRED if not hasattr(obj, m)]
    if missing:
        raise CrewNotFound(f"CREW={name!r}: {obj!r} has no {', '.join(m + '()' for m in missing)}")
    return LoadedCrew(obj, name)


def known_outcomes(name: str) -> list[str]:
    """The outcomes a report may carry with crew `name` (the engine's alone if it cannot be
    loaded: a filter over stored reports should not need a working crew)."""
    try:
        return load_crew(name).outcome_names()
    except CrewNotFound:
        return sorted(ENGINE_OUTCOMES)
