"""What post-call analysis extracts: the business profile's optional `analysis:` section.

    analysis:
      summary: "Two sentences: who called, what they wanted, what was done."
      success: "The caller left with what they called for, or was put through to a person."
      data:
        topic: {type: string, description: "what the caller asked about"}
        resolved: {type: boolean, description: "the caller's request was settled on the call"}

Kept apart from metrics/analysis.py so loading a profile does not load the LLM client.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

FieldType = Literal["string", "number", "integer", "boolean"]


class AnalysisField(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: FieldType = "string"
    description: str = Field(min_length=1, max_length=500)
    enum: list[str] | None = Field(None, description="allowed values (strings only)")


class AnalysisSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    summary: str = Field(
        "Two or three sentences: who called, what they wanted, and what was done.",
        min_length=1,
        max_length=1000,
    )
    success: str = Field(
        "The caller's need was met on the call, or they were correctly handed to a person or "
        "told clearly why it could not be done.",
        min_length=1,
        max_length=1000,
    )
    data: dict[str, AnalysisField] = Field(default_factory=dict, max_length=30)

    @field_validator("data")
    @classmethod
    def _names(cls, v: dict[str, AnalysisField]) -> dict[str, AnalysisField]:
        import re

        bad = [k for k in v if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", k)]
        if bad:
            raise ValueError(f"field names must be snake_case identifiers: {', '.join(bad)}")
        return v
