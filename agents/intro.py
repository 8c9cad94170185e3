"""IntroAgent: greets with the fixed phrase, learns who is calling and why, hands off."""

from __future__ import annotations

import asyncio
from typing import Any

from livekit.agents import Agent, RunContext, ToolError, function_tool

from agents import stages
from agents.base import CrewAgent
from agents.calldata import CallData
from agents.desk_store import desk_data
from agents.person import PersonTools
from callcrew.call import Channel
from callcrew.providers.phrases import say_phrase

MAX_NAME_LENGTH = 80


def clean_name(raw: str) -> str:
    name = " ".join(raw.split())
    if not name or not any(ch.isalpha() for ch in name):
        raise ToolError("I didn't catch a name. Ask the caller for their name.")
    if len(name) > MAX_NAME_LENGTH:
        raise ToolError("That name is too long to be a name. Ask the caller for their name again.")
    return name


class IntroAgent(PersonTools, CrewAgent):
    """Also answers "just put me through to a person" itself (`request_human`, then
    `take_message` when nobody can take the call), without asking for a name first."""

    stage = "intro"
    prompt = "intro"

    def prompt_values(self) -> dict[str, Any]:
        # The task stage's job, so this prompt serves whichever task the profile picks.
        return {"task_job": stages.task_agents()[self.state.task].job}

    async def on_enter(self) -> None:
        await super().on_enter()
        # A fixed phrase: no LLM call before the caller hears us, played from the phrase cache.
        state = self.state
        await say_phrase(
            self.session, state.profile.greeting, cache=state.phrases, stats=state.phrase_stats
        )
        if state.customer_id is not None and state.customer_name and state.profile.welcome_back:
            # Recognised by caller ID: greeted by name, and never asked for it.
            first_name = state.customer_name.split()[0]
            self.session.say(state.profile.welcome_back.format(first_name=first_name))

    @function_tool
    async def hand_off_to_desk(
        self, ctx: RunContext[CallData], reason: str, caller_name: str = ""
    ) -> Agent:
        """Pass the caller to the desk that can help them, once you know their name and reason.

        Args:
            reason: Why the caller is calling, in their own words.
            caller_name: The caller's name. Leave empty only when the caller is already known.
        """
        state = ctx.userdata
        reason = " ".join(reason.split())
        if not reason:
            raise ToolError("Ask the caller why they are calling before handing off.")
        if state.customer_id is None:
            name = clean_name(caller_name or state.customer_name or "")
            phone = state.info.caller_number if state.info.channel is not Channel.WEB else None
            customers = desk_data(state.store).customers
            if phone:
                customer = await asyncio.to_thread(customers.get_or_create, name, phone)
            else:
                # No caller ID (a browser): nothing reliable to match an old record on.
                customer = await asyncio.to_thread(customers.create, name)
            state.customer_id, state.customer_name = customer.id, customer.name
        state.reason = reason
        return stages.task_agent(state, chat_ctx=self.carried_context())

    @function_tool
    async def end_conversation(self, ctx: RunContext[CallData]) -> Agent:
        """The caller has nothing to ask or wants to hang up."""
        return stages.wrapup_agent(ctx.userdata, chat_ctx=self.carried_context())
