"""The replay model's script: one `AgentStep` per model response (text, tool calls, or a
branch on the last tool result)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
