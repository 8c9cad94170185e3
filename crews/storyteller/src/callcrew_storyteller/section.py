"""The storyteller's part of the business profile (`story:`), typed and validated."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from callcrew.providers.agent_providers import AgentProviders

Theme = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
AgentName = Literal["intro", "story"]

# How long a story runs, as the story agent is told it (a phone story must stay short).
LENGTHS: dict[str, str] = {
    "short": "about six sentences",
    "medium": "about twelve sentences, in two or three parts",
}


class StorySection(BaseModel):
    """`story:` in the profile. Every field has a default, so the section may be left out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    storyteller: str = Field("Echo", min_length=1, max_length=40, description="who tells")
    length: Literal["short", "medium"] = "short"
    themes: list[Theme] = Field(
        default_factory=lambda: ["a lighthouse that lost its light", "a very polite dragon"],
        min_length=1,
        max_length=12,
    )
    # Said in the story agent's own voice after the story; {name} is the listener's.
    goodbye: str = Field(
        "Thank you for listening, {name}. Sleep well!", min_length=1, max_length=200
    )
    # Per-agent providers: e.g. the story agent on a stronger LLM and a warmer voice.
    agents: dict[AgentName, AgentProviders] = Field(default_factory=dict)

    def farewell(self, name: str | None) -> str:
        return self.goodbye.replace("{name}", name or "friend")
