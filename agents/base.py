"""What every agent of the crew shares: its prompt, its stage name, and how it hands off."""

from __future__ import annotations

from typing import Any, ClassVar

from livekit.agents import Agent, llm

from agents.calldata import CallData
from agents.prompting import instructions


class CrewAgent(Agent):
    stage: ClassVar[str]  # name recorded in agents_visited and used by scenarios
    prompt: ClassVar[str]  # prompts/<prompt>.md

    def __init__(self, state: CallData, *, chat_ctx: llm.ChatContext | None = None) -> None:
        self.state = state
        super().__init__(
            instructions=instructions(self.prompt, state, **self.prompt_values()),
            chat_ctx=chat_ctx,
        )

    def prompt_values(self) -> dict[str, Any]:
        return {}

    async def on_enter(self) -> None:
        self.state.visit(self.stage)

    def carried_context(self) -> llm.ChatContext:
        """The conversation so far, for the next agent: callers must never repeat themselves.
        Tool calls and results stay (the next agent may need them); our instructions don't."""
        return self.chat_ctx.copy(
            exclude_instructions=True, exclude_handoff=True, exclude_config_update=True
        )
