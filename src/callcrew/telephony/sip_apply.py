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
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from livekit import api
from rich.console import Console
from rich.table import Table
from rich.text import Text

from callcrew.redact import mask_urls
from callcrew.settings import Settings, SettingsError, load_settings
from callcrew.telephony.lkapi import LiveKitError, livekit_api, server_error_text
from callcrew.telephony.sip_config import (
    DispatchRule,
    InboundTrunk,
    OutboundTrunk,
    SipConfig,
)

MANAGED_BY = "callcrew"
SECRET_MASK = "****"

Kind = Literal["inbound trunk", "outbound trunk", "dispatch rule"]
Action = Literal["create", "update", "delete"]

TRANSPORTS: dict[str, int] = {
    "auto": api.SIPTransport.SIP_TRANSPORT_AUTO,
    "udp": api.SIPTransport.SIP_TRANSPORT_UDP,
    "tcp": api.SIPTransport.SIP_TRANSPORT_TCP,
    "tls": api.SIPTransport.SIP_TRANSPORT_TLS,
}
TRANSPORT_NAMES = {v: k for k, v in TRANSPORTS.items()}


# --- what LiveKit has -------------------------------------------------------------------------


@dataclass
class LiveState:
    inbound: list[api.SIPInboundTrunkInfo]
    outbound: list[api.SIPOutboundTrunkInfo]
    rules: list[api.SIPDispatchRuleInfo]

    def trunk_names(self) -> dict[str, str]:
        """Trunk id -> name, for showing rules' trunks by name."""
        names = {t.sip_trunk_id: t.name for t in self.inbound}
        names.update({t.sip_trunk_id: t.name for t in self.outbound})
        return names


async def fetch_state(lk: api.LiveKitAPI) -> LiveState:
    inbound, outbound, rules = await asyncio.gather(
        lk.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest()),
        lk.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest()),
        lk.sip.list_dispatch_rule(api.ListSIPDispatchRuleRequest()),
    )
    return LiveState(list(inbound.items), list(outbound.items), list(rules.items))


# --- what the file asks for ---------------------------------------------------------------------


def password_fingerprint(key: str, password: str) -> str:
    if not password:
        return ""
    digest = hmac.new(key.encode(), password.encode(), hashlib.sha256).hexdigest()
    return "v1:" + digest[:32]


def _marker(fingerprint: str) -> str:
    data: dict[str, str] = {"managed_by": MANAGED_BY}
    if fingerprint:
        data["auth_fp"] = fingerprint
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _parse_marker(metadata: str) -> dict[str, Any] | None:
    try:
        data = json.loads(metadata) if metadata else None
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def is_managed(metadata: str) -> bool:
    m = _parse_marker(metadata)
    return bool(m and m.get("managed_by") == MANAGED_BY)


@dataclass
class Desired:
    config: SipConfig
    secrets: dict[str, str]
    fingerprint_key: str
    default_agent: str

    def password(self, trunk: InboundTrunk | OutboundTrunk) -> str:
        return self.secrets[trunk.auth.password_env] if trunk.auth else ""

    def inbound(self, t: InboundTrunk) -> api.SIPInboundTrunkInfo:
        pw = self.password(t)
        return api.SIPInboundTrunkInfo(
            name=t.name,
            numbers=t.numbers,
            allowed_addresses=t.allowed_addresses,
            allowed_numbers=t.allowed_numbers,
            auth_username=t.auth.username if t.auth else "",
            auth_password=pw,
            metadata=_marker(password_fingerprint(self.fingerprint_key, pw)),
        )

    def outbound(self, t: OutboundTrunk) -> api.SIPOutboundTrunkInfo:
        pw = self.password(t)
        return api.SIPOutboundTrunkInfo(
            name=t.name,
            address=t.address,
            transport=TRANSPORTS[t.transport],  # type: ignore[arg-type]
            numbers=t.numbers,
            auth_username=t.auth.username if t.auth else "",
            auth_password=pw,
            metadata=_marker(password_fingerprint(self.fingerprint_key, pw)),
        )

    def agent_metadata(self, r: DispatchRule) -> str:
        return json.dumps(r.metadata, sort_keys=True, separators=(",", ":")) if r.metadata else ""

    def rule(self, r: DispatchRule, trunk_ids: list[str]) -> api.SIPDispatchRuleInfo:
        info = api.SIPDispatchRuleInfo(name=r.name, trunk_ids=trunk_ids)
        _set_rule_fields(info, self, r, trunk_ids)
        return info


def _set_rule_fields(
    info: api.SIPDispatchRuleInfo, desired: Desired, r: DispatchRule, trunk_ids: list[str]
) -> None:
    info.name = r.name
    del info.trunk_ids[:]
    info.trunk_ids.extend(trunk_ids)
    info.rule.CopyFrom(
        api.SIPDispatchRule(
            dispatch_rule_individual=api.SIPDispatchRuleIndividual(room_prefix=r.room_prefix)
        )
    )
    del info.room_config.agents[:]
    info.room_config.agents.append(
        api.RoomAgentDispatch(
            agent_name=r.agent_name or desired.default_agent,
            metadata=desired.agent_metadata(r),
        )
    )


# --- the plan -----------------------------------------------------------------------------------


@dataclass
class FieldChange:
    field: str
    old: str
    new: str


@dataclass
class Change:
    action: Action
    kind: Kind
    name: str
    id: str = ""
    fields: list[FieldChange] = field(default_factory=list)
    note: str = ""
    # What to send: the desired item (create) or the full replacement (update).
    payload: Any = None
    rule: DispatchRule | None = None

    def header(self) -> str:
        sign = {"create": "+", "update": "~", "delete": "-"}[self.action]
        ident = f" ({self.id})" if self.id else ""
        note = f"  [{self.note}]" if self.note else ""
        return f'{sign} {self.action} {self.kind} "{self.name}"{ident}{note}'


@dataclass
class Plan:
    changes: list[Change]
    prune: bool

    @property
    def to_apply(self) -> list[Change]:
        return [c for c in self.changes if c.action != "delete" or self.prune]

    @property
    def left_alone(self) -> list[Change]:
        return [c for c in self.changes if c.action == "delete" and not self.prune]

    def render(self) -> list[str]:
        lines: list[str] = []
        for c in self.changes:
            lines.append(c.header())
            if c.action == "delete" and not self.prune:
                lines.append("    not in sip.yaml; left alone (run with --prune to delete it)")
            for f in c.fields:
                if c.action == "create":
                    lines.append(f"    {f.field}: {f.new}")
                else:
                    lines.append(f"    {f.field}: {f.old} -> {f.new}")
        if not self.to_apply:
            if self.left_alone:
                lines.append(
                    f"nothing to change ({len(self.left_alone)} item(s) not in sip.yaml left "
                    "alone; --prune deletes them)"
                )
            else:
                lines.append("nothing to change: LiveKit matches sip.yaml")
        return lines

    def counts(self) -> dict[str, int]:
        out = {"create": 0, "update": 0, "delete": 0}
        for c in self.to_apply:
            out[c.action] += 1
        return out


def _show_list(values: Sequence[str]) -> str:
    return ", ".join(values) if values else "(none)"


def _show(value: str) -> str:
    return value if value else "(none)"


def _secret(value: bool) -> str:
    return SECRET_MASK if value else "(none)"


def _diff(name: str, old: Any, new: Any, show: Callable[[Any], str]) -> list[FieldChange]:
    return [] if old == new else [FieldChange(name, show(old), show(new))]


def _password_changed(
    live_password: str, live_metadata: str, desired_password: str, desired_fp: str
) -> bool:
    if live_password:  # this server shows passwords: compare them
        return live_password != desired_password
    live_fp = (_parse_marker(live_metadata) or {}).get("auth_fp", "")
    if not desired_password:
        return bool(live_fp)
    return bool(live_fp != desired_fp)


def _managed_changed(live_metadata: str, desired_metadata: str) -> list[FieldChange]:
    """Our marker (without the fingerprint, which `auth_password` covers)."""
    live = _parse_marker(live_metadata) or {}
    if live.get("managed_by") == MANAGED_BY:
        return []
    return [FieldChange("metadata", _show(live_metadata[:60]), "managed by callcrew")]


def _auth_fields(
    live_user: str,
    live_pw: str,
    live_meta: str,
    want_user: str,
    want_pw: str,
    want_meta: str,
) -> list[FieldChange]:
    out = _diff("auth_username", live_user, want_user, _show)
    want_fp = (_parse_marker(want_meta) or {}).get("auth_fp", "")
    if _password_changed(live_pw, live_meta, want_pw, want_fp):
        live_has = bool(live_pw) or bool((_parse_marker(live_meta) or {}).get("auth_fp"))
        out.append(FieldChange("auth_password", _secret(live_has), _secret(bool(want_pw))))
    return out + _managed_changed(live_meta, want_meta)


def _inbound_fields(
    live: api.SIPInboundTrunkInfo | None, want: api.SIPInboundTrunkInfo
) -> list[FieldChange]:
    old = live or api.SIPInboundTrunkInfo()
    out = _diff("numbers", sorted(old.numbers), sorted(want.numbers), _show_list)
    out += _diff(
        "allowed_addresses",
        sorted(old.allowed_addresses),
        sorted(want.allowed_addresses),
        _show_list,
    )
    out += _diff(
        "allowed_numbers", sorted(old.allowed_numbers), sorted(want.allowed_numbers), _show_list
    )
    if live is None:
        if want.auth_username:
            out.append(FieldChange("auth_username", "", want.auth_username))
            out.append(FieldChange("auth_password", "", SECRET_MASK))
        return out
    return out + _auth_fields(
        old.auth_username,
        old.auth_password,
        old.metadata,
        want.auth_username,
        want.auth_password,
        want.metadata,
    )


def _outbound_fields(
    live: api.SIPOutboundTrunkInfo | None, want: api.SIPOutboundTrunkInfo
) -> list[FieldChange]:
    old = live or api.SIPOutboundTrunkInfo()
    out = _diff("address", old.address, want.address, _show)
    if live is None or old.transport != want.transport:
        out.append(
            FieldChange(
                "transport",
                TRANSPORT_NAMES.get(old.transport, str(old.transport)),
                TRANSPORT_NAMES.get(want.transport, str(want.transport)),
            )
        )
    out += _diff("numbers", sorted(old.numbers), sorted(want.numbers), _show_list)
    if live is None:
        if want.auth_username:
            out.append(FieldChange("auth_username", "", want.auth_username))
            out.append(FieldChange("auth_password", "", SECRET_MASK))
        return out
    return out + _auth_fields(
        old.auth_username,
        old.auth_password,
        old.metadata,
        want.auth_username,
        want.auth_password,
        want.metadata,
    )


def describe_rule(rule: api.SIPDispatchRule) -> str:
    kind = rule.WhichOneof("rule")
    if kind == "dispatch_rule_individual":
        r = rule.dispatch_rule_individual
        extra = (", pin" if r.pin else "") + (", no randomness" if r.no_randomness else "")
        return f"individual room per call, prefix {r.room_prefix or '(none)'}{extra}"
    if kind == "dispatch_rule_direct":
        d = rule.dispatch_rule_direct
        return f"direct to room {d.room_name}" + (", pin" if d.pin else "")
    if kind == "dispatch_rule_callee":
        c = rule.dispatch_rule_callee
        return f"room per callee number, prefix {c.room_prefix or '(none)'}" + (
            ", randomized" if c.randomize else ""
        )
    return "(no rule)"


def _agents(info: api.SIPDispatchRuleInfo) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for a in info.room_config.agents:
        try:
            meta: Any = json.loads(a.metadata) if a.metadata else {}
        except json.JSONDecodeError:
            meta = a.metadata
        out.append((a.agent_name, meta))
    return out


def _rule_fields(
    live: api.SIPDispatchRuleInfo | None,
    want: api.SIPDispatchRuleInfo,
    live_trunks: list[str],
    want_trunks: list[str],
) -> list[FieldChange]:
    old = live or api.SIPDispatchRuleInfo()
    out = _diff("trunks", sorted(live_trunks), sorted(want_trunks), _show_list)
    out += _diff(
        "rule",
        describe_rule(old.rule) if live else "",
        describe_rule(want.rule),
        _show,
    )
    old_agents, want_agents = _agents(old), _agents(want)
    if len(old_agents) <= 1 and len(want_agents) == 1:
        old_name, old_meta = old_agents[0] if old_agents else ("", {})
        new_name, new_meta = want_agents[0]
        out += _diff("agent_name", old_name, new_name, _show)
        out += _diff(
            "metadata",
            old_meta,
            new_meta,
            lambda m: json.dumps(m, sort_keys=True) if m not in ({}, "") else "(none)",
        )
    elif old_agents != want_agents:
        out.append(FieldChange("agents", str(old_agents), str(want_agents)))
    return out


def _match(items: Sequence[Any], name: str) -> tuple[Any, list[Any]]:
    same = [i for i in items if i.name == name]
    return (same[0] if same else None), same[1:]


def _plan_trunks(
    kind: Kind,
    wanted: Sequence[InboundTrunk] | Sequence[OutboundTrunk],
    live_items: Sequence[Any],
    build: Callable[[Any], Any],
    fields: Callable[[Any, Any], list[FieldChange]],
) -> tuple[list[Change], list[Change]]:
    changes: list[Change] = []
    stale: list[Change] = []
    wanted_names = {item.name for item in wanted}
    for item in wanted:
        want = build(item)
        have, dupes = _match(live_items, item.name)
        stale += [
            Change("delete", kind, d.name, d.sip_trunk_id, note="duplicate name") for d in dupes
        ]
        if have is None:
            changes.append(
                Change("create", kind, item.name, fields=fields(None, want), payload=want)
            )
            continue
        diff = fields(have, want)
        if diff:
            replacement = type(have)()
            replacement.CopyFrom(have)
            _overwrite_trunk(replacement, want)
            changes.append(
                Change(
                    "update", kind, item.name, have.sip_trunk_id, fields=diff, payload=replacement
                )
            )
    for t in live_items:
        if t.name not in wanted_names:
            stale.append(Change("delete", kind, t.name or "(unnamed)", t.sip_trunk_id))
    return changes, stale


def make_plan(config: SipConfig, desired: Desired, live: LiveState, *, prune: bool = False) -> Plan:
    changes: list[Change] = []
    names = live.trunk_names()

    stale_rules: list[Change] = []
    changes_in, stale_in = _plan_trunks(
        "inbound trunk", config.inbound_trunks, live.inbound, desired.inbound, _inbound_fields
    )
    changes_out, stale_out = _plan_trunks(
        "outbound trunk", config.outbound_trunks, live.outbound, desired.outbound, _outbound_fields
    )
    changes += changes_in + changes_out
    stale_trunks = stale_in + stale_out

    wanted_rules = set()
    for r in config.dispatch_rules:
        wanted_rules.add(r.name)
        want = desired.rule(r, [])
        have, dupes = _match(live.rules, r.name)
        for d in dupes:
            stale_rules.append(
                Change(
                    "delete", "dispatch rule", d.name, d.sip_dispatch_rule_id, note="duplicate name"
                )
            )
        live_trunks = [names.get(i, i) for i in have.trunk_ids] if have is not None else []
        diff = _rule_fields(have, want, live_trunks, list(r.trunks))
        if have is None:
            changes.append(Change("create", "dispatch rule", r.name, fields=diff, rule=r))
        elif diff:
            replacement = api.SIPDispatchRuleInfo()
            replacement.CopyFrom(have)
            changes.append(
                Change(
                    "update",
                    "dispatch rule",
                    r.name,
                    have.sip_dispatch_rule_id,
                    fields=diff,
                    payload=replacement,
                    rule=r,
                )
            )
    for rule in live.rules:
        if rule.name not in wanted_rules:
            stale_rules.append(
                Change(
                    "delete", "dispatch rule", rule.name or "(unnamed)", rule.sip_dispatch_rule_id
                )
            )
    return Plan(changes + stale_rules + stale_trunks, prune)


def _overwrite_trunk(target: Any, want: Any) -> None:
    """Set the fields sip.yaml manages on a copy of LiveKit's trunk; leave the rest as it is."""
    for name in ("name", "auth_username", "auth_password", "metadata"):
        setattr(target, name, getattr(want, name))
    for name in ("numbers", "allowed_addresses", "allowed_numbers"):
        if hasattr(target, name):
            lst = getattr(target, name)
            del lst[:]
            lst.extend(getattr(want, name))
    if isinstance(target, api.SIPOutboundTrunkInfo):
        target.address = want.address
        target.transport = want.transport


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
            _set_rule_fields(replacement, desired, c.rule, ids)
            await lk.sip.update_dispatch_rule(c.id, replacement)
            echo(f'updated dispatch rule "{c.name}" ({c.id})')


def desired_state(config: SipConfig, secrets: dict[str, str], settings: Settings) -> Desired:
    return Desired(
        config=config,
        secrets=secrets,
        fingerprint_key=settings.livekit_secret(),
        default_agent=settings.agent_name,
    )


# --- the commands ------------------------------------------------------------------------------

sip_app = typer.Typer(
    help="SIP trunks and dispatch rules: make LiveKit match sip.yaml, or show what it has.",
    no_args_is_help=True,
)


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(mask_urls(message), err=True)
    return typer.Exit(code)


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
            raise _fail("--state plans against a saved state: use it with --dry-run", 2)
        sip_state.offline_dry_run(file, state, prune=prune)
        return
    # Every problem (settings, sip.yaml, its secrets, LiveKit's settings) in one run.
    checked = sip_state.check(file, None)
    problems = checked.problems + checked.livekit_problems
    if problems:
        raise _fail("\n".join(problems), 2)
    settings, config = checked.settings, checked.config
    assert settings is not None and config is not None
    desired = desired_state(config, checked.secrets, settings)
    try:
        asyncio.run(_apply_async(settings, config, desired, dry_run=dry_run, prune=prune))
    except LiveKitError as exc:
        raise _fail(str(exc), 1) from None
    except api.ServerError as exc:
        raise _fail(f"LiveKit error: {server_error_text(exc)}", 1) from None


def _auth_text(username: str, password: str, metadata: str) -> str:
    has_pw = bool(password) or bool((_parse_marker(metadata) or {}).get("auth_fp"))
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
        raise _fail(str(exc), 2) from None
    try:
        live = asyncio.run(_list_async(settings))
    except LiveKitError as exc:
        raise _fail(str(exc), 1) from None
    except api.ServerError as exc:
        raise _fail(f"LiveKit error: {server_error_text(exc)}", 1) from None
    data = state_as_dict(live)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        _print_tables(data)
