"""The restaurant crew: `CREW=examples.restaurant.crew:CREW`."""

from __future__ import annotations

from pathlib import Path

from livekit.agents import Agent, RunContext, ToolError, function_tool

from callcrew.call import CallInfo, CallState, CrewContext, ProfileSection
from callcrew.crews import CrewDefaults
from examples.restaurant.menu import ORDER_PLACED, OrderData, RestaurantSection


class OrderAgent(Agent):
    def __init__(self, state: OrderData) -> None:
        assert state.section is not None
        menu = "; ".join(f"{i.name} ({i.price})" for i in state.section.menu)
        super().__init__(
            id="order",
            instructions=(
                f"You take pick-up orders by phone for {state.profile.name}. The menu: {menu}. "
                "Add each item with add_item; when the caller is done, ask for a name for the "
                "order and call place_order. Keep every answer short."
            ),
        )

    async def on_enter(self) -> None:
        self.session.userdata.visit("order")
        self.session.say(self.session.userdata.profile.greeting)

    @function_tool
    async def add_item(self, ctx: RunContext[OrderData], item: str, quantity: int = 1) -> str:
        """Add a menu item to the order.

        Args:
            item: The item's name as the menu says it.
            quantity: How many.
        """
        state = ctx.userdata
        assert state.section is not None
        found = state.section.item(item)
        if found is None:
            raise ToolError(f"{item!r} is not on the menu. Offer what is.")
        if not 1 <= quantity <= 20:
            raise ToolError("Ask the caller how many they want (1 to 20).")
        state.lines[found.id] = state.lines.get(found.id, 0) + quantity
        return f"Added {quantity} x {found.name}. Total so far: {state.total()}."

    @function_tool
    async def place_order(self, ctx: RunContext[OrderData], name: str) -> None:
        """Place the order under the caller's name, say when it is ready, and hang up.

        Args:
            name: The name the order is for.
        """
        state = ctx.userdata
        assert state.section is not None
        if not state.lines:
            raise ToolError("The order is empty. Ask what the caller would like.")
        state.pickup_name = " ".join(name.split()) or "guest"
        state.set_outcome(ORDER_PLACED.name)
        state.ended_by = "agent"
        minutes = state.section.pickup_minutes
        await ctx.wait_for_playout()
        await self.session.say(
            f"Thanks {state.pickup_name}, that's {state.total()} in total, "
            f"ready in {minutes} minutes. Goodbye!",
            allow_interruptions=False,
        )
        await state.control.hang_up("completed")


class RestaurantCrew(CrewDefaults):
    name = "restaurant"
    outcomes = (ORDER_PLACED,)
    profile_section = ProfileSection(key="restaurant", model=RestaurantSection)

    async def new_call(self, info: CallInfo, ctx: CrewContext) -> CallState:
        return OrderData(
            info=info,
            control=ctx.control,
            store=ctx.store,
            profile=ctx.profile,
            now=ctx.now,
            section=ctx.profile.section_as(RestaurantSection),
        )

    def first_agent(self, state: CallState) -> Agent:
        assert isinstance(state, OrderData)
        return OrderAgent(state)

    def voicemail_message(self, state: CallState) -> str:
        return f"This is {state.profile.name}; call us back to order."

    def default_profile(self) -> Path:
        return Path(__file__).parent / "profile.yaml"  # used when BUSINESS_PROFILE is unset


CREW = RestaurantCrew()
