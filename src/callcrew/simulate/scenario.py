"""Scenario files: a whole rehearsed call in YAML.

The shape follows DESIGN.md ("Scenarios") and accepts the keys of LiveKit's frontdesk
`scenarios.yaml` where they fit (`label`, `instructions`, `agent_expectations`, `userdata` with
`now` and `expected_booking`), so a scenario can move between the two. Errors name the file, the
field and what is wrong.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from callcrew.call import Channel
from callcrew.phone import require_e164

# LiveKit's frontdesk example pins its simulations to this clock (a Friday, 09:00).
FRONTDESK_CLOCK = datetime(2026, 6, 12, 9, 0)


class ScenarioError(Exception):
    """A scenario file could not be read; the message names file, field and problem."""


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)


class AgentStep(BaseModel):
    """One model response: text to say, tool calls, or both.

    Shorthand: `{tool: NAME, args: {...}}` for a single call, `{say: TEXT}` for text.
    """

    model_config = ConfigDict(extra="forbid")
    say: str | None = None
    tool: str | None = None
    args: dict[str, Any] | None = None
    tools: list[ToolCall] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> AgentStep:
        if self.args is not None and self.tool is None:
            raise ValueError("'args' needs 'tool' (the name of the tool to call)")
        if not self.say and not self.tool and not self.tools:
            raise ValueError("a step needs 'say' (text) and/or 'tool'/'tools' (tool calls)")
        return self

    def tool_calls(self) -> list[ToolCall]:
        calls = list(self.tools)
        if self.tool:
            calls.insert(0, ToolCall(name=self.tool, args=self.args or {}))
        return calls

    def describe(self) -> str:
        bits = [f"{c.name}()" for c in self.tool_calls()]
        if self.say:
            bits.insert(0, repr(self.say[:40]))
        return " + ".join(bits)

    def output_text(self) -> str:
        import json

        calls = "".join(f"{c.name}{json.dumps(c.args)}" for c in self.tool_calls())
        return (self.say or "") + calls


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    caller: str = Field(min_length=1, description="what the caller says")
    agent: list[AgentStep] = Field(
        default_factory=list, description="replay: the model's responses during this turn"
    )
    # Audio rehearsals only (`simulate --audio`); a text rehearsal ignores the timing and
    # skips backchannels.
    pause_s: float | None = Field(
        None, ge=0, le=30, description="audio: silence before this line (default 0.8 s)"
    )
    barge_in_after_s: float | None = Field(
        None,
        ge=0,
        le=60,
        description="audio: start this line this long after the agent starts answering the "
        "previous one, while it is still speaking",
    )
    backchannel: bool = Field(
        False,
        description="audio: a short acknowledgement ('mm-hmm') spoken over the agent; it must "
        "not cut the agent off and gets no reply",
    )

    @model_validator(mode="after")
    def _backchannel_has_no_reply(self) -> Turn:
        if self.backchannel and self.agent:
            raise ValueError("a backchannel gets no reply: leave 'agent' empty")
        if self.backchannel and self.pause_s is not None:
            raise ValueError("a backchannel is timed by 'barge_in_after_s', not 'pause_s'")
        return self


class ExpectedAppointment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer: str | None = Field(None, description="phone (E.164) or name of the customer")
    service: str | None = None
    start: datetime = Field(description="local time at the business, e.g. 2026-06-16T09:30")
    status: Literal["booked", "cancelled"] = "booked"


class Expectations(BaseModel):
    model_config = ConfigDict(extra="forbid")
    final_agent: str | None = None
    outcome: str | None = None
    hung_up: bool | None = None
    transferred_to: str | None = None
    agents_visited: list[str] | None = None
    tools_called: list[str] | None = Field(
        None, description="in this order (others may be between)"
    )
    tools_not_called: list[str] | None = None
    tool_errors: list[str] | None = Field(None, description="substrings of ToolError messages")
    agent_said: list[str] | None = Field(None, description="substrings of what the agent said")
    appointments: list[ExpectedAppointment] | None = Field(
        None, description="every appointment in the store at the end"
    )
    customers: int | None = Field(None, ge=0, description="how many customers the store holds")
    booked_on_call: list[datetime] | None = Field(
        None, description="start times (local) of the appointments booked on this call, exactly"
    )


class SeedCustomer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    phone: str | None = None

    @field_validator("phone")
    @classmethod
    def _e164(cls, v: str | None) -> str | None:
        return None if v is None else require_e164(v)


class SeedAppointment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer: str = Field(description="phone or name of a seeded customer")
    service: str
    start: datetime = Field(description="local time at the business")
    status: Literal["booked", "cancelled"] = "booked"


class SeedData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customers: list[SeedCustomer] = Field(default_factory=list)
    appointments: list[SeedAppointment] = Field(default_factory=list)


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
    data: SeedData = Field(default_factory=SeedData)
    opening: list[AgentStep] = Field(
        default_factory=list, description="replay: model responses before the caller speaks"
    )
    turns: list[Turn] = Field(min_length=1)
    expect: Expectations = Field(default_factory=Expectations)
    replay: dict[str, float] = Field(
        default_factory=dict, description="replay timing: ttft_ms, tokens_per_s"
    )
    # Carried from LiveKit's frontdesk scenarios: the caller persona a live LLM caller would
    # play, and the judge's text. Kept and printed; our checks are `expect`.
    instructions: str | None = None
    agent_expectations: str | None = None
    tags: dict[str, Any] = Field(default_factory=dict)

    source: Path | None = Field(None, exclude=True)
    suite_index: int | None = Field(None, exclude=True)

    @field_validator("caller", "dialled")
    @classmethod
    def _e164(cls, v: str | None) -> str | None:
        return None if v is None else require_e164(v)

    @field_validator("replay")
    @classmethod
    def _replay_keys(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = set(v) - {"ttft_ms", "tokens_per_s"}
        if unknown:
            raise ValueError(f"unknown replay setting(s): {', '.join(sorted(unknown))}")
        if any(x < 0 for x in v.values()):
            raise ValueError("replay timings must not be negative")
        return v

    @model_validator(mode="before")
    @classmethod
    def _frontdesk_shape(cls, data: Any) -> Any:
        """Accept LiveKit frontdesk keys: label, userdata.now, userdata.expected_booking."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        label = data.pop("label", None)
        if label is not None and "name" not in data:
            data["name"] = label
        userdata = data.pop("userdata", None)
        if userdata is not None and not isinstance(userdata, dict):
            raise ValueError("userdata: must be a mapping (now, expected_booking)")
        if isinstance(userdata, dict):
            if "now" in userdata and "now" not in data:
                data["now"] = userdata["now"]
            if "expected_booking" in userdata:
                # frontdesk: "the single slot the agent must end up booking" (null: none).
                expect = dict(data.get("expect") or {})
                booking = userdata["expected_booking"]
                expect.setdefault("booked_on_call", [] if booking is None else [booking])
                data["expect"] = expect
            leftover = set(userdata) - {"now", "expected_booking", "available_slots"}
            if leftover:
                raise ValueError(f"userdata: unsupported key(s) {', '.join(sorted(leftover))}")
        return data

    @model_validator(mode="after")
    def _caller_for_phone(self) -> Scenario:
        if self.channel is not Channel.WEB and self.caller is None:
            raise ValueError(f"a {self.channel.value} call needs 'caller' (the phone number)")
        for appt in self.data.appointments:
            known = {c.phone for c in self.data.customers} | {c.name for c in self.data.customers}
            if appt.customer not in known:
                raise ValueError(f"data.appointments: unknown customer {appt.customer!r}")
        return self

    @property
    def label(self) -> str:
        if self.source is None:
            return self.name
        if self.suite_index is not None:
            return f"{self.source.stem}[{self.suite_index}]"
        return self.source.stem


def _format(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid scenario"]
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = str(e["msg"]).removeprefix("Value error, ")
        lines.append(f"  - {loc}: {msg}")
    return "\n".join(lines)


def parse_scenario(data: Any, source: str = "<scenario>", path: Path | None = None) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a YAML mapping")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format(source, exc)) from None
    scenario.source = path
    return scenario


def load_scenarios(path: Path | str) -> list[Scenario]:
    """One scenario per file, or a frontdesk-style suite: `scenarios:` holding a list."""
    p = Path(path)
    data = _read_yaml(p)
    if isinstance(data, dict) and isinstance(data.get("scenarios"), list):
        out = []
        for i, item in enumerate(data["scenarios"]):
            where = f"{p} (scenarios[{i}])"
            scenario = parse_scenario(item, where, p)
            scenario.suite_index = i
            out.append(scenario)
        if not out:
            raise ScenarioError(f"{p}: 'scenarios' is an empty list")
        return out
    return [parse_scenario(data, str(p), p)]


def load_scenario(path: Path | str) -> Scenario:
    p = Path(path)
    return parse_scenario(_read_yaml(p), str(p), p)


def _read_yaml(p: Path) -> Any:
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{p}: scenario file not found") from None
    except IsADirectoryError:
        raise ScenarioError(f"{p}: is a folder; give scenario files (*.yaml)") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScenarioError(f"{p}: not valid YAML{where}") from None
    return data


def expand_paths(paths: list[Path]) -> list[Path]:
    """Folders expand to their *.yaml files, sorted, so `simulate tests/scenarios` works."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            if not found:
                raise ScenarioError(f"{p}: folder holds no scenario files (*.yaml)")
            out.extend(found)
        else:
            out.append(p)
    return out
