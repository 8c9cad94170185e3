"""What every agent of the crew shares: its prompt, its stage name, and how it hands off."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any, ClassVar

from livekit.agents import Agent, FlushSentinel, ModelSettings, llm

from agents import keypad
from agents.calldata import CallData
from agents.prompting import instructions
from callcrew.context import trim_context
from callcrew.providers.agent_providers import agent_kwargs


class CrewAgent(Agent):
    stage: ClassVar[str]  # name recorded in agents_visited and used by scenarios
    prompt: ClassVar[str]  # prompts/<prompt>.md
    # What a task agent does, in a few words, for the intro's prompt ("the desk does that").
    job: ClassVar[str] = "what the caller needs"

    def __init__(self, state: CallData, *, chat_ctx: llm.ChatContext | None = None) -> None:
        self.state = state
        super().__init__(
            instructions=instructions(self.prompt, state, **self.prompt_values()),
            chat_ctx=chat_ctx,
            # LiveKit's own id (its hand-off records, logs) is the stage name too, so a report
            # names each agent one way: "intro", never "intro_agent" from the class name.
            id=self.stage,
            # The profile's `desk.agents.<stage>` overrides (its own LLM, voice, turn-taking).
            **agent_kwargs(state, self.stage, state.desk.agents.get(self.stage)),
        )

    def prompt_values(self) -> dict[str, Any]:
        return {}

    async def on_enter(self) -> None:
        self.state.visit(self.stage)

    async def on_dtmf(self, digit: str) -> None:
        """Keypad digits every stage understands (agents/keypad.py: 0 for a person, ...)."""
        await keypad.handle_key(self, digit)

    def carried_context(self) -> llm.ChatContext:
        """The conversation so far, for the next agent: callers must never repeat themselves.
        Tool calls and results stay (the next agent may need them); our instructions don't.
        Long calls hand over the bounded context (summary + recent turns), as the model sees it.
        """
        copy = self.chat_ctx.copy(
            exclude_instructions=True, exclude_handoff=True, exclude_config_update=True
        )
        return trim_context(copy, self.state.context_policy)

    async def llm_node(
        self,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        model_settings: ModelSettings,
    ) -> AsyncIterable[llm.ChatChunk | str | FlushSentinel]:
        # Every model request of every agent sees the bounded context, never the whole call.
        trimmed = trim_context(chat_ctx, self.state.context_policy)
        async for chunk in Agent.default.llm_node(self, trimmed, tools, model_settings):
            yield chunk
