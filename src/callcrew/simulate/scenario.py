"""Scenario files: a whole rehearsed call in YAML.

The shape follows DESIGN.md ("Scenarios") and accepts the keys of LiveKit's frontdesk
`scenarios.yaml` where they fit (`label`, `instructions`, `agent_expectations`, `userdata` with
`now`; the crew maps its other `userdata` keys), so a scenario can move between the two. The
crew's own keys (`data:`, its `expect:` keys) are mixed in from its `Rehearsal`
(simulate/crewkit.py) when a file loads. Errors name the file, the field and what is wrong.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from callcrew import yamlio
from callcrew.call import Channel
from callcrew.phone import require_e164
from callcrew.simulate.crewkit import crew_keys, kit_in, rehearsal_of
from callcrew.simulate.expectations import Expectations, TurnExpect
from callcrew.simulate.steps import AgentStep, ToolCall, Turn

if TYPE_CHECKING:
    from callcrew.crews import LoadedCrew

__all__ = ["AgentStep", "Expectations", "ToolCall", "Turn", "TurnExpect"]

# The top-level keys that make a YAML mapping a scenario file (see `is_scenario_data`).
# `instructions`: a caller for `--caller-llm`, with no scripted turns.
SCENARIO_KEYS = ("turns", "calls", "scenarios", "instructions")
# What a call of a `calls:` scenario takes from the file when it does not say.
INHERITED_KEYS = ("channel", "caller", "dialled", "now", "profile", "task", "replay")

# LiveKit's frontdesk example pins its simulations to this clock (a Friday, 09:00).
FRONTDESK_CLOCK = datetime(2026, 6, 12, 9, 0)

# Times must leave room for time-zone conversion and the weeks a desk looks ahead: near
# datetime.max (9999-12-31) they overflow, so a rehearsal clock stays in this range.
_EARLIEST, _LATEST = datetime(1970, 1, 1), datetime(9000, 1, 1)
# Replay timings: a rehearsal must end; an hour-long first token is already a mistake.
_MAX_TTFT_MS, _MAX_TOKENS_PER_S = 60_000.0, 1_000_000.0


def _in_range(v: datetime) -> datetime:
    if not _EARLIEST <= v.replace(tzinfo=None) < _LATEST:
        raise ValueError(f"must be between {_EARLIEST:%Y-%m-%d} and {_LATEST:%Y-%m-%d}")
    return v


class ScenarioError(Exception):
    """A scenario file could not be read; the message names file, field and problem."""


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    channel: Channel = Channel.INBOUND
    caller: str | None = Field(None, description="caller ID, E.164")
    dialled: str | None = None
    now: datetime = Field(
        default=FRONTDESK_CLOCK,
        description="the frozen clock, local time at the business (default: frontdesk's clock)",
    )
    profile: Path | dict[str, Any] | None = Field(
        None, description="business profile: a path (relative to the scenario) or overrides"
    )
    task: str | None = None
    data: Any = Field(
        default_factory=dict, description="the crew's records to seed the store with (crew.seed)"
    )
    opening: list[AgentStep] = Field(
        default_factory=list, description="replay: model responses before the caller speaks"
    )
    turns: list[Turn] = Field(
        default_factory=list, description="scripted caller lines (or 'instructions' for an LLM)"
    )
    expect: Expectations = Field(default_factory=Expectations)
    replay: dict[str, float] = Field(
        default_factory=dict, description="replay timing: ttft_ms, tokens_per_s"
    )
    # From LiveKit's frontdesk scenarios: the persona `simulate --caller-llm` plays, the text
    # the judge grades (`--judge`), tags for `--tag`.
    instructions: str | None = Field(None, description="the caller persona and goals")
    agent_expectations: str | None = Field(None, description="what the judge LLM checks")
    tags: dict[str, Any] = Field(default_factory=dict)
    judges: list[str] | None = Field(None, description="named judges (default: the standard set)")

    source: Path | None = Field(None, exclude=True)
    suite_index: int | None = Field(None, exclude=True)
    call_index: int | None = Field(None, exclude=True)

    @field_validator("caller", "dialled")
    @classmethod
    def _e164(cls, v: str | None) -> str | None:
        return None if v is None else require_e164(v)

    @field_validator("turns")
    @classmethod
    def _turns_given(cls, v: list[Turn]) -> list[Turn]:
        # Only an explicit `turns: []` gets here (the default is not validated).
        if not v:
            raise ValueError(
                "List should have at least 1 item (a caller line); for an LLM-played caller "
                "leave 'turns' out and give 'instructions'"
            )
        return v

    @field_validator("judges")
    @classmethod
    def _known_judges(cls, v: list[str] | None, info: ValidationInfo) -> list[str] | None:
        from callcrew.simulate.judge_names import JUDGE_NAMES

        known = [*JUDGE_NAMES, *kit_in(info).judges]
        unknown = [j for j in v or [] if j not in known]
        if unknown:
            raise ValueError(f"unknown judge(s) {', '.join(unknown)}; known: {', '.join(known)}")
        return v

    @field_validator("replay")
    @classmethod
    def _replay_keys(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = set(v) - {"ttft_ms", "tokens_per_s"}
        if unknown:
            raise ValueError(f"unknown replay setting(s): {', '.join(sorted(unknown))}")
        if any(not 0 <= x < float("inf") for x in v.values()):
            raise ValueError("replay timings must be finite and not negative")
        if v.get("ttft_ms", 0) > _MAX_TTFT_MS:
            raise ValueError(f"ttft_ms must be at most {_MAX_TTFT_MS:.0f} (one minute)")
        rate = v.get("tokens_per_s", 0)
        if rate and not 1 <= rate <= _MAX_TOKENS_PER_S:
            raise ValueError("tokens_per_s must be 0 (no pacing) or between 1 and 1000000")
        return v

    _range = field_validator("now")(_in_range)

    @model_validator(mode="before")
    @classmethod
    def _frontdesk_shape(cls, data: Any, info: ValidationInfo) -> Any:
        """Accept LiveKit frontdesk keys: label, userdata.now; the crew maps the rest of
        `userdata` (the desk: available_slots, expected_booking)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        label = data.pop("label", None)
        if label is not None and "name" not in data:
            data["name"] = label
        if label is not None and "caller" not in data and "channel" not in data:
            # frontdesk is a web agent and its scenarios give no phone number.
            data["channel"] = Channel.WEB.value
        userdata = data.pop("userdata", None)
        if userdata is not None and not isinstance(userdata, dict):
            raise ValueError("userdata: must be a mapping (now, and the crew's keys)")
        if isinstance(userdata, dict):
            userdata = dict(userdata)
            if "now" in userdata and "now" not in data:
                data["now"] = userdata["now"]
            userdata.pop("now", None)
            hook = kit_in(info).frontdesk
            if userdata and hook is None:
                raise ValueError(f"userdata: unsupported key(s) {', '.join(sorted(userdata))}")
            if userdata and hook is not None:
                seed, expect = hook(userdata)
                if seed:
                    given = data.get("data")
                    data["data"] = {**seed, **(given if isinstance(given, dict) else {})}
                if expect:
                    given = data.get("expect")
                    data["expect"] = {**expect, **(given if isinstance(given, dict) else {})}
        return data

    @model_validator(mode="after")
    def _caller_for_phone(self) -> Scenario:
        if isinstance(self, CallsScenario):
            return self  # each call says (or inherits) its own
        if not self.turns and not self.instructions:
            raise ValueError(
                "needs 'turns' (scripted caller lines) or 'instructions' (a caller persona for "
                "simulate --caller-llm)"
            )
        if self.channel is not Channel.WEB and self.caller is None:
            raise ValueError(f"a {self.channel.value} call needs 'caller' (the phone number)")
        return self

    def seed_data(self) -> dict[str, Any]:
        """The `data:` block as the crew's `seed` takes it."""
        if isinstance(self.data, BaseModel):
            return self.data.model_dump(exclude_unset=True)
        return dict(self.data or {})

    @property
    def label(self) -> str:
        if self.source is None:
            base = self.name
        elif self.suite_index is not None:
            base = f"{self.source.stem}[{self.suite_index}]"
        else:
            base = self.source.stem
        return base if self.call_index is None else f"{base} call {self.call_index + 1}"

    def set_source(self, path: Path | None, suite_index: int | None = None) -> None:
        self.source, self.suite_index = path, suite_index
        if isinstance(self, CallsScenario):
            for call in self.calls:
                call.source, call.suite_index = path, suite_index


class CallsScenario(Scenario):
    """Several calls against one store (`calls:`), run in sequence or together (group.py).
    Each call is a scenario of its own and takes channel, caller, clock, profile, task and
    replay timing from the file when it does not set them; the file seeds `data` once and its
    `expect` checks the shared store after every call."""

    turns: list[Turn] = Field(default_factory=list)
    calls: list[Scenario] = Field(min_length=1)
    run: Literal["sequence", "together"] = Field(
        "sequence", description="one call after another, or at once (caller lines in lockstep)"
    )

    @model_validator(mode="before")
    @classmethod
    def _calls_inherit(cls, data: Any) -> Any:
        """Each call of a `calls:` scenario takes channel, caller, clock... from the file."""
        if not isinstance(data, dict) or not isinstance(data.get("calls"), list):
            return data
        data = dict(data)
        calls = []
        for i, call in enumerate(data["calls"]):
            if not isinstance(call, dict):
                calls.append(call)
                continue
            call = dict(call)
            for key in ("data", "calls", "run"):
                if key in call:
                    raise ValueError(
                        f"calls[{i}]: {key!r} belongs at the top of the file (one store, "
                        "seeded once)"
                    )
            for key in INHERITED_KEYS:
                if key in data and key not in call:
                    call[key] = data[key]
            call.setdefault("name", f"{data.get('name') or data.get('label')} (call {i + 1})")
            calls.append(call)
        data["calls"] = calls
        return data

    @model_validator(mode="after")
    def _store_level_expect(self, info: ValidationInfo) -> CallsScenario:
        if self.turns or self.opening:
            raise ValueError("'turns' and 'opening' go inside each of the 'calls'")
        shared = {"store", *crew_keys(kit_in(info), "store")}
        per_call = sorted(k for k in self.expect.model_fields_set if k not in shared)
        if per_call:
            raise ValueError(
                f"expect: {', '.join(per_call)} belong(s) under each call; the file's expect "
                f"checks the shared store ({', '.join(sorted(shared))})"
            )
        for i, call in enumerate(self.calls):
            call.call_index = i
        return self


def _format(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid scenario"]
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = str(e["msg"]).removeprefix("Value error, ")
        lines.append(f"  - {loc}: {msg}")
    return "\n".join(lines)


def parse_scenario(
    data: Any,
    source: str = "<scenario>",
    path: Path | None = None,
    crew: LoadedCrew | None = None,
) -> Scenario:
    """A scenario for `crew` (default: the default crew), its errors in one ScenarioError."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a YAML mapping")
    if crew is None:
        from callcrew.crews import load_crew

        crew = load_crew()
    from callcrew.simulate.scenario_models import scenario_models

    kit = rehearsal_of(crew)
    one, calls = scenario_models(kit)
    model = calls if "calls" in data else one
    context = {"rehearsal": kit, "outcomes": set(crew.outcome_names())}
    try:
        scenario = model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ScenarioError(_format(source, exc)) from None
    scenario.set_source(path)
    return scenario


def load_scenarios(path: Path | str, crew: LoadedCrew | None = None) -> list[Scenario]:
    """One scenario per file, or a frontdesk-style suite: `scenarios:` holding a list."""
    p = Path(path)
    data = _read_yaml(p)
    if isinstance(data, dict) and isinstance(data.get("scenarios"), list):
        out = []
        for i, item in enumerate(data["scenarios"]):
            where = f"{p} (scenarios[{i}])"
            scenario = parse_scenario(item, where, p, crew)
            scenario.set_source(p, i)
            out.append(scenario)
        if not out:
            raise ScenarioError(f"{p}: 'scenarios' is an empty list")
        return out
    return [parse_scenario(data, str(p), p, crew)]


def load_scenario(path: Path | str, crew: LoadedCrew | None = None) -> Scenario:
    p = Path(path)
    return parse_scenario(_read_yaml(p), str(p), p, crew)


def is_scenario_data(data: Any) -> bool:
    """A YAML document is a scenario file when its top level is a mapping with `turns:` (one
    call), `calls:` (several calls on one store), `scenarios:` (a suite) or `instructions:` (a
    caller an LLM plays). Anything else in a
    scenario folder (a business profile, a sip.yaml) is not one."""
    return isinstance(data, dict) and any(k in data for k in SCENARIO_KEYS)


def _read_yaml(p: Path) -> Any:
    if p.is_dir():
        raise ScenarioError(f"{p}: is a folder; give scenario files (*.yaml)")
    try:
        return yamlio.load(yamlio.read_text(p))
    except FileNotFoundError:
        raise ScenarioError(f"{p}: scenario file not found") from None
    except yamlio.YamlFileError as exc:
        raise ScenarioError(f"{p}: {exc.reason}") from None


def expand_paths(paths: list[Path], skipped: list[Path] | None = None) -> list[Path]:
    """Folders expand to their scenario files (*.yaml, *.yml), sorted, so `simulate
    tests/scenarios` works. Other YAML in a folder (see `is_scenario_data`) is left out and
    listed in `skipped`; a file named on its own is always read as a scenario."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            scenarios = [f for f in found if is_scenario_data(_read_yaml(f))]
            if skipped is not None:
                skipped.extend(f for f in found if f not in scenarios)
            if not scenarios:
                raise ScenarioError(
                    f"{p}: folder holds no scenario files (*.yaml with turns:, calls: or "
                    "scenarios:)"
                )
            out.extend(scenarios)
        else:
            out.append(p)
    return out
