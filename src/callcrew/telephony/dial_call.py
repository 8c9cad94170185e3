"""One outbound call: a number to E.164, the dispatch's metadata, the room and agent dispatch,
and the check that a worker took it.

Each call gets its own room (`call-out-<12 hex>`, never the number) and an agent dispatch whose
metadata is an `OutboundMetadata` (telephony/metadata.py). The job — not `dial` — then dials
the number through the outbound trunk (`sip.create_sip_participant`, as LiveKit's
outbound-caller example does), so busy / no answer / voicemail are the worker's business and end
up in its call report. A dispatch nobody takes is not placed (telephony/placement.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import phonenumbers
from livekit import api
from pydantic import ValidationError

from callcrew.crews import LoadedCrew
from callcrew.settings import Settings
from callcrew.store import Store, open_store
from callcrew.telephony.lkapi import LiveKitError, server_error_text
from callcrew.telephony.metadata import OutboundMetadata
from callcrew.telephony.placement import abandon, no_worker_report, wait_until_taken
from callcrew.telephony.purposes import find_purpose, purpose_names, validate_data

# A room nobody joins closes after this long; once the call is over it closes after DEPARTURE.
ROOM_EMPTY_TIMEOUT = 120
ROOM_DEPARTURE_TIMEOUT = 10

_API_ERRORS = (api.ServerError, OSError, TimeoutError, aiohttp.ClientError)


class DialError(Exception):
    """Bad arguments or a file that cannot be dialled at all (exit 2)."""


# --- numbers and rooms ----------------------------------------------------------------------------


def normalize_number(raw: str, region: str = "US", *, allow_unassigned: bool = False) -> str:
    """E.164 for a number written any common way; ValueError with a reason otherwise.

    `allow_unassigned` accepts numbers that are well-formed but not in service anywhere (the
    fictional +1 555 range, used in rehearsals and loopback tests).
    """
    text = raw.strip()
    if not text:
        raise ValueError("no phone number")
    try:
        parsed = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException:
        raise ValueError(f"{raw!r} is not a phone number") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"{raw!r} is not a possible phone number for region {region.upper()}")
    if not allow_unassigned and not phonenumbers.is_valid_number(parsed):
        raise ValueError(
            f"{raw!r} is not a valid, assigned phone number (region {region.upper()}); "
            "--allow-test-numbers accepts fictional ones like +1 555 01xx"
        )
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def room_name() -> str:
    """An opaque room name. Never the number: every LiveKit and SIP log line names the room, and
    the number stays in the dispatch metadata (and the SIP participant's attributes) only."""
    return f"call-out-{uuid.uuid4().hex[:12]}"


# 3000 levels made json.loads raise RecursionError.
MAX_METADATA_DEPTH = 8


def json_depth(text: str) -> int:
    """Deepest nesting of [ and { in JSON text (outside strings), in one linear pass."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_json_data(text: str | None) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    if json_depth(text) > MAX_METADATA_DEPTH:
        raise DialError(f"--metadata is nested more than {MAX_METADATA_DEPTH} levels deep")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DialError(f"--metadata is not JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(data, dict):
        raise DialError('--metadata must be a JSON object, like \'{"note": "bring ID"}\'')
    return data


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = str(e["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


# --- what to dial -------------------------------------------------------------------------------


@dataclass
class CallRequest:
    metadata: OutboundMetadata
    room: str
    line: int | None = None


def build_call(
    number: str,
    *,
    crew: LoadedCrew,
    purpose: str | None,
    data: dict[str, Any],
    trunk: str | None,
    region: str,
    allow_unassigned: bool,
    campaign: str | None = None,
    line: int | None = None,
) -> CallRequest:
    """One call's request; ValueError with the reason when it cannot be dialled."""
    e164 = normalize_number(number, region, allow_unassigned=allow_unassigned)
    if purpose is None:
        raise ValueError(f"no purpose (one of {', '.join(purpose_names(crew))})")
    checked = validate_data(find_purpose(crew, purpose), data)
    try:
        meta = OutboundMetadata(
            phone_number=e164,
            purpose=purpose,
            data=checked,
            trunk=trunk,
            campaign=campaign,
            line=line,
        )
        meta.to_json()
    except ValidationError as exc:
        raise ValueError(_validation_text(exc)) from None
    return CallRequest(meta, room_name(), line)


# --- talking to LiveKit -------------------------------------------------------------------------


async def resolve_trunk(lk: api.LiveKitAPI, name: str | None) -> tuple[str, str]:
    """(id, name) of the outbound trunk to dial through, looked up in LiveKit by name.

    With no name, a LiveKit that has exactly one outbound trunk uses it.
    """
    listed = await lk.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())
    trunks = list(listed.items)
    have = ", ".join(sorted(t.name or t.sip_trunk_id for t in trunks)) or "none"
    if name is None:
        if len(trunks) == 1:
            return trunks[0].sip_trunk_id, trunks[0].name
        if not trunks:
            raise DialError(
                "LiveKit has no outbound SIP trunk: add one to sip.yaml (outbound_trunks) "
                "and run `callcrew sip apply`"
            )
        raise DialError(
            f"LiveKit has several outbound trunks ({have}): choose one with --trunk NAME "
            "or the SIP_OUTBOUND_TRUNK setting"
        )
    match = [t for t in trunks if t.name == name or t.sip_trunk_id == name]
    if not match:
        raise DialError(
            f"LiveKit has no outbound trunk named {name!r} (it has: {have}); "
            "is it in sip.yaml, and did you run `callcrew sip apply`?"
        )
    return match[0].sip_trunk_id, match[0].name


@dataclass
class CallResult:
    request: CallRequest
    dispatch_id: str = ""
    error: str = ""
    still_open: bool = False
    not_placed: bool = False  # dispatched, but no worker took it (placement.py)

    @property
    def ok(self) -> bool:
        return not self.error


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, api.ServerError):
        return f"LiveKit refused it ({server_error_text(exc)})"
    if isinstance(exc, LiveKitError):
        return str(exc)
    return f"cannot reach LiveKit ({exc or type(exc).__name__})"


async def dispatch_call(lk: api.LiveKitAPI, call: CallRequest, agent_name: str) -> CallResult:
    """Create the call's room with our agent dispatched into it, in one request.

    The dispatch (agent name + OutboundMetadata) rides in `CreateRoomRequest.agents`, the
    RoomConfiguration form of `agent_dispatch.create_dispatch`. A room created without `agents`
    (by CreateRoom, or implicitly by CreateDispatch) also gets LiveKit's backward-compatible
    default dispatch for agents registered *without* a name (livekit-server
    `createAgentDispatchesFromRoomAgent`, seen on the devstack), so an unnamed worker on the same
    project would join every outbound call. With `agents` set, ours is the only dispatch.
    """
    try:
        await lk.room.create_room(
            api.CreateRoomRequest(
                name=call.room,
                empty_timeout=ROOM_EMPTY_TIMEOUT,
                departure_timeout=ROOM_DEPARTURE_TIMEOUT,
                agents=[
                    api.RoomAgentDispatch(agent_name=agent_name, metadata=call.metadata.to_json())
                ],
            )
        )
    except _API_ERRORS as exc:
        return CallResult(call, error=f"could not create the room: {_error_text(exc)}")
    dispatch_id = ""
    with contextlib.suppress(*_API_ERRORS):  # the id is for the operator's log only
        listed = await lk.agent_dispatch.list_dispatch(call.room)
        dispatch_id = next((d.id for d in listed if d.agent_name == agent_name), "")
    return CallResult(call, dispatch_id=dispatch_id)


async def place_call(
    lk: api.LiveKitAPI,
    call: CallRequest,
    agent_name: str,
    *,
    confirm_timeout: float,
    poll: float,
    record: Callable[[dict[str, Any]], None] | None,
) -> CallResult:
    """Dispatch, then confirm a worker took the job; a dispatch nobody takes is not placed: its
    room is deleted and a `no_worker` report saved, so the operator sees why."""
    result = await dispatch_call(lk, call, agent_name)
    if not result.ok:
        return result
    taken = await wait_until_taken(
        lk, call.room, agent_name, timeout=confirm_timeout, poll=min(poll, 0.5)
    )
    if taken.ok:
        return result
    await abandon(lk, call.room)
    result.error, result.not_placed = f"not placed: {taken.how}", True
    if record is not None:
        report = no_worker_report(
            room=call.room,
            phone_number=call.metadata.phone_number,
            metadata=call.metadata.model_dump(),
            reason=taken.how,
        )
        with contextlib.suppress(Exception):  # the command's own output still says it
            await asyncio.to_thread(record, report)
    return result


def report_saver(settings: Settings, store: Store | None) -> Callable[[dict[str, Any]], None]:
    """Saves a report in the store, opening it only when needed (a dial the crew checked
    nothing for touches the database only if a call is not placed)."""

    def save(report: dict[str, Any]) -> None:
        target = store or open_store(settings.database_url)
        try:
            target.reports.save(report)
        finally:
            if target is not store:
                target.close()

    return save
