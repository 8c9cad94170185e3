"""The default crew: intro -> task (appointments, or another task agent) -> wrap-up.

The worker and the simulator find this object through the `callcrew.crews` entry point.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from agents.calldata import CallData
from agents.desk_profile import SECTION, desk
from agents.desk_store import TABLES, desk_data
from agents.outcomes import DESK_OUTCOMES
from agents.prompting import voicemail_message
from agents.scheduling import Slot, describe_slot
from callcrew.call import CallInfo, CallState, Channel, CrewContext, ProviderFailurePlan
from callcrew.crews import CrewDefaults
from callcrew.settings import context_policy

if TYPE_CHECKING:
    from livekit.agents import Agent

DATA_DIR = Path(__file__).parent / "data"  # the desk's built-in profile and demo call

# The agents (and LiveKit's framework under them) are imported when a call starts, so commands
# that only read the crew's declarations (`calls --outcome`, `dial --purpose`) start fast.


class AppointmentDeskCrew(CrewDefaults):
    name = "appointment-desk"
    outcomes = DESK_OUTCOMES
    profile_section = SECTION
    tables = TABLES

    async def new_call(self, info: CallInfo, ctx: CrewContext) -> CallState:
        from agents.stages import task_agents

        task = ctx.settings.task_agent or desk(ctx.profile).task
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
            context_policy=context_policy(ctx.settings),
            phrases=ctx.phrases,
        )
        if info.caller_number and info.channel is not Channel.WEB:
            # Caller ID: a known customer is not asked for their name.
            customer = await asyncio.to_thread(
                desk_data(ctx.store).customers.find_by_phone, info.caller_number
            )
            if customer is not None:
                state.customer_id, state.customer_name = customer.id, customer.name
        if info.channel is Channel.OUTBOUND:
            await self._outbound(state, info)
        return state

    async def _outbound(self, state: CallData, info: CallInfo) -> None:
        meta = info.metadata
        state.purpose = str(meta.get("purpose") or "custom")
        custom = meta.get("custom")
        if isinstance(custom, dict) and isinstance(custom.get("message"), str):
            state.custom_text = custom["message"]
        appt_id = meta.get("appointment_id")
        if not isinstance(appt_id, int):
            return
        store = state.store
        appt = await asyncio.to_thread(desk_data(store).appointments.get, appt_id)
        if appt is None or (
            state.customer_id is not None and appt.customer_id != state.customer_id
        ):
            # Never read out someone else's appointment to whoever picked up.
            return
        if state.customer_id is None:
            customer = await asyncio.to_thread(desk_data(store).customers.get, appt.customer_id)
            if customer is not None:
                state.customer_id, state.customer_name = customer.id, customer.name
        service = state.desk.service(appt.service_id)
        label = service.name.lower() if service else appt.service_id
        when = describe_slot(state.profile, Slot(appt.start, appt.end), state.now())
        state.appointment_id = appt.id
        state.appointment_text = f"{label} appointment on {when}"

    def default_profile(self) -> Path:
        return DATA_DIR / "default_business.yaml"

    def demo_scenario(self) -> Path | None:
        demo = DATA_DIR / "demo_call.yaml"
        return demo if demo.is_file() else None

    def first_agent(self, state: CallState) -> Agent:
        from agents.intro import IntroAgent
        from agents.outbound import OutboundIntroAgent

        assert isinstance(state, CallData)
        if state.info.channel is Channel.OUTBOUND:
            return OutboundIntroAgent(state)
        return IntroAgent(state)

    def voicemail_message(self, state: CallState) -> str:
        assert isinstance(state, CallData)
        return voicemail_message(state)

    def on_provider_failure(self, state: CallState, block: str) -> ProviderFailurePlan:
        # The desk's choice: a colleague when the profile names one and the line can be put
        # through, otherwise a call-back from the caller's number.
        from callcrew.providers.recovery import callback_or_transfer

        return callback_or_transfer(state)


CREW = AppointmentDeskCrew()
