"""The typed userdata both agents of the storyteller share (one object per call)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from callcrew.call import CallState, CrewOutcome
from callcrew_storyteller.outcomes import STORY_OUTCOMES
from callcrew_storyteller.section import StorySection


@dataclass
class StoryData(CallState):
    section: StorySection = field(default_factory=StorySection)
    listener: str | None = None
    location: str | None = None
    theme: str | None = None
    title: str | None = None
    story_id: int | None = None  # the row in stories_told
    crew_outcomes: Sequence[CrewOutcome] = STORY_OUTCOMES

    def report_extras(self) -> dict[str, Any]:
        return {
            "listener": self.listener,
            "location": self.location,
            "theme": self.theme,
            "title": self.title,
            "story_id": self.story_id,
        }
