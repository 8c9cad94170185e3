"""What a scenario may expect: at the end of a call (`expect:`), after one caller line (a
turn's `expect:`), and of the shared store after several calls (a `calls:` scenario's `expect:`).

Checked by `checks.py`; every key is documented in the README's scenario section.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ACTION_NAMES = ("booked", "moved", "cancelled", "listed", "message_taken", "transferred")


class ExpectedAppointment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer: str | None = Field(None, description="phone (E.164) or name of the customer")
    service: str | None = None
    start: datetime = Field(description="local time at the business, e.g. 2026-06-16T09:30")
    status: Literal["booked", "cancelled"] = "booked"


def _as_list(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


class StoreExpect(BaseModel):
    """The store's contents: what a `calls:` scenario checks after all its calls."""

    model_config = ConfigDict(extra="forbid")
    appointments: list[ExpectedAppointment] | None = Field(
        None, description="every appointment in the store"
    )
    customers: int | None = Field(None, ge=0, description="how many customers the store holds")


class TurnExpect(StoreExpect):
    """Checked right after one caller line: the store then, and what that turn did."""

    outcome: str | None = Field(None, description="the call's outcome so far")
    tools_called: list[str] | dict[str, int] | None = Field(
        None, description="a list: in this order (others may be between); a map: exact counts"
    )
    tools_not_called: list[str] | None = None
    tool_errors: list[str] | None = Field(None, description="substrings of ToolError messages")
    agent_said: list[str] | None = Field(None, description="substrings of what the agent said")
    actions: list[str] | None = Field(None, description="the call's actions so far, in order")

    @field_validator("tools_called")
    @classmethod
    def _counts(cls, v: list[str] | dict[str, int] | None) -> list[str] | dict[str, int] | None:
        if isinstance(v, dict) and any(n < 0 for n in v.values()):
            raise ValueError("tool counts must not be negative")
        return v

    @field_validator("actions")
    @classmethod
    def _known_actions(cls, v: list[str] | None) -> list[str] | None:
        unknown = sorted(set(v or []) - set(ACTION_NAMES))
        if unknown:
            raise ValueError(
                f"unknown action(s) {', '.join(unknown)}; actions are {', '.join(ACTION_NAMES)}"
            )
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
    changes: list[str] | None = Field(
        None, description="substrings of the report's changes (crew.changes), in this order"
    )
    message_for_staff: str | None = Field(
        None, description="substring of the message taken for the team"
    )
    crew: dict[str, Any] | None = Field(
        None, description="keys of the report's crew data and their exact values"
    )
    booked_on_call: list[datetime] | None = Field(
        None, description="start times (local) of the appointments booked on this call, exactly"
    )

    @field_validator("outcome_not", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return _as_list(v)

    @field_validator("within_turns")
    @classmethod
    def _positive(cls, v: dict[str, int] | None) -> dict[str, int] | None:
        if v and any(n < 1 for n in v.values()):
            raise ValueError("within_turns counts caller lines from 1")
        return v
