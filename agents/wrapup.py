"""WrapUpAgent: recaps the call, offers more help, says goodbye uninterrupted and hangs up."""

from __future__ import annotations

from livekit.agents import Agent, RunContext, ToolError, function_tool

from agents import stages
from agents.base import CrewAgent
from agents.calldata import CallData
from callcrew.call import Outcome
from callcrew.providers.phrases import say_phrase


class WrapUpAgent(CrewAgent):
    stage = "wrapup"
    prompt = "wrapup"

    async def on_enter(self) -> None:
        await super().on_enter()
        self.session.generate_reply()

    @function_tool
    async def more_help(self, ctx: RunContext[CallData], request: str) -> Agent:
        """The caller wants something else: go back to the desk with their request.

        Args:
            request: What the caller now wants, in their words.
        """
        request = " ".join(request.split())
        if not request:
            raise ToolError("Ask the caller what else they need.")
        ctx.userdata.reason = request
        return stages.task_agent(ctx.userdata, chat_ctx=self.carried_context())

    @function_tool
    async def end_call(self, ctx: RunContext[CallData]) -> None:
        """Say goodbye and hang up. Call this when the caller has nothing else."""
        state = ctx.userdata
        state.set_outcome(Outcome.COMPLETED)
        state.ended_by = "agent"
        await ctx.wait_for_playout()
        ctx.disallow_interruptions()
        # The goodbye is a fixed phrase and must be heard whole before the line drops.
        handle = await say_phrase(
            self.session,
            state.profile.goodbye,
            cache=state.phrases,
            stats=state.phrase_stats,
            allow_interruptions=False,
        )
        await handle
        await state.control.hang_up("completed")
