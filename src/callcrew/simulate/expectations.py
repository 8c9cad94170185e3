"""What a scenario may expect: at the end of a call (`expect:`), after one caller line (a
turn's `expect:`), and of the shared store after several calls (a `calls:` scenario's `expect:`).

Checked by `checks.py`; every key is documented in the README's scenario section. These are
the engine's keys; a crew adds its own (simulate/crewkit.py), mixed in when a file loads.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


def _as_list(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


def known_outcome(value: str, info: ValidationInfo) -> str:
    """An outcome the engine or the loaded crew has (the loader passes them as context)."""
    known = (info.context or {}).get("outcomes")
    if known and value not in known:
        raise ValueError(f"unknown outcome {value!r}; one of {', '.join(sorted(known))}")
    return value


class StoreExpect(BaseModel):
    """The crew's records: what a `calls:` scenario checks after all its calls."""

    model_config = ConfigDict(extra="forbid")
    store: dict[str, Any] | None = Field(
        None, description="a subset of the crew's records (crew.snapshot), matched by subset"
    )


class TurnExpect(StoreExpect):
    """Checked right after one caller line: the store then, and what that turn did."""

    outcome: str | None = Field(None, description="the call's outcome so far")
    tools_called: list[str] | dict[str, int] | None = Field(
        None, description="a list: in this order (others may be between); a map: exact counts"
    )
    tools_not_called: list[str] | None = None
    tool_errors: list[str] | None = Field(None, description="substrings of ToolError messages")
    agent_said: list[str] | None = Field(None, description="substrings of what the agent said")
    crew: dict[str, Any] | None = Field(
        None, description="a subset of the report's crew data (after a turn: so far)"
    )

    @field_validator("outcome")
    @classmethod
    def _known(cls, v: str | None, info: ValidationInfo) -> str | None:
        return None if v is None else known_outcome(v, info)

    @field_validator("tools_called")
    @classmethod
    def _counts(cls, v: list[str] | dict[str, int] | None) -> list[str] | dict[str, int] | None:
        if isinstance(v, dict) and any(n < 0 for n in v.values()):
            raise ValueError("tool counts must not be negative")
        return v


class Expectations(TurnExpect):
    """Checked when the call is over, against the call report and the store."""

    final_agent: str | None = None
    outcome: str | None = Field(None, description="the report's outcome")
    outcome_not: list[str] | None = Field(None, description="outcomes the report must not have")
    hung_up: bool | None = None
    transferred_to: str | None = None
    ended_by: str | None = Field(None, description="the report's ended_by")
    agents_visited: list[str] | None = None
    within_turns: dict[str, int] | None = Field(
        None, description="tool -> first called by caller line N (1 = the first line)"
    )
    opening_said: list[str] | None = Field(
        None, description="substrings said before the caller's first line, in this order"
    )

    @field_validator("outcome_not", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return _as_list(v)

    @field_validator("outcome_not")
    @classmethod
    def _known_not(cls, v: list[str] | None, info: ValidationInfo) -> list[str] | None:
        return None if v is None else [known_outcome(o, info) for o in v]

    @field_validator("within_turns")
    @classmethod
    def _positive(cls, v: dict[str, int] | None) -> dict[str, int] | None:
        if v and any(n < 1 for n in v.values()):
            raise ValueError("within_turns counts caller lines from 1")
        return v
