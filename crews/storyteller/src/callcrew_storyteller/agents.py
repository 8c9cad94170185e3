"""The storyteller's two agents: intro learns who is listening, story tells and ends the call."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from livekit.agents import Agent, RunContext, ToolError, function_tool, llm

from callcrew.providers.agent_providers import agent_kwargs
from callcrew.providers.phrases import say_phrase
from callcrew.scrub import scrub
from callcrew_storyteller.calldata import StoryData
from callcrew_storyteller.outcomes import StoryOutcome
from callcrew_storyteller.prompting import render
from callcrew_storyteller.section import LENGTHS, AgentName
from callcrew_storyteller.tables import record_story

MAX_NAME, MAX_PLACE, MAX_TITLE = 80, 120, 120


def _clean(raw: str, what: str, limit: int) -> str:
    text = " ".join(raw.split())
    if not text or not any(ch.isalpha() for ch in text):
        raise ToolError(f"I didn't catch the caller's {what}. Ask for it.")
    if len(text) > limit:
        raise ToolError(f"That is too long to be a {what}. Ask the caller again.")
    return text


class _StoryAgent(Agent):
    stage: ClassVar[AgentName]

    def __init__(
        self, state: StoryData, instructions: str, chat_ctx: llm.ChatContext | None
    ) -> None:
        self.state = state
        super().__init__(
            instructions=instructions,
            chat_ctx=chat_ctx,
            id=self.stage,  # one name everywhere: reports, hand-offs, scenarios
            # The agent's own STT/LLM/TTS and turn handling from `story.agents.<stage>`.
            **agent_kwargs(state, self.stage, state.section.agents.get(self.stage)),
        )

    async def on_enter(self) -> None:
        self.state.visit(self.stage)

    def carried(self) -> llm.ChatContext:
        """The conversation so far, without our instructions: the listener never repeats."""
        return self.chat_ctx.copy(
            exclude_instructions=True, exclude_handoff=True, exclude_config_update=True
        )


class IntroAgent(_StoryAgent):
    stage = "intro"

    def __init__(self, state: StoryData) -> None:
        section = state.section
        prompt = render("intro", storyteller=section.storyteller, themes="; ".join(section.themes))
        super().__init__(state, prompt, None)

    async def on_enter(self) -> None:
        await super().on_enter()
        # A fixed phrase: the caller hears us before any model is asked anything.
        state = self.state
        await say_phrase(
            self.session, state.profile.greeting, cache=state.phrases, stats=state.phrase_stats
        )

    @function_tool
    async def start_story(
        self, ctx: RunContext[StoryData], name: str, location: str, theme: str
    ) -> Agent:
        """Hand over to the story, once you know the caller's name and where they are.

        Args:
            name: The caller's first name.
            location: Where the caller is calling from (a town, city or region).
            theme: One theme from the list in your instructions.
        """
        state = ctx.userdata
        state.listener = _clean(name, "name", MAX_NAME)
        state.location = _clean(location, "location", MAX_PLACE)
        themes = {t.casefold(): t for t in state.section.themes}
        chosen = themes.get(" ".join(theme.split()).casefold())
        if chosen is None:
            raise ToolError(f"Choose the theme from this list: {'; '.join(state.section.themes)}.")
        state.theme = chosen
        return StoryTellerAgent(state, chat_ctx=self.carried())

    @function_tool
    async def no_story(self, ctx: RunContext[StoryData]) -> None:
        """The caller does not want a story: say goodbye and hang up."""
        state = ctx.userdata
        state.set_outcome(StoryOutcome.NO_STORY)
        await _goodbye(self, ctx, state.profile.goodbye)


class StoryTellerAgent(_StoryAgent):
    stage = "story"

    def __init__(self, state: StoryData, *, chat_ctx: llm.ChatContext | None = None) -> None:
        section = state.section
        prompt = render(
            "story",
            storyteller=section.storyteller,
            name=state.listener or "the caller",
            location=state.location or "somewhere",
            theme=state.theme or section.themes[0],
            length=LENGTHS[section.length],
        )
        super().__init__(state, prompt, chat_ctx)

    async def on_enter(self) -> None:
        await super().on_enter()
        self.session.generate_reply()

    @function_tool
    async def story_finished(self, ctx: RunContext[StoryData], title: str) -> None:
        """The story has ended: record it, say goodbye and hang up.

        Args:
            title: A short title for the story you told.
        """
        state = ctx.userdata
        clean_title = " ".join(title.split())[:MAX_TITLE] or "Untitled"
        state.title = clean_title
        try:
            state.story_id = await asyncio.to_thread(
                record_story,
                state.store.engine,
                call_id=state.info.call_id,
                listener=state.listener or "",
                location=state.location or "",
                theme=state.theme or "",
                title=clean_title,
                told_at=state.now(),
            )
        except Exception as exc:  # the story was told: the goodbye must not depend on the store
            detail = (str(exc).splitlines() or [""])[0][:200]
            state.errors.append(
                scrub(f"stories_told: not recorded ({type(exc).__name__}: {detail})")
            )
        state.set_outcome(StoryOutcome.STORY_TOLD)
        await _goodbye(self, ctx, state.section.farewell(state.listener))


async def _goodbye(agent: _StoryAgent, ctx: RunContext[StoryData], text: str) -> None:
    state = ctx.userdata
    state.ended_by = "agent"
    await ctx.wait_for_playout()
    ctx.disallow_interruptions()
    # In this agent's own voice (not the phrase cache, which is keyed on the call's TTS).
    await agent.session.say(text, allow_interruptions=False)
    await state.control.hang_up("completed")
