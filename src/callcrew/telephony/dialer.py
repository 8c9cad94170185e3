"""`callcrew dial`: place outbound calls by asking LiveKit to dispatch the agent to a new room.

Each call gets its own room (`call-out-<12 hex>`, never the number) and an agent dispatch whose
metadata is an `OutboundMetadata` (telephony/metadata.py). The job — not this command — then
dials the number through the outbound trunk (`sip.create_sip_participant`, as LiveKit's
outbound-caller example does), so busy / no answer / voicemail are the worker's business and end
up in its call report. This command checks what it can on either side of the dispatch
(telephony/placement.py): the appointment exists before, a worker took the job after.

A campaign (`--csv`) validates every row first: bad rows are reported with their line number and
skipped, the rest are dialled with at most `--max-concurrent` calls in progress at once (a call's
slot frees when its room closes; `--no-wait` only dispatches).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import phonenumbers
import typer
from livekit import api
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from callcrew.ids import parse_id
from callcrew.redact import mask_urls
from callcrew.settings import Settings, SettingsError, load_settings
from callcrew.store import Store, open_store
from callcrew.telephony.lkapi import LiveKitError, livekit_api, server_error_text
from callcrew.telephony.metadata import PURPOSES, OutboundMetadata
from callcrew.telephony.placement import (
    CONFIRM_TIMEOUT_S,
    abandon,
    missing_appointments,
    no_worker_report,
    wait_until_taken,
)

# A room nobody joins closes after this long; once the call is over it closes after DEPARTURE.
ROOM_EMPTY_TIMEOUT = 120
ROOM_DEPARTURE_TIMEOUT = 10

PHONE_COLUMNS = ("phone_number", "phone", "number", "to")
APPOINTMENT_COLUMNS = ("appointment_id", "appointment")
KNOWN_COLUMNS = {*PHONE_COLUMNS, *APPOINTMENT_COLUMNS, "purpose"}


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


def new_campaign_id(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"camp-{stamp}-{uuid.uuid4().hex[:6]}"


# --metadata is the crew's custom data: a few flat fields. Deeper nesting is a mistake, and
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


def parse_custom(text: str | None) -> dict[str, Any]:
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


@dataclass
class SkippedRow:
    line: int
    reason: str


@dataclass
class Campaign:
    id: str
    calls: list[CallRequest]
    skipped: list[SkippedRow]


def build_call(
    number: str,
    *,
    purpose: str | None,
    appointment_id: int | None,
    custom: dict[str, Any],
    trunk: str | None,
    region: str,
    allow_unassigned: bool,
    campaign: str | None = None,
    line: int | None = None,
) -> CallRequest:
    """One call's request; ValueError with the reason when it cannot be dialled."""
    e164 = normalize_number(number, region, allow_unassigned=allow_unassigned)
    if purpose is None:
        raise ValueError(f"no purpose (one of {', '.join(PURPOSES)})")
    if purpose not in PURPOSES:
        raise ValueError(f"purpose {purpose!r} is not one of {', '.join(PURPOSES)}")
    try:
        meta = OutboundMetadata(
            phone_number=e164,
            purpose=purpose,
            appointment_id=appointment_id,
            trunk=trunk,
            custom=custom,
            campaign=campaign,
            line=line,
        )
        meta.to_json()
    except ValidationError as exc:
        raise ValueError(_validation_text(exc)) from None
    return CallRequest(meta, room_name(), line)


def read_campaign(
    path: Path,
    *,
    purpose: str | None,
    custom: dict[str, Any],
    trunk: str | None,
    region: str,
    allow_unassigned: bool,
    campaign_id: str | None = None,
) -> Campaign:
    """Every row of a campaign CSV, validated; bad rows skipped with their line number.

    Columns: `phone_number` (or phone/number/to), optional `purpose` (else --purpose),
    `appointment_id` (or appointment); any other column goes into the call's `custom` data.
    Lines starting with # are comments. A number that appears twice is dialled once.
    """
    cid = campaign_id or new_campaign_id()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DialError(f"{path}: campaign file not found") from None
    except UnicodeDecodeError:
        raise DialError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise DialError(f"{path}: cannot read it ({exc.strerror})") from None

    position = {"line": 0}

    def physical_lines() -> Iterator[str]:
        # Comments are dropped before csv sees them; `position` keeps the real line number of
        # the last line csv has read, which is the line of the row it just returned.
        for number, text_line in enumerate(text.splitlines(keepends=True), start=1):
            if text_line.lstrip().startswith("#"):
                continue
            position["line"] = number
            yield text_line

    reader = csv.reader(physical_lines())
    calls: list[CallRequest] = []
    skipped: list[SkippedRow] = []
    seen: dict[str, int] = {}
    header: list[str] = []
    while not any(cell.strip() for cell in header):
        try:
            header = next(reader)
        except StopIteration:
            raise DialError(f"{path}: the file is empty (expected a header row)") from None
        except csv.Error as exc:
            raise DialError(f"{path}: not a CSV file ({exc})") from None
    names = [h.strip().lower().replace(" ", "_").replace("-", "_") for h in header]
    phone_col = next((i for i, n in enumerate(names) if n in PHONE_COLUMNS), None)
    if phone_col is None:
        raise DialError(
            f"{path}: line {position['line']}: no phone number column in the header row; "
            f"name one of {', '.join(PHONE_COLUMNS)}"
        )
    purpose_col = names.index("purpose") if "purpose" in names else None
    appt_col = next((i for i, n in enumerate(names) if n in APPOINTMENT_COLUMNS), None)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            skipped.append(SkippedRow(position["line"], f"unreadable CSV row ({exc})"))
            continue
        line = position["line"]
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(names):
            skipped.append(SkippedRow(line, f"{len(row)} cells but the header names {len(names)}"))
            continue
        cells = row + [""] * (len(names) - len(row))
        try:
            appt: int | None = None
            if appt_col is not None and cells[appt_col].strip():
                appt = parse_id(cells[appt_col], "appointment id")
            row_custom = dict(custom)
            for i, n in enumerate(names):
                if n and n not in KNOWN_COLUMNS and cells[i].strip():
                    row_custom[n] = cells[i].strip()
            row_purpose = (
                cells[purpose_col].strip().lower()
                if purpose_col is not None and cells[purpose_col].strip()
                else purpose
            )
            call = build_call(
                cells[phone_col],
                purpose=row_purpose,
                appointment_id=appt,
                custom=row_custom,
                trunk=trunk,
                region=region,
                allow_unassigned=allow_unassigned,
                campaign=cid,
                line=line,
            )
        except ValueError as exc:
            skipped.append(SkippedRow(line, str(exc)))
            continue
        number = call.metadata.phone_number
        if number in seen:
            skipped.append(SkippedRow(line, f"{number} is already on line {seen[number]}"))
            continue
        seen[number] = line
        calls.append(call)
    return Campaign(cid, calls, skipped)


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
    """Saves a report in the store, opening it only when needed (a dial about no appointment
    never touches the database unless a call is not placed)."""

    def save(report: dict[str, Any]) -> None:
        target = store or open_store(settings.database_url)
        try:
            target.reports.save(report)
        finally:
            if target is not store:
                target.close()

    return save


async def wait_for_room_to_close(
    lk: api.LiveKitAPI, room: str, *, poll: float, timeout: float
) -> bool:
    """True once the room is gone (the call ended), False if it is still open after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            listed = await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))
        except _API_ERRORS:
            listed = None  # a hiccup while waiting is not a failed call; try again
        if listed is not None and not any(r.name == room for r in listed.rooms):
            return True
        await asyncio.sleep(poll)
    return False


@dataclass
class CampaignProgress:
    total: int
    dispatched: int = 0
    finished: int = 0
    failed: int = 0
    not_placed: int = 0
    in_progress: int = 0
    results: list[CallResult] = field(default_factory=list)


async def run_calls(
    lk: api.LiveKitAPI,
    calls: list[CallRequest],
    *,
    agent_name: str,
    max_concurrent: int,
    wait: bool,
    poll: float,
    call_timeout: float,
    on_update: Callable[[CampaignProgress], None] = lambda p: None,
    confirm_timeout: float = CONFIRM_TIMEOUT_S,
    record: Callable[[dict[str, Any]], None] | None = None,
) -> CampaignProgress:
    """Place every call, never more than `max_concurrent` in progress at once."""
    progress = CampaignProgress(total=len(calls))
    slots = asyncio.Semaphore(max_concurrent)

    async def one(call: CallRequest) -> None:
        async with slots:
            progress.in_progress += 1
            on_update(progress)
            result = await place_call(
                lk,
                call,
                agent_name,
                confirm_timeout=confirm_timeout,
                poll=poll,
                record=record,
            )
            if result.ok:
                progress.dispatched += 1
                on_update(progress)
                if wait:
                    closed = await wait_for_room_to_close(
                        lk, call.room, poll=poll, timeout=call_timeout
                    )
                    result.still_open = not closed
            elif result.not_placed:
                progress.not_placed += 1
            else:
                progress.failed += 1
            progress.in_progress -= 1
            progress.finished += 1
            progress.results.append(result)
            on_update(progress)

    await asyncio.gather(*(one(c) for c in calls))
    order = {id(c): i for i, c in enumerate(calls)}
    progress.results.sort(key=lambda r: order[id(r.request)])
    return progress


# --- the command ----------------------------------------------------------------------------------


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(mask_urls(message), err=True)
    return typer.Exit(code)


def _with_trunk(calls: list[CallRequest], trunk_id: str) -> None:
    for c in calls:
        c.metadata = c.metadata.model_copy(update={"trunk": trunk_id})


def _print_summary(campaign: Campaign, progress: CampaignProgress | None) -> None:
    results = progress.results if progress else []
    ok = [r for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    not_placed = sum(r.not_placed for r in failed)
    typer.echo(
        f"campaign {campaign.id}: {len(ok)} placed, {len(failed)} failed "
        f"({not_placed} not placed: no worker took them), {len(campaign.skipped)} skipped"
    )
    if campaign.skipped:
        typer.echo("skipped:")
        for s in campaign.skipped:
            typer.echo(mask_urls(f"  line {s.line}: {s.reason}"))
    if failed:
        typer.echo("failed:")
        for r in failed:
            typer.echo(f"  line {r.request.line}: {r.request.metadata.phone_number}: {r.error}")
    if ok:
        typer.echo("placed (a worker took each):")
        for r in ok:
            open_note = "  (room still open when we stopped waiting)" if r.still_open else ""
            typer.echo(
                f"  line {r.request.line}: {r.request.metadata.phone_number} -> "
                f"room {r.request.room}{open_note}"
            )


async def _dial_async(
    settings: Settings,
    calls: list[CallRequest],
    campaign: Campaign | None,
    *,
    trunk: str | None,
    max_concurrent: int,
    wait: bool,
    poll: float,
    confirm_timeout: float,
    store: Store | None,
) -> int:
    async with livekit_api(settings) as lk:
        trunk_id, trunk_name = await resolve_trunk(lk, trunk)
        _with_trunk(calls, trunk_id)
        if campaign is None:
            call = calls[0]
            typer.echo(
                f"dialling {call.metadata.phone_number} through outbound trunk "
                f'"{trunk_name}" ({trunk_id})'
            )
            result = await place_call(
                lk,
                call,
                settings.agent_name,
                confirm_timeout=confirm_timeout,
                poll=poll,
                record=report_saver(settings, store),
            )
            if not result.ok:
                typer.echo(f"failed: {result.error}", err=True)
                return 1
            typer.echo(
                f"placed: agent {settings.agent_name} took the call in room {call.room}"
                + (f" (dispatch {result.dispatch_id})" if result.dispatch_id else "")
                + "; the worker dials the number"
            )
            return 0

        typer.echo(
            f"campaign {campaign.id}: {len(calls)} calls through outbound trunk "
            f'"{trunk_name}" ({trunk_id}), at most {max_concurrent} at once'
        )
        console = Console(stderr=True)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as bar:
            task = bar.add_task("calls", total=len(calls), status="")

            def update(p: CampaignProgress) -> None:
                bar.update(
                    task,
                    completed=p.finished,
                    status=f"{p.in_progress} in progress, {p.failed + p.not_placed} failed",
                )

            progress = await run_calls(
                lk,
                calls,
                agent_name=settings.agent_name,
                max_concurrent=max_concurrent,
                wait=wait,
                poll=poll,
                call_timeout=settings.max_call_seconds + ROOM_EMPTY_TIMEOUT,
                on_update=update,
                confirm_timeout=confirm_timeout,
                record=report_saver(settings, store),
            )
        _print_summary(campaign, progress)
        return 1 if progress.failed or progress.not_placed else 0


def _check_appointments(
    settings: Settings, calls: list[CallRequest], campaign: Campaign | None, source: str
) -> Store | None:
    """Calls about an appointment the store does not have are not dialled (exit 2 for one
    call; a campaign reports the row by line and skips it). Returns the store it opened."""
    ids = {c.metadata.appointment_id for c in calls if c.metadata.appointment_id is not None}
    if not ids:
        return None
    try:
        store = open_store(settings.database_url)
        missing = missing_appointments(store, ids)
    except Exception as exc:  # a store we cannot read is a setting problem, said in one line
        raise DialError(f"cannot check the appointments in the store: {exc}") from None
    if campaign is None:
        if missing:
            store.close()
            raise DialError(
                f"appointment {min(missing)} does not exist in the store (DATABASE_URL); "
                "nothing dialled"
            )
        return store
    for c in [c for c in calls if c.metadata.appointment_id in missing]:
        calls.remove(c)
        campaign.skipped.append(
            SkippedRow(c.line or 0, f"appointment {c.metadata.appointment_id} does not exist")
        )
    campaign.skipped.sort(key=lambda r: r.line)
    if not calls:
        store.close()
        _print_summary(campaign, None)
        raise DialError(f"{source}: no row can be dialled")
    return store


def dial(
    number: str | None = typer.Argument(
        None, help="Number to call: E.164 (+15551234567) or national with --region."
    ),
    purpose: str | None = typer.Option(
        None, "--purpose", help="Why we call: reminder, confirm or custom (CSV: the default)."
    ),
    appointment_text: str | None = typer.Option(
        None, "--appointment", help="Appointment id (reminder and confirm need one)."
    ),
    metadata: str | None = typer.Option(
        None, "--metadata", help="JSON object handed to the crew as `custom` data."
    ),
    trunk: str | None = typer.Option(
        None,
        "--trunk",
        help="Outbound trunk name (default: SIP_OUTBOUND_TRUNK, or LiveKit's only one).",
    ),
    region: str = typer.Option("US", "--region", help="Region for numbers without +country."),
    csv_file: Annotated[
        Path | None,
        typer.Option("--csv", help="Campaign file: phone_number[,purpose][,appointment_id][,...]."),
    ] = None,
    max_concurrent: int = typer.Option(
        5, "--max-concurrent", min=1, max=200, help="Campaign: calls in progress at once."
    ),
    wait: bool = typer.Option(
        True,
        "--wait/--no-wait",
        help="Campaign: hold each slot until the call's room closes (--no-wait: dispatch only).",
    ),
    allow_test_numbers: bool = typer.Option(
        False, "--allow-test-numbers", help="Accept well-formed unassigned numbers (+1 555 01xx)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Validate and list the calls; contact nobody."
    ),
    confirm_timeout: float = typer.Option(
        CONFIRM_TIMEOUT_S,
        "--confirm-timeout",
        min=0.1,
        max=600,
        help="Seconds to wait for a worker to take each call before it counts as not placed.",
    ),
    poll_interval: float = typer.Option(2.0, "--poll-interval", hidden=True, min=0.01),
) -> None:
    """Place outbound calls: one NUMBER, or a campaign with --csv FILE."""
    if (number is None) == (csv_file is None):
        raise _fail("give either a NUMBER or --csv FILE (not both)", 2)
    if purpose is not None and purpose not in PURPOSES:
        raise _fail(f"--purpose must be one of {', '.join(PURPOSES)} (got {purpose!r})", 2)
    if phonenumbers.region_code_for_country_code(
        phonenumbers.country_code_for_region(region.upper())
    ) in ("ZZ", None):
        raise _fail(f"--region {region!r} is not a two-letter region code like US or GB", 2)
    try:
        appointment = parse_id(appointment_text, "--appointment") if appointment_text else None
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    try:
        settings = load_settings()
        if not dry_run:
            settings.require_livekit()
        custom = parse_custom(metadata)
        campaign: Campaign | None = None
        if csv_file is not None:
            if appointment is not None:
                raise DialError("--appointment is for one call; put appointment_id in the CSV")
            campaign = read_campaign(
                csv_file,
                purpose=purpose,
                custom=custom,
                trunk=None,
                region=region,
                allow_unassigned=allow_test_numbers,
            )
            calls = campaign.calls
            if not calls:
                _print_summary(campaign, None)
                raise DialError(f"{csv_file}: no row can be dialled")
        else:
            if purpose is None:
                raise DialError("--purpose is required: reminder, confirm or custom")
            try:
                calls = [
                    build_call(
                        number or "",
                        purpose=purpose,
                        appointment_id=appointment,
                        custom=custom,
                        trunk=None,
                        region=region,
                        allow_unassigned=allow_test_numbers,
                    )
                ]
            except ValueError as exc:
                raise DialError(f"cannot dial {number!r}: {exc}") from None
        store = _check_appointments(settings, calls, campaign, str(csv_file))
    except (SettingsError, DialError) as exc:
        raise _fail(str(exc), 2) from None

    if dry_run:
        for c in calls:
            where = f"line {c.line}: " if c.line else ""
            typer.echo(f"would dial {where}{c.metadata.phone_number} -> room {c.room}")
            typer.echo(f"  metadata {c.metadata.to_json()}")
        if campaign is not None and campaign.skipped:
            typer.echo("skipped:")
            for s in campaign.skipped:
                typer.echo(mask_urls(f"  line {s.line}: {s.reason}"))
        typer.echo("dry run: nothing dispatched")
        if store is not None:
            store.close()
        return

    try:
        code = asyncio.run(
            _dial_async(
                settings,
                calls,
                campaign,
                trunk=trunk or settings.sip_outbound_trunk,
                max_concurrent=max_concurrent,
                wait=wait,
                poll=poll_interval,
                confirm_timeout=confirm_timeout,
                store=store,
            )
        )
    except DialError as exc:
        raise _fail(str(exc), 2) from None
    except LiveKitError as exc:
        raise _fail(str(exc), 1) from None
    except api.ServerError as exc:
        raise _fail(f"LiveKit error: {server_error_text(exc)}", 1) from None
    finally:
        if store is not None:
            store.close()
    if code:
        raise typer.Exit(code)
