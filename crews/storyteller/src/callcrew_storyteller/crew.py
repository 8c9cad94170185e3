"""The storyteller crew object the `callcrew.crews` entry point names (`CREW=storyteller`).

Agent classes are imported when a call starts, so loading the crew (`callcrew --help`, `cost`,
`calls`) does not import LiveKit's agent framework.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from callcrew.call import CallInfo, CallState, CrewContext, ProfileSection
from callcrew.crews import CrewDefaults
from callcrew_storyteller.outcomes import STORY_OUTCOMES
from callcrew_storyteller.section import StorySection
from callcrew_storyteller.tables import TABLES, stories

if TYPE_CHECKING:
    from livekit.agents import Agent

    from callcrew.store import Store

DATA = Path(__file__).parent / "data"


class StorytellerCrew(CrewDefaults):
    name = "storyteller"
    outcomes = STORY_OUTCOMES
    profile_section = ProfileSection(key="story", model=StorySection, required=False)
    tables = TABLES

    async def new_call(self, info: CallInfo, ctx: CrewContext) -> CallState:
        from callcrew_storyteller.calldata import StoryData

        section = ctx.profile.section_as(StorySection)
        return StoryData(
            info=info,
            control=ctx.control,
            store=ctx.store,
            profile=ctx.profile,
            now=ctx.now,
            phrases=ctx.phrases,
            section=section,
        )

    def first_agent(self, state: CallState) -> Agent:
        from callcrew_storyteller.agents import IntroAgent
        from callcrew_storyteller.calldata import StoryData

        assert isinstance(state, StoryData)
        return IntroAgent(state)

    def voicemail_message(self, state: CallState) -> str:
        return f"Hello, this is {state.profile.name}. Call us back any time for a story."

    def snapshot(self, store: Store) -> dict[str, Any]:
        return {"stories_told": stories(store.engine)}

    def default_profile(self) -> Path | None:
        return DATA / "storyteller.yaml"

    def demo_scenario(self) -> Path | None:
        return DATA / "demo_story.yaml"


CREW = StorytellerCrew()
