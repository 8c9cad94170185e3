"""Call control on the LiveKit room (hang-up, transfers) and keypad digits handed to the agent."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from livekit import api
from livekit.agents import AgentSession, JobContext, ToolError, llm

from callcrew.call import CallState, Channel, KeyPress
from callcrew.telephony.dialer import DialError, resolve_trunk

logger = logging.getLogger("callcrew.worker")


@dataclass
class RoomCallControl:
    """Hang-ups and transfers acted out on the LiveKit room and its SIP participant."""

    ctx: JobContext
    channel: Channel
    participant_identity: str | None
    outbound_trunk: str | None = None  # SIP_OUTBOUND_TRUNK: how a warm transfer dials out
    hung_up: str | None = None
    transferred_to: str | None = None

    async def hang_up(self, reason: str) -> None:
        self.hung_up = reason
        # Deleting the room drops the SIP leg too, so no call keeps billing minutes.
        await self.ctx.delete_room()

    async def transfer(self, to_number: str) -> None:
        if self.participant_identity is None:
            raise RuntimeError("no phone participant to transfer")
        self.transferred_to = to_number
        await self.ctx.api.sip.transfer_sip_participant(
            api.TransferSIPParticipantRequest(
                room_name=self.ctx.room.name,
                participant_identity=self.participant_identity,
                transfer_to=f"tel:{to_number}",
            )
        )

    async def warm_transfer(self, to_number: str, chat_ctx: llm.ChatContext) -> None:
        from livekit.agents.beta.workflows import WarmTransferTask

        if self.outbound_trunk is None:
            raise ToolError("no outbound trunk is configured for calling a colleague")
        try:
            trunk_id, _ = await resolve_trunk(self.ctx.api, self.outbound_trunk)
        except DialError as exc:
            raise ToolError(str(exc)) from None
        # LiveKit's task: dials the colleague, briefs them with the conversation, then
        # connects the caller and leaves; a ToolError when nobody takes the call.
        await WarmTransferTask(sip_call_to=to_number, sip_trunk_id=trunk_id, chat_ctx=chat_ctx)
        self.transferred_to = to_number

    @property
    def can_transfer(self) -> bool:
        return self.channel is not Channel.WEB and self.participant_identity is not None

    @property
    def can_warm_transfer(self) -> bool:
        return self.can_transfer and self.outbound_trunk is not None


async def dispatch_dtmf(session: AgentSession[Any], digit: str) -> bool:
    """Hands a keypad digit to the current agent if it takes them (an `on_dtmf` method); every
    digit is recorded in the call state (the report's `keypad`) and logged at debug."""
    agent = session.current_agent
    try:
        data = session.userdata
    except ValueError:  # a session without userdata (raised by LiveKit)
        data = None
    state = data if isinstance(data, CallState) else None
    if state is not None:
        state.keypad.append(KeyPress(digit, datetime.now(UTC), type(agent).__name__))
    logger.debug(
        "call %s: key %r pressed (agent %s)",
        state.info.call_id if state else "-",
        digit,
        type(agent).__name__,
    )
    handler = getattr(agent, "on_dtmf", None)
    if handler is None:
        return False
    await handler(digit)
    return True
