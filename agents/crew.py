"""The default crew: intro -> task (appointments, or another task agent) -> wrap-up.

The worker and the simulator find this object through the `callcrew.crews` entry point.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.calldata import CallData
from agents.desk_profile import SECTION, desk
from agents.desk_store import TABLES, desk_data
from agents.outcomes import DESK_OUTCOMES
from agents.prompting import voicemail_message
from agents.purposes import DESK_PURPOSES, check_dispatch, open_outbound
from agents.rehearsal import DESK_REHEARSAL, seed_store, snapshot_store
from callcrew.call import CallInfo, CallState, Channel, CrewContext, ProviderFailurePlan
from callcrew.crews import CrewDefaults
from callcrew.settings import context_policy

if TYPE_CHECKING:
    from livekit.agents import Agent
    from pydantic import BaseModel

    from callcrew.profile import BusinessProfile
    from callcrew.store import Store

DATA_DIR = Path(__file__).parent / "data"  # the desk's built-in profile and demo call

# The desk's plural nouns that make a question ask for a list ("Which services would you
# like?", "Who are the appointments for?"): the word turn detector then waits for the rest
# of the list (the engine knows only any business's: days, people, items...).
DESK_LIST_NOUNS = frozenset(
    {"services", "treatments", "appointments", "bookings", "extras", "styles", "products", "guests"}
)

# The agents (and LiveKit's framework under them) are imported when a call starts, so commands
# that only read the crew's declarations (`calls --outcome`, `dial --purpose`) start fast.


class AppointmentDeskCrew(CrewDefaults):
    name = "appointment-desk"
    outcomes = DESK_OUTCOMES
    profile_section = SECTION
    tables = TABLES
    purposes = DESK_PURPOSES
    rehearsal = DESK_REHEARSAL
    list_nouns = DESK_LIST_NOUNS

    def check_dispatch(self, store: Store, purpose: str, data: BaseModel) -> None:
        check_dispatch(store, purpose, data)

    def seed(
        self,
        store: Store,
        data: Mapping[str, Any],
        now: datetime,
        profile: BusinessProfile,
    ) -> None:
        seed_store(store, data, now, profile)

    def snapshot(self, store: Store) -> dict[str, Any]:
        return snapshot_store(store)

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
            await open_outbound(state, info)
        return state

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
