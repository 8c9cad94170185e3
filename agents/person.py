"""Putting a caller through to a person, or taking a message when nobody can be put through.

Shared by every agent a caller can ask for a person from: the intro (a caller who says "just
put me through" is not asked for a name first), the desk, and the keypad hook (key 0). The
core is `connect_to_person`, callable without a tool context; `PersonTools` wraps it as the
`request_human` and `take_message` tools an agent class mixes in.
"""

from __future__ import annotations

from typing import Any

from livekit.agents import AgentSession, RunContext, ToolError, function_tool, llm

from agents.actions import Action
from agents.calldata import CallData
from callcrew.call import Channel
from callcrew.providers.phrases import say_phrase

TRANSFER_PHRASE = "Of course. I'm putting you through to a colleague now, please hold."
MAX_MESSAGE_LENGTH = 1000
NOBODY_ON_THIS_LINE = (
    "Nobody can be put through on this line right now. Offer to take a message for the team "
    "and record it with take_message."
)


def can_put_through(state: CallData) -> bool:
    """A phone line, a number to send the caller to, and a call control that can transfer."""
    return bool(
        state.profile.transfer_number
        and state.info.channel is not Channel.WEB
        and state.control.can_transfer
    )


async def connect_to_person(
    session: AgentSession[Any], state: CallData, reason: str, chat_ctx: llm.ChatContext
) -> str | None:
    """Transfer the caller (warm when the profile asks and the line can). None once the
    caller is on their way; otherwise a sentence for the model (offer a message instead).
    A warm transfer nobody takes raises ToolError (the caller stays with the agent).
    The caller of this waits for what the agent is saying to finish first."""
    if not can_put_through(state):
        return NOBODY_ON_THIS_LINE
    number = state.profile.transfer_number
    assert number is not None
    summary = " ".join(reason.split())[:200]
    if state.profile.warm_transfer and state.control.can_warm_transfer:
        try:
            await state.control.warm_transfer(number, chat_ctx)
        except ToolError as exc:
            raise ToolError(
                f"No colleague could take the call ({exc}). Apologise and offer to take a "
                "message with take_message."
            ) from None
        state.record_change(f"put through to a colleague, who was briefed ({summary})")
        state.record_action(Action("transferred"))
        state.ended_by = "transfer"
        return None
    handle = await say_phrase(
        session,
        TRANSFER_PHRASE,
        cache=state.phrases,
        stats=state.phrase_stats,
        allow_interruptions=False,
    )
    await handle
    state.record_change(f"transferred to a colleague ({summary})")
    state.record_action(Action("transferred"))
    state.ended_by = "transfer"
    await state.control.transfer(number)
    return None


def record_message(state: CallData, message: str) -> str:
    text = " ".join(message.split())
    if not text:
        raise ToolError("The message is empty. Ask the caller what to pass on.")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise ToolError("That message is too long. Ask the caller for the short version.")
    state.message_for_staff = text
    state.record_change("took a message for the team")
    state.record_action(Action("message_taken"))
    return "Message recorded; the team will see it."


class PersonTools:
    """Mixed into a CrewAgent: `request_human` and `take_message`."""

    session: AgentSession[Any]
    chat_ctx: llm.ChatContext

    @function_tool
    async def request_human(self, ctx: RunContext[CallData], reason: str) -> str | None:
        """Put the caller through to a person, when they ask for one or you are stuck. Call
        it at once when asked: no name or reason is needed first.

        Args:
            reason: Why a person is needed, in a few words.
        """
        state = ctx.userdata
        if can_put_through(state):
            await ctx.wait_for_playout()
            if not (state.profile.warm_transfer and state.control.can_warm_transfer):
                ctx.disallow_interruptions()
        return await connect_to_person(self.session, state, reason, self.chat_ctx)

    @function_tool
    async def take_message(self, ctx: RunContext[CallData], message: str) -> str:
        """Record a message for the team when nobody can take the call.

        Args:
            message: The caller's message, with any call-back details they gave.
        """
        return record_message(ctx.userdata, message)
