"""The intro of a call we placed: says who is calling and why, takes a yes (spoken or key 1),
or passes the callee to the desk to change things (spoken or key 2)."""

from __future__ import annotations

from livekit.agents import Agent, RunContext, function_tool

from agents import keypad, stages
from agents.calldata import CallData
from agents.intro import IntroAgent
from agents.outcomes import DeskOutcome
from agents.prompting import outbound_opening
from callcrew.providers.phrases import say_phrase

KEY_CONFIRM = "1"
KEY_RESCHEDULE = "2"
KEYPAD_HELP = "Sorry, please press 1 to confirm, or 2 to reschedule."


class OutboundIntroAgent(IntroAgent):
    stage = "intro"
    prompt = "outbound"

    async def on_enter(self) -> None:
        self.state.visit(self.stage)
        # Heard whole: the callee's own "Hello?" (or a cough) must not cut off who is calling.
        self.session.say(outbound_opening(self.state), allow_interruptions=False)

    def _confirm(self, state: CallData) -> None:
        state.record_change(f"confirmed the {state.appointment_text or 'appointment'}")
        state.set_outcome(DeskOutcome.CONFIRMED)

    @function_tool
    async def confirm_appointment(self, ctx: RunContext[CallData]) -> Agent:
        """The person confirmed the appointment we called about."""
        self._confirm(ctx.userdata)
        return stages.wrapup_agent(ctx.userdata, chat_ctx=self.carried_context())

    async def on_dtmf(self, digit: str) -> None:
        """Keypad answers: 1 confirms, 2 goes to the desk to reschedule; anything else repeats
        the choice."""
        state = self.state
        if state.purpose == "confirm" and digit == KEY_CONFIRM:
            keypad.mark(state, digit, "confirm")
            self._confirm(state)
            self.session.update_agent(stages.wrapup_agent(state, chat_ctx=self.carried_context()))
        elif state.purpose == "confirm" and digit == KEY_RESCHEDULE:
            keypad.mark(state, digit, "reschedule")
            state.reason = f"reschedule the {state.appointment_text or 'appointment'}"
            self.session.update_agent(stages.task_agent(state, chat_ctx=self.carried_context()))
        elif not await keypad.handle_key(self, digit):  # 0 for a person, as at any stage
            keypad.mark(state, digit, "help")
            await say_phrase(
                self.session, KEYPAD_HELP, cache=state.phrases, stats=state.phrase_stats
            )
