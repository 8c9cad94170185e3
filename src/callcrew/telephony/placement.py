"""Was the call really placed? Checks `callcrew dial` makes around each dispatch.

Before: the crew checks the call's data (`Crew.check_dispatch`, run by `dial`: the record a call
is about must exist, or the crew would ring someone with nothing to say). After: a worker must
take the job. livekit-server hands a dispatch only to
a worker of that agent name whose reported load is below its own `agents.target_load`
(`JobRequestAffinity` in pkg/service/agentservice.go); with none, it logs "no workers with
sufficient capacity" and drops it silently, and the room closes after its empty timeout with no
call and no report. A taken job shows in the dispatch's state (`ListDispatch`:
`state.jobs[].state.status` JS_RUNNING, with the worker id and the agent's identity) as soon as
the worker accepts it, and the agent then joins the room (`ListParticipants`, kind AGENT).
A dispatch nobody takes is deleted (so a late worker cannot still ring the callee), recorded as
a call report (outcome `failed`, `ended_by: no_worker`) and reported by the command.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from livekit import api

from callcrew.call import CallInfo, Channel
from callcrew.metrics.report import build_report

CONFIRM_TIMEOUT_S = 15.0  # a free worker accepts within milliseconds; a busy server, seconds
_API_ERRORS = (api.ServerError, OSError, TimeoutError, aiohttp.ClientError)
# Job states that mean a worker accepted the job (it may since have finished).
_TAKEN = (api.JobStatus.JS_RUNNING, api.JobStatus.JS_SUCCESS, api.JobStatus.JS_FAILED)


@dataclass(frozen=True)
class Taken:
    """Whether a worker took the call's job, and how we know."""

    ok: bool
    how: str  # "dispatch state", "agent in the room", or why not
    worker_id: str = ""
    job_id: str = ""


def _taken_from_dispatches(dispatches: list[api.AgentDispatch], agent_name: str) -> Taken | None:
    for d in dispatches:
        if d.agent_name != agent_name:
            continue
        for job in d.state.jobs:
            if job.state.status in _TAKEN:
                return Taken(True, "dispatch state", job.state.worker_id, job.id)
    return None


async def wait_until_taken(
    lk: api.LiveKitAPI,
    room: str,
    agent_name: str,
    *,
    timeout: float = CONFIRM_TIMEOUT_S,
    poll: float = 0.25,
    clock: Callable[[], float] = time.monotonic,
) -> Taken:
    """Poll the dispatch state (and the room's participants) until a worker has the job."""
    deadline = clock() + timeout
    seen_room = False
    while True:
        try:
            dispatches = await lk.agent_dispatch.list_dispatch(room)
            seen_room = True
            taken = _taken_from_dispatches(dispatches, agent_name)
            if taken is not None:
                return taken
            listed = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
            if any(p.kind == api.ParticipantInfo.Kind.AGENT for p in listed.participants):
                return Taken(True, "agent in the room")
        except api.ServerError as exc:
            if exc.code == api.TwirpErrorCode.NOT_FOUND and seen_room:
                return Taken(False, "the room closed before any worker was seen taking the call")
        except _API_ERRORS:
            pass  # a hiccup while waiting is not a verdict; ask again
        if clock() >= deadline:
            return Taken(
                False,
                f"no worker took the call within {timeout:g} s (is `callcrew start` running "
                "with this AGENT_NAME, and is its load below livekit-server's "
                "agents.target_load?)",
            )
        await asyncio.sleep(poll)


async def abandon(lk: api.LiveKitAPI, room: str) -> None:
    """Delete the room of a dispatch nobody took, so no late worker rings the callee."""
    with contextlib.suppress(*_API_ERRORS):
        await lk.room.delete_room(api.DeleteRoomRequest(room=room))


def no_worker_report(
    *, room: str, phone_number: str, metadata: dict[str, Any], reason: str
) -> dict[str, Any]:
    """The call report of a call that never happened because no worker took it."""
    info = CallInfo(
        channel=Channel.OUTBOUND, room=room, caller_number=phone_number, metadata=metadata
    )
    return build_report(
        None,
        info=info,
        history=None,
        usage=None,
        stack="",
        error=reason,
        extra={"ended_by": "no_worker", "notes": {"placed": False}},
    )
