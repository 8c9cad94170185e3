"""Offline SIP plans: `sip apply --dry-run --state FILE|empty` and `sip export`.

A dry run needs no server when it is given what LiveKit has: `empty` (a new project) or a file
written by `callcrew sip export` (LiveKit's own JSON for each trunk and rule, passwords
removed; the password fingerprints in our metadata stay, so a changed password still shows
when LIVEKIT_API_SECRET is set). Every problem — in sip.yaml, the state file, the secrets it
names and the settings a real apply would need — is reported in one run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from livekit import api

from callcrew.cli_boundary import fail
from callcrew.settings import Settings, SettingsError, load_settings
from callcrew.telephony.lkapi import livekit_api
from callcrew.telephony.sip_apply import on_livekit, sip_app
from callcrew.telephony.sip_config import (
    MissingSecretsError,
    SipConfig,
    SipConfigError,
    environment,
    load_sip_config,
    resolve_secrets,
)
from callcrew.telephony.sip_desired import LiveState, desired_state, fetch_state
from callcrew.telephony.sip_plan import make_plan

EMPTY = "empty"
STATE_VERSION = 1
# Export key -> the protobuf message of one item.
KINDS: dict[str, type[Any]] = {
    "inbound_trunks": api.SIPInboundTrunkInfo,
    "outbound_trunks": api.SIPOutboundTrunkInfo,
    "dispatch_rules": api.SIPDispatchRuleInfo,
}
MAX_STATE_BYTES = 5 * 1024 * 1024


class SipStateError(Exception):
    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = [f"{source}: {p}" for p in problems]
        super().__init__("\n".join(self.problems))


def export_state(live: LiveState) -> dict[str, Any]:
    """What LiveKit has as JSON, without passwords (safe to commit or attach to a ticket)."""
    out: dict[str, Any] = {"version": STATE_VERSION}
    groups: list[tuple[str, list[Any]]] = [
        ("inbound_trunks", list(live.inbound)),
        ("outbound_trunks", list(live.outbound)),
        ("dispatch_rules", list(live.rules)),
    ]
    for key, items in groups:
        rows = []
        for item in items:
            copy = type(item)()
            copy.CopyFrom(item)
            if hasattr(copy, "auth_password"):
                copy.auth_password = ""
            rows.append(MessageToDict(copy, preserving_proto_field_name=True))
        out[key] = rows
    return out


def load_state(source: str) -> LiveState:
    """`empty`, or a `callcrew sip export` file; SipStateError lists every bad item."""
    if source == EMPTY:
        return LiveState([], [], [])
    path = Path(source)
    try:
        if path.stat().st_size > MAX_STATE_BYTES:
            raise SipStateError(source, [f"larger than {MAX_STATE_BYTES // 1024 // 1024} MB"])
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SipStateError(source, [f"cannot read it ({exc.strerror})"]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SipStateError(source, [f"not JSON ({exc})"]) from None
    if not isinstance(data, dict):
        raise SipStateError(source, ["expected a JSON object written by `callcrew sip export`"])
    problems: list[str] = []
    unknown = sorted(set(data) - {*KINDS, "version"})
    if unknown:
        problems.append(f"unknown keys {', '.join(unknown)} (expected {', '.join(KINDS)})")
    parsed: dict[str, list[Any]] = {}
    for key, message in KINDS.items():
        rows = data.get(key, [])
        if not isinstance(rows, list):
            problems.append(f"{key}: expected a list")
            continue
        parsed[key] = []
        for i, row in enumerate(rows):
            try:
                parsed[key].append(ParseDict(row, message()))
            except (ParseError, TypeError, AttributeError) as exc:
                problems.append(f"{key}[{i}]: {str(exc).splitlines()[0][:200]}")
    if problems:
        raise SipStateError(source, problems)
    return LiveState(parsed["inbound_trunks"], parsed["outbound_trunks"], parsed["dispatch_rules"])


@dataclass
class Checked:
    settings: Settings | None = None
    config: SipConfig | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    live: LiveState | None = None
    problems: list[str] = field(default_factory=list)
    livekit_problems: list[str] = field(default_factory=list)  # only a real apply needs these


def check(file: Path | None, state: str | None) -> Checked:
    """Settings, sip.yaml, its secrets and (given) the state file: each problem collected
    rather than raised, so one run names them all."""
    out = Checked()
    try:
        out.settings = load_settings()
    except SettingsError as exc:
        out.problems += [f"settings: {p}" for p in exc.problems]
    path = file or (out.settings.sip_config if out.settings else Path("sip.yaml"))
    try:
        out.config = load_sip_config(path)
    except SipConfigError as exc:
        out.problems += [f"{exc.source}: {p}" for p in exc.problems]
    if out.config is not None:
        try:
            out.secrets = resolve_secrets(out.config, str(path), environment())
        except MissingSecretsError as exc:
            out.problems += [
                f"{path}: {var} (used by {', '.join(users)}) is not set (environment or .env)"
                for var, users in exc.missing.items()
            ]
            # Plan anyway: the trunk shows a password to be set, the problem says which.
            present = environment()
            out.secrets = {
                var: present.get(var) or f"<{var} unset>" for var in out.config.secret_users()
            }
    if out.settings is not None:
        out.livekit_problems = out.settings.livekit_problems()
    if state is not None:
        try:
            out.live = load_state(state)
        except SipStateError as exc:
            out.problems += exc.problems
    return out


def offline_dry_run(file: Path | None, state: str, *, prune: bool) -> None:
    """Print the plan against `state` and then every problem; exit 2 if there was any."""
    c = check(file, state)
    if c.config is not None and c.live is not None and c.settings is not None:
        desired = desired_state(c.config, c.secrets, c.settings)
        plan = make_plan(c.config, desired, c.live, prune=prune)
        for line in plan.render():
            typer.echo(line)
        n = plan.counts()
        shown = "an empty LiveKit" if state == EMPTY else state
        typer.echo(
            f"dry run against {shown}: would create {n['create']}, update {n['update']}, "
            f"delete {n['delete']}; nothing changed"
        )
    if c.livekit_problems:
        typer.echo(
            "note: the real `sip apply` also needs " + "; ".join(c.livekit_problems), err=True
        )
    if c.problems:
        typer.echo(f"{len(c.problems)} problem(s):", err=True)
        for p in c.problems:
            typer.echo(f"  - {p}" if not p.startswith("  ") else p, err=True)
        raise typer.Exit(2)


async def _fetch(settings: Settings) -> LiveState:
    async with livekit_api(settings) as lk:
        return await fetch_state(lk)


@sip_app.command("export")
def export_command(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here instead of standard output.")
    ] = None,
) -> None:
    """Save what LiveKit has (no passwords) for `sip apply --dry-run --state FILE`."""
    try:
        settings = load_settings()
        settings.require_livekit()
    except SettingsError as exc:
        raise fail(exc.render()) from None
    live = on_livekit(_fetch(settings))
    text = json.dumps(export_state(live), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"saved {out}", err=True)
