"""How a call ended (the report's `ended_by`), as opposed to what it achieved (`outcome`).

Endings we cause record themselves where they happen (the agent's goodbye, a transfer, the
silence guard, the time limit, a failed dial, an answering machine); `callcrew dial` records a
dispatch no worker took. Whatever is left is decided at session end from LiveKit's close reason,
so no report goes out with `ended_by` empty.
"""

from __future__ import annotations

import enum


class EndedBy(enum.StrEnum):
    CALLER = "caller"  # the caller (or callee) hung up or left
    AGENT = "agent"  # the crew said goodbye and hung up
    TRANSFER = "transfer"  # handed to a person (cold or warm transfer)
    SILENCE = "silence"  # nobody answered the nudges (guards.SilenceGuard)
    TIME_LIMIT = "time_limit"  # MAX_CALL_SECONDS (guards.CallTimer)
    DIAL = "dial"  # an outbound call that was never answered (busy, no answer, ...)
    MACHINE = "machine"  # an answering machine or IVR picked up
    ERROR = "error"  # the job or the session failed
    PROVIDER_FAILURE = "provider_failure"  # every STT/LLM/TTS of a block failed: apology, end
    SHUTDOWN = "shutdown"  # the worker or the server ended the job (drain, room deleted)
    NO_WORKER = "no_worker"  # `callcrew dial`: no worker took the dispatch


def resolve_ended_by(
    recorded: str | None, *, close_reason: str | None, errors: list[str]
) -> EndedBy | str:
    """`recorded` if an ending set it; else what the session's close says.

    `close_reason` is LiveKit's `CloseEvent.reason` value: "participant_disconnected" (the
    caller hung up: room_io closes the session), "job_shutdown", "error", "user_initiated"
    (our own code closed the session without recording why, as text-mode tests do), or None
    when no close event was seen.
    """
    if recorded:
        return recorded
    if errors or close_reason == "error":
        return EndedBy.ERROR
    if close_reason == "job_shutdown":
        return EndedBy.SHUTDOWN
    return EndedBy.CALLER
