"""The storyteller's outcomes, beside the engine's call-level ones."""

from __future__ import annotations

import enum

from callcrew.call import CrewOutcome


class StoryOutcome(enum.StrEnum):
    STORY_TOLD = "story_told"
    NO_STORY = "no_story"


STORY_OUTCOMES = (
    CrewOutcome(StoryOutcome.STORY_TOLD.value, "the story agent told its story to the end"),
    CrewOutcome(StoryOutcome.NO_STORY.value, "the caller did not want a story after all"),
)
