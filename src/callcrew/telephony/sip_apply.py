"""`callcrew sip apply | list`: make LiveKit's SIP trunks and dispatch rules match sip.yaml.

Items are matched by name. Missing ones are created, ones that differ are updated in place
(livekit-api 1.2 has `update_inbound_trunk`, `update_outbound_trunk` and `update_dispatch_rule`,
which replace the item; we send a copy of what LiveKit has with our fields set, so fields sip.yaml
does not manage — headers, Krisp, media encryption — survive), and items LiveKit has that the file
does not name are deleted only with `--prune`. Applying the same file twice changes nothing.

Passwords are never printed. LiveKit may not return them when listing (LiveKit Cloud), so each
managed trunk carries a keyed fingerprint of its password in its metadata (HMAC-SHA256 with the
API secret; trunk metadata is only visible to SIP admins, who hold that secret anyway), which is
how a changed password is noticed without reading it back.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from livekit import api
from rich.console import Console
from rich.table import Table
from rich.text import Text

from callcrew.cli_boundary import fail
from callcrew.settings import Settings, SettingsError, load_settings
from callcrew.telephony.lkapi import LiveKitError, livekit_api, server_error_text
from callcrew.telephony.sip_desired import (
    SECRET_MASK,
    TRANSPORT_NAMES,
    Desired,
    LiveState,
    desired_state,
    fetch_state,
    is_managed,
    parse_marker,
    set_rule_fields,
)
from callcrew.telephony.sip_models import SipConfig
from callcrew.telephony.sip_plan import Plan, describe_rule, make_plan

# --- applying it ----------------------------------------------------------------------------------


async def apply_plan(
    lk: api.LiveKitAPI,
    plan: Plan,
    desired: Desired,
    live: LiveState,
    *,
    echo: Callable[[str], None] = print,
) -> None:
    """Deletions first (with --prune: a renamed trunk may reuse its numbers), then trunks, then
    rules, which need the trunks' ids."""
    todo = plan.to_apply
    for c in todo:
        if c.action == "delete" and c.kind == "dispatch rule":
            await lk.sip.delete_dispatch_rule(
                api.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=c.id)
            )
            echo(f'deleted dispatch rule "{c.name}" ({c.id})')
    for c in todo:
        if c.action == "delete" and c.kind != "dispatch rule":
            await lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=c.id))
            echo(f'deleted {c.kind} "{c.name}" ({c.id})')

    trunk_ids = {t.name: t.sip_trunk_id for t in live.inbound}
    for c in todo:
        if c.kind == "inbound trunk" and c.action == "create":
            created_in = await lk.sip.create_inbound_trunk(
                api.CreateSIPInboundTrunkRequest(trunk=c.payload)
            )
            trunk_ids[c.name] = created_in.sip_trunk_id
            echo(f'created inbound trunk "{c.name}" ({created_in.sip_trunk_id})')
        elif c.kind == "inbound trunk" and c.action == "update":
            await lk.sip.update_inbound_trunk(c.id, c.payload)
            echo(f'updated inbound trunk "{c.name}" ({c.id})')
        elif c.kind == "outbound trunk" and c.action == "create":
            created_out = await lk.sip.create_outbound_trunk(
                api.CreateSIPOutboundTrunkRequest(trunk=c.payload)
            )
            echo(f'created outbound trunk "{c.name}" ({created_out.sip_trunk_id})')
        elif c.kind == "outbound trunk" and c.action == "update":
            await lk.sip.update_outbound_trunk(c.id, c.payload)
            echo(f'updated outbound trunk "{c.name}" ({c.id})')

    for c in todo:
        if c.kind != "dispatch rule" or c.action == "delete" or c.rule is None:
            continue
        ids = [trunk_ids[n] for n in c.rule.trunks]
        if c.action == "create":
            info = desired.rule(c.rule, ids)
            created = await lk.sip.create_dispatch_rule(
                api.CreateSIPDispatchRuleRequest(dispatch_rule=info)
            )
            echo(f'created dispatch rule "{c.name}" ({created.sip_dispatch_rule_id})')
        else:
            replacement: api.SIPDispatchRuleInfo = c.payload
            set_rule_fields(replacement, desired, c.rule, ids)
            await lk.sip.update_dispatch_rule(c.id, replacement)
            echo(f'updated dispatch rule "{c.name}" ({c.id})')


# --- the commands ------------------------------------------------------------------------------

sip_app = typer.Typer(
    help="SIP trunks and dispatch rules: make LiveKit match sip.yaml, or show what it has.",
    no_args_is_help=True,
)

T = TypeVar("T")


def on_livekit(exchange: Coroutine[Any, Any, T]) -> T:
    """Run one exchange with LiveKit's API; LiveKit unreachable or refusing is exit 1."""
    try:
        return asyncio.run(exchange)
    except LiveKitError as exc:
        raise fail(str(exc), 1) from None
    except api.ServerError as exc:
        raise fail(f"LiveKit error: {server_error_text(exc)}", 1) from None


async def _apply_async(
    settings: Settings, config: SipConfig, desired: Desired, *, dry_run: bool, prune: bool
) -> None:
    async with livekit_api(settings) as lk:
        live = await fetch_state(lk)
        plan = make_plan(config, desired, live, prune=prune)
        for line in plan.render():
            typer.echo(line)
        if not plan.to_apply:
            return
        if dry_run:
            c = plan.counts()
            typer.echo(
                f"dry run: would create {c['create']}, update {c['update']}, "
                f"delete {c['delete']}; nothing changed"
            )
            return
        await apply_plan(lk, plan, desired, live, echo=typer.echo)
        c = plan.counts()
        typer.echo(f"applied: {c['create']} created, {c['update']} updated, {c['delete']} deleted")


@sip_app.command("apply")
def apply_command(
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="SIP config (default: the SIP_CONFIG setting, sip.yaml)."
        ),
    ] = None,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; change nothing."),
    prune: bool = typer.Option(
        False, "--prune", help="Also delete trunks and rules that sip.yaml does not name."
    ),
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            help="With --dry-run, plan offline against this `sip export` file, or `empty`.",
        ),
    ] = None,
) -> None:
    """Make LiveKit's SIP trunks and dispatch rules match sip.yaml (idempotent)."""
    from callcrew.telephony import sip_state

    if state is not None:
        if not dry_run:
            raise fail("--state plans against a saved state: use it with --dry-run", 2)
        sip_state.offline_dry_run(file, state, prune=prune)
        return
    # Every problem (settings, sip.yaml, its secrets, LiveKit's settings) in one run.
    checked = sip_state.check(file, None)
    problems = checked.problems + checked.livekit_problems
    if problems:
        raise fail("\n".join(problems), 2)
    settings, config = checked.settings, checked.config
    assert settings is not None and config is not None
    desired = desired_state(config, checked.secrets, settings)
    on_livekit(_apply_async(settings, config, desired, dry_run=dry_run, prune=prune))


def _auth_text(username: str, password: str, metadata: str) -> str:
    has_pw = bool(password) or bool((parse_marker(metadata) or {}).get("auth_fp"))
    if not username and not has_pw:
        return "(none)"
    return f"{username or '(no user)'} / {SECRET_MASK if has_pw else '(no password)'}"


def state_as_dict(live: LiveState) -> dict[str, list[dict[str, Any]]]:
    """What LiveKit has, secrets masked (for `sip list --json`)."""
    names = live.trunk_names()
    return {
        "inbound_trunks": [
            {
                "id": t.sip_trunk_id,
                "name": t.name,
                "numbers": list(t.numbers),
                "allowed_addresses": list(t.allowed_addresses),
                "allowed_numbers": list(t.allowed_numbers),
                "auth": _auth_text(t.auth_username, t.auth_password, t.metadata),
                "managed": is_managed(t.metadata),
            }
            for t in live.inbound
        ],
        "outbound_trunks": [
            {
                "id": t.sip_trunk_id,
                "name": t.name,
                "address": t.address,
                "transport": TRANSPORT_NAMES.get(t.transport, str(t.transport)),
                "numbers": list(t.numbers),
                "auth": _auth_text(t.auth_username, t.auth_password, t.metadata),
                "managed": is_managed(t.metadata),
            }
            for t in live.outbound
        ],
        "dispatch_rules": [
            {
                "id": r.sip_dispatch_rule_id,
                "name": r.name,
                "trunks": [names.get(i, i) for i in r.trunk_ids] or ["(any trunk)"],
                "rule": describe_rule(r.rule),
                "agents": [
                    {"agent_name": a.agent_name, "metadata": a.metadata}
                    for a in r.room_config.agents
                ],
            }
            for r in live.rules
        ],
    }


def _print_tables(data: dict[str, list[dict[str, Any]]]) -> None:
    console = Console(width=max(Console().width, 120))
    specs = (
        (
            "inbound_trunks",
            "Inbound trunks",
            ("name", "id", "numbers", "allowed_addresses", "allowed_numbers", "auth"),
        ),
        (
            "outbound_trunks",
            "Outbound trunks",
            ("name", "id", "address", "transport", "numbers", "auth"),
        ),
        ("dispatch_rules", "Dispatch rules", ("name", "id", "trunks", "rule", "agents")),
    )
    for key, title, cols in specs:
        rows = data[key]
        if not rows:
            console.print(f"{title}: none", markup=False)
            continue
        table = Table(title=title, title_justify="left")
        for col in cols:
            table.add_column(col, overflow="fold")
        for row in rows:
            cells: list[Text] = []
            for col in cols:
                v = row[col]
                if col == "agents":
                    v = ", ".join(
                        a["agent_name"] + (f" {a['metadata']}" if a["metadata"] else "") for a in v
                    )
                elif isinstance(v, list):
                    v = ", ".join(v) or "(none)"
                cells.append(Text(str(v)))  # names come from users: never markup
            table.add_row(*cells)
        console.print(table)


async def _list_async(settings: Settings) -> LiveState:
    async with livekit_api(settings) as lk:
        return await fetch_state(lk)


@sip_app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Show the SIP trunks and dispatch rules LiveKit has (passwords masked)."""
    try:
        settings = load_settings()
        settings.require_livekit()
    except SettingsError as exc:
        raise fail(str(exc), 2) from None
    live = on_livekit(_list_async(settings))
    data = state_as_dict(live)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        _print_tables(data)
