"""Endings nobody asked for: a silent line and a runaway call.

A caller who goes quiet is nudged with a fixed phrase (no model call, no tokens); after
`SILENCE_NUDGES` nudges without an answer the call ends politely (outcome `silent`). A call that
reaches `MAX_CALL_SECONDS` is ended too. Both hang up through the call's `CallControl`, which
deletes the room, so no SIP leg keeps billing minutes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from livekit.agents import AgentSession
from livekit.agents.voice.events import UserStateChangedEvent

from callcrew.call import CallState, Outcome
from callcrew.providers.phrases import say_phrase
from callcrew.telephony.outbound import HoldAgent

logger = logging.getLogger("callcrew.guards")


async def await_phrase(
    session: AgentSession[Any], state: CallState, text: str, *, allow_interruptions: bool = True
) -> None:
    handle = await say_phrase(
        session,
        text,
        cache=state.phrases,
        stats=state.phrase_stats,
        allow_interruptions=allow_interruptions,
    )
    await handle


class SilenceGuard:
    """Nudges a caller who has gone away, and ends the call after `max_nudges` nudges."""

    def __init__(
        self,
        session: AgentSession[Any],
        state: CallState,
        *,
        max_nudges: int,
        nudge_interval_s: float,
    ) -> None:
        self._session = session
        self._state = state
        self._max_nudges = max_nudges
        self._interval = nudge_interval_s
        self._task: asyncio.Task[None] | None = None
        self.nudges = 0
        session.on("user_state_changed", self._on_user_state)

    def _on_user_state(self, ev: UserStateChangedEvent) -> None:
        if isinstance(self._session.current_agent, HoldAgent):
            return  # an outbound call still ringing: nobody is there to nudge yet
        if ev.new_state == "away":
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._nudge_until_back())
        else:
            # Any sign of life resets the count: only consecutive silence ends a call.
            self.nudges = 0
            if self._task is not None and not self._task.done():
                self._task.cancel()
            self._task = None

    async def _nudge_until_back(self) -> None:
        profile = self._state.profile
        while self.nudges < self._max_nudges:
            self.nudges += 1
            logger.info("call %s: caller silent, nudge %d", self._state.info.call_id, self.nudges)
            await await_phrase(self._session, self._state, profile.still_there)
            await asyncio.sleep(self._interval)
        self._state.set_outcome(Outcome.SILENT)
        self._state.ended_by = "silence"
        await await_phrase(
            self._session, self._state, profile.silence_goodbye, allow_interruptions=False
        )
        await self._state.control.hang_up("silent")

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()


class CallTimer:
    """Ends a call that runs past its ceiling, with a fixed goodbye first."""

    def __init__(self, session: AgentSession[Any], state: CallState, *, max_seconds: float):
        self._session = session
        self._state = state
        self._task = asyncio.create_task(self._run(max_seconds))
        self.fired = False

    async def _run(self, max_seconds: float) -> None:
        await asyncio.sleep(max_seconds)
        self.fired = True
        logger.warning("call %s: reached the time limit", self._state.info.call_id)
        self._session.interrupt()
        self._state.set_outcome(Outcome.TIME_LIMIT)
        self._state.ended_by = "time_limit"
        await await_phrase(
            self._session,
            self._state,
            self._state.profile.time_limit_goodbye,
            allow_interruptions=False,
        )
        await self._state.control.hang_up("time_limit")

    async def aclose(self) -> None:
        if not self._task.done():
            self._task.cancel()
