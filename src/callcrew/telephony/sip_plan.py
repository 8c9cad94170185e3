"""The plan of `sip apply`: field-by-field differences between sip.yaml and LiveKit, as changes."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from livekit import api

from callcrew.telephony.sip_desired import (
    MANAGED_BY,
    SECRET_MASK,
    TRANSPORT_NAMES,
    Desired,
    LiveState,
    parse_marker,
)
from callcrew.telephony.sip_models import DispatchRule, InboundTrunk, OutboundTrunk, SipConfig

Kind = Literal["inbound trunk", "outbound trunk", "dispatch rule"]
Action = Literal["create", "update", "delete"]


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
    live_fp = (parse_marker(live_metadata) or {}).get("auth_fp", "")
    if not desired_password:
        return bool(live_fp)
    return bool(live_fp != desired_fp)


def _managed_changed(live_metadata: str, desired_metadata: str) -> list[FieldChange]:
    """Our marker (without the fingerprint, which `auth_password` covers)."""
    live = parse_marker(live_metadata) or {}
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
    want_fp = (parse_marker(want_meta) or {}).get("auth_fp", "")
    if _password_changed(live_pw, live_meta, want_pw, want_fp):
        live_has = bool(live_pw) or bool((parse_marker(live_meta) or {}).get("auth_fp"))
        out.append(FieldChange("auth_password", _secret(live_has), _secret(bool(want_pw))))
    return out + _managed_changed(live_meta, want_meta)


def _trunk_auth(
    live: api.SIPInboundTrunkInfo | api.SIPOutboundTrunkInfo | None,
    want: api.SIPInboundTrunkInfo | api.SIPOutboundTrunkInfo,
) -> list[FieldChange]:
    """A trunk's auth changes; a new trunk shows its user name and a masked password."""
    if live is None:
        if not want.auth_username:
            return []
        return [
            FieldChange("auth_username", "", want.auth_username),
            FieldChange("auth_password", "", SECRET_MASK),
        ]
    return _auth_fields(
        live.auth_username,
        live.auth_password,
        live.metadata,
        want.auth_username,
        want.auth_password,
        want.metadata,
    )


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
    return out + _trunk_auth(live, want)


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
    return out + _trunk_auth(live, want)


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
