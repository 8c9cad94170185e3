"""The default crew: intro -> task (appointments, or another task agent) -> wrap-up.

The worker and the simulator find this object through the `callcrew.crews` entry point.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from livekit.agents import Agent

from agents.calldata import CallData
from agents.intro import IntroAgent
from agents.stages import task_agents
from callcrew.call import CallInfo, CallState, Channel, CrewContext


class AppointmentDeskCrew:
    name = "appointment-desk"

    async def new_call(self, info: CallInfo, ctx: CrewContext) -> CallState:
        task = ctx.settings.task_agent or ctx.profile.task
        if task not in task_agents():
            raise ValueError(
                f"unknown task agent {task!r}; choose one of {', '.join(sorted(task_agents()))}"
            )
        state = CallData(
            info=info,
            control=ctx.control,
            store=ctx.store,
            profile=ctx.profile,
            now=ctx.now,
            task=task,
            prompts_dir=Path(ctx.prompts_dir) if ctx.prompts_dir else None,
        )
        if info.caller_number and info.channel is not Channel.WEB:
            # Caller ID: a known customer is not asked for their name.
            customer = await asyncio.to_thread(
                ctx.store.customers.find_by_phone, info.caller_number
            )
            if customer is not None:
                state.customer_id, state.customer_name = customer.id, customer.name
        return state

    def first_agent(self, state: CallState) -> Agent:
        assert isinstance(state, CallData)
        return IntroAgent(state)


CREW = AppointmentDeskCrew()
