"""`callcrew dial`: the command that places one call or a CSV campaign (telephony/campaign.py).

It reads the arguments into call requests (telephony/dial_call.py), asks the crew to check each
call's data before anything is dispatched (`Crew.check_dispatch`: the desk checks that the
record a call is about exists), then dispatches and reports what was placed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import phonenumbers
import typer
from livekit import api
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from callcrew.cli_boundary import fail
from callcrew.crews import CrewDefaults, CrewNotFound, LoadedCrew, load_crew
from callcrew.errors import UserError
from callcrew.redact import mask_urls
from callcrew.settings import Settings, SettingsError, load_settings
from callcrew.store import Store, open_store
from callcrew.telephony.campaign import (
    Campaign,
    CampaignProgress,
    SkippedRow,
    read_campaign,
    run_calls,
)
from callcrew.telephony.dial_call import (
    ROOM_EMPTY_TIMEOUT,
    CallRequest,
    DialError,
    build_call,
    parse_json_data,
    place_call,
    report_saver,
    resolve_trunk,
)
from callcrew.telephony.lkapi import LiveKitError, livekit_api, server_error_text
from callcrew.telephony.placement import CONFIRM_TIMEOUT_S
from callcrew.telephony.purposes import find_purpose, parse_pairs, purpose_names

__all__ = ["DialError", "dial", "resolve_trunk"]  # worker.py resolves its trunk here too


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


def _checks_dispatch(crew: LoadedCrew) -> bool:
    """Whether the crew checks calls before they are dispatched (else no store is opened)."""
    hook = getattr(crew.check_dispatch, "__func__", None)
    return hook is not CrewDefaults.check_dispatch


def _check_dispatch(
    settings: Settings,
    crew: LoadedCrew,
    calls: list[CallRequest],
    campaign: Campaign | None,
    source: str,
) -> Store | None:
    """Calls whose data the crew refuses (`check_dispatch`: the record they are about does not
    exist) are not dialled: exit 2 for one call; a campaign reports the row by line and skips
    it. Returns the store it opened."""
    if not _checks_dispatch(crew):
        return None
    try:
        store = open_store(settings.database_url)
    except Exception as exc:  # a store we cannot read is a setting problem, said in one line
        raise DialError(f"cannot open the store to check the calls: {exc}") from None
    refused: list[tuple[CallRequest, str]] = []
    for c in calls:
        purpose = find_purpose(crew, c.metadata.purpose)
        data: BaseModel = purpose.data.model_validate(c.metadata.data)
        try:
            crew.check_dispatch(store, c.metadata.purpose, data)
        except UserError as exc:
            refused.append((c, str(exc)))
        except Exception as exc:
            store.close()
            raise DialError(f"cannot check the calls in the store: {exc}") from None
    if campaign is None:
        if refused:
            store.close()
            raise DialError(f"{refused[0][1]}; nothing dialled")
        return store
    for c, reason in refused:
        calls.remove(c)
        campaign.skipped.append(SkippedRow(c.line or 0, reason))
    campaign.skipped.sort(key=lambda r: r.line)
    if not calls:
        store.close()
        _print_summary(campaign, None)
        raise DialError(f"{source}: no row can be dialled")
    return store


def _requests(
    crew: LoadedCrew,
    number: str | None,
    csv_file: Path | None,
    *,
    purpose: str | None,
    data: dict[str, Any],
    region: str,
    allow_test_numbers: bool,
) -> tuple[list[CallRequest], Campaign | None]:
    if csv_file is not None:
        campaign = read_campaign(
            csv_file,
            crew=crew,
            purpose=purpose,
            data=data,
            trunk=None,
            region=region,
            allow_unassigned=allow_test_numbers,
        )
        if not campaign.calls:
            _print_summary(campaign, None)
            raise DialError(f"{csv_file}: no row can be dialled")
        return campaign.calls, campaign
    if purpose is None:
        raise DialError(f"--purpose is required: {', '.join(purpose_names(crew))}")
    try:
        call = build_call(
            number or "",
            crew=crew,
            purpose=purpose,
            data=data,
            trunk=None,
            region=region,
            allow_unassigned=allow_test_numbers,
        )
    except ValueError as exc:
        raise DialError(f"cannot dial {number!r}: {exc}") from None
    return [call], None


def dial(
    number: str | None = typer.Argument(
        None, help="Number to call: E.164 (+15551234567) or national with --region."
    ),
    purpose: str | None = typer.Option(
        None,
        "--purpose",
        help="Why we call: one of the crew's purposes, or custom (CSV: the default).",
    ),
    data_pairs: list[str] = typer.Option(  # noqa: B008 (typer's way to declare an option)
        [],
        "--data",
        help="A field of the purpose's data, key=value (repeat it); the error lists the fields.",
    ),
    metadata: str | None = typer.Option(
        None, "--metadata", help="More of the purpose's data as a JSON object (--data wins)."
    ),
    trunk: str | None = typer.Option(
        None,
        "--trunk",
        help="Outbound trunk name (default: SIP_OUTBOUND_TRUNK, or LiveKit's only one).",
    ),
    region: str = typer.Option("US", "--region", help="Region for numbers without +country."),
    csv_file: Annotated[
        Path | None,
        typer.Option("--csv", help="Campaign file: phone_number[,purpose][,data columns...]."),
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
        raise fail("give either a NUMBER or --csv FILE (not both)", 2)
    if phonenumbers.region_code_for_country_code(
        phonenumbers.country_code_for_region(region.upper())
    ) in ("ZZ", None):
        raise fail(f"--region {region!r} is not a two-letter region code like US or GB", 2)
    try:
        settings = load_settings()
        crew = load_crew(settings.crew)
        if purpose is not None and purpose not in purpose_names(crew):
            names = ", ".join(purpose_names(crew))
            raise DialError(f"--purpose must be one of {names} (got {purpose!r})")
        if not dry_run:
            settings.require_livekit()
        data: dict[str, Any] = {**parse_json_data(metadata), **parse_pairs(data_pairs)}
        calls, campaign = _requests(
            crew,
            number,
            csv_file,
            purpose=purpose,
            data=data,
            region=region,
            allow_test_numbers=allow_test_numbers,
        )
        store = _check_dispatch(settings, crew, calls, campaign, str(csv_file))
    except (SettingsError, DialError, CrewNotFound, ValueError) as exc:
        raise fail(str(exc), 2) from None

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
        raise fail(str(exc), 2) from None
    except LiveKitError as exc:
        raise fail(str(exc), 1) from None
    except api.ServerError as exc:
        raise fail(f"LiveKit error: {server_error_text(exc)}", 1) from None
    finally:
        if store is not None:
            store.close()
    if code:
        raise typer.Exit(code)
