"""A campaign: a CSV of calls validated row by row, dialled with a bound on calls in progress.

Bad rows are reported with their line number and skipped; the rest are dialled with at most
`--max-concurrent` calls in progress at once (a call's slot frees when its room closes;
`--no-wait` only dispatches).
"""

from __future__ import annotations

import asyncio
import csv
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from livekit import api

from callcrew.crews import LoadedCrew
from callcrew.telephony.dial_call import (
    _API_ERRORS,
    CallRequest,
    CallResult,
    DialError,
    build_call,
    place_call,
)
from callcrew.telephony.placement import CONFIRM_TIMEOUT_S

PHONE_COLUMNS = ("phone_number", "phone", "number", "to")
KNOWN_COLUMNS = {*PHONE_COLUMNS, "purpose"}


def new_campaign_id(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"camp-{stamp}-{uuid.uuid4().hex[:6]}"


@dataclass
class SkippedRow:
    line: int
    reason: str


@dataclass
class Campaign:
    id: str
    calls: list[CallRequest]
    skipped: list[SkippedRow]


def read_campaign(
    path: Path,
    *,
    crew: LoadedCrew,
    purpose: str | None,
    data: dict[str, Any],
    trunk: str | None,
    region: str,
    allow_unassigned: bool,
    campaign_id: str | None = None,
) -> Campaign:
    """Every row of a campaign CSV, validated; bad rows skipped with their line number.

    Columns: `phone_number` (or phone/number/to), optional `purpose` (else --purpose); every
    other column is a field of the purpose's data (`order_id`, `note`, ...), over `data`
    (--data/--metadata). An empty cell leaves its field out.
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
            row_data = dict(data)
            for i, n in enumerate(names):
                if n and n not in KNOWN_COLUMNS and cells[i].strip():
                    row_data[n] = cells[i].strip()
            row_purpose = (
                cells[purpose_col].strip().lower()
                if purpose_col is not None and cells[purpose_col].strip()
                else purpose
            )
            call = build_call(
                cells[phone_col],
                crew=crew,
                purpose=row_purpose,
                data=row_data,
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
