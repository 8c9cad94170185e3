"""A scenario's turns: the caller's line, the replay model's script for it (one `AgentStep` per
model response: text, tool calls, or a branch on the last tool result) and its checks."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from callcrew.simulate.expectations import TurnExpect


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)


class AgentStep(BaseModel):
    """One model response: text to say, tool calls, or both.

    Shorthand: `{tool: NAME, args: {...}}` for a single call, `{say: TEXT}` for text.
    A branch `{when_ok: [...], when_error: [...]}` is replaced by one of its lists, chosen by
    the last tool result the model saw (an error or not), so a script can follow "the slot was
    just taken" as well as "booked".
    """

    model_config = ConfigDict(extra="forbid")
    say: str | None = None
    tool: str | None = None
    args: dict[str, Any] | None = None
    tools: list[ToolCall] = Field(default_factory=list)
    when_ok: list[AgentStep] | None = None
    when_error: list[AgentStep] | None = None

    @model_validator(mode="after")
    def _something(self) -> AgentStep:
        if self.args is not None and self.tool is None:
            raise ValueError("'args' needs 'tool' (the name of the tool to call)")
        if self.is_branch:
            if self.say or self.tool or self.tools:
                raise ValueError(
                    "a branch step holds only 'when_ok' and/or 'when_error' (lists of steps)"
                )
            return self
        if not self.say and not self.tool and not self.tools:
            raise ValueError(
                "a step needs 'say' (text) and/or 'tool'/'tools' (tool calls), or is a branch "
                "('when_ok' / 'when_error')"
            )
        return self

    @property
    def is_branch(self) -> bool:
        return self.when_ok is not None or self.when_error is not None

    def branch(self, last_was_error: bool) -> list[AgentStep]:
        chosen = self.when_error if last_was_error else self.when_ok
        return list(chosen or [])

    def tool_calls(self) -> list[ToolCall]:
        calls = list(self.tools)
        if self.tool:
            calls.insert(0, ToolCall(name=self.tool, args=self.args or {}))
        return calls

    def describe(self) -> str:
        if self.is_branch:
            return "when_ok/when_error branch"
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
    expect: TurnExpect | None = Field(
        None, description="checked right after this line (text rehearsals): store, tools, ..."
    )

    @model_validator(mode="after")
    def _backchannel_has_no_reply(self) -> Turn:
        if self.backchannel and self.agent:
            raise ValueError("a backchannel gets no reply: leave 'agent' empty")
        if self.backchannel and self.pause_s is not None:
            raise ValueError("a backchannel is timed by 'barge_in_after_s', not 'pause_s'")
        return self
