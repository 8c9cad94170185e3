"""Both sides of `sip apply`: what LiveKit has (`LiveState`) and what sip.yaml asks for (`Desired`).

Each managed trunk carries a marker in its metadata: who manages it and a keyed fingerprint of its
password (HMAC-SHA256 with the API secret), so a changed password is noticed without reading it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from livekit import api

from callcrew.settings import Settings
from callcrew.telephony.sip_models import DispatchRule, InboundTrunk, OutboundTrunk, SipConfig

MANAGED_BY = "callcrew"
SECRET_MASK = "****"

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


def parse_marker(metadata: str) -> dict[str, Any] | None:
    try:
        data = json.loads(metadata) if metadata else None
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def is_managed(metadata: str) -> bool:
    m = parse_marker(metadata)
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
        set_rule_fields(info, self, r, trunk_ids)
        return info


def set_rule_fields(
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


def desired_state(config: SipConfig, secrets: dict[str, str], settings: Settings) -> Desired:
    return Desired(
        config=config,
        secrets=secrets,
        fingerprint_key=settings.livekit_secret(),
        default_agent=settings.agent_name,
    )
